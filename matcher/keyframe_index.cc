#include "matcher/keyframe_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {

absl::Status KeyframeIndex::Insert(uint64_t video, std::span<const std::string> encoded, bool bulk) {
  if (encoded.empty()) return absl::OkStatus();
  if (encoded.size() > kMaxKeyframes) {
    return absl::InvalidArgumentError(absl::StrCat("video of ", encoded.size(), " keyframes; at most ", kMaxKeyframes));
  }
  // Every keyframe is checked before any is inserted (a bulk load cannot take postings back): a peer's entry
  // may carry anything its signature covers.
  for (size_t i = 0; i < encoded.size(); ++i) {
    absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(encoded[i]);
    if (!fp.ok()) return absl::InvalidArgumentError(absl::StrCat("video keyframe ", i, ": ", fp.status().message()));
    if (fp->features.size() < kMinRobustFeatures || fp->features.size() > kMaxRobustFeatures) {
      return absl::InvalidArgumentError(absl::StrCat("video keyframe ", i, ": ", fp->features.size(), " features; ",
                                                     kMinRobustFeatures, " to ", kMaxRobustFeatures, " are banked"));
    }
  }
  absl::MutexLock lock(&mu_);
  if (of_.contains(video)) return absl::AlreadyExistsError("video keyframes already indexed");
  const uint64_t first = owner_.size();
  for (size_t i = 0; i < encoded.size(); ++i) {
    // Decoded above: only an id beyond 2^32 can fail here. The keyframes inserted so far stay unowned.
    if (absl::Status s = index_.InsertEncoded(first + i, encoded[i], bulk); !s.ok()) {
      std::fill(owner_.begin() + static_cast<std::ptrdiff_t>(first), owner_.end(), UINT64_MAX);
      return absl::InvalidArgumentError(absl::StrCat("video keyframe ", i, ": ", s.message()));
    }
    owner_.push_back(video);
  }
  of_[video] = {first, static_cast<uint32_t>(encoded.size())};
  return absl::OkStatus();
}

void KeyframeIndex::FinishBulk() { index_.FinishBulk(); }

void KeyframeIndex::Remove(uint64_t video) {
  absl::MutexLock lock(&mu_);
  const auto it = of_.find(video);
  if (it == of_.end()) return;
  for (uint32_t i = 0; i < it->second.second; ++i) {
    index_.Remove(it->second.first + i);
    owner_[it->second.first + i] = UINT64_MAX;
  }
  of_.erase(it);
}

std::vector<KeyframeIndex::Hit> KeyframeIndex::Query(std::span<const VideoKeyframeQuery> salted) const {
  struct Found {
    std::vector<uint64_t> banked;  // keyframe ids verified
    std::vector<size_t> queries;   // query keyframes that verified one
    RobustIndex::Hit best;
  };
  absl::flat_hash_map<uint64_t, Found> by_video;
  for (size_t q = 0; q < salted.size(); ++q) {
    const std::vector<RobustIndex::Hit> hits = index_.Query(salted[q].direct, salted[q].mirrored);
    absl::ReaderMutexLock lock(&mu_);
    for (const RobustIndex::Hit& h : hits) {
      if (h.id >= owner_.size() || owner_[h.id] == UINT64_MAX) continue;  // removed meanwhile
      Found& f = by_video[owner_[h.id]];
      if (std::find(f.banked.begin(), f.banked.end(), h.id) == f.banked.end()) f.banked.push_back(h.id);
      if (f.queries.empty() || f.queries.back() != q) f.queries.push_back(q);
      if (h.verdict.inliers > f.best.verdict.inliers) f.best = h;
    }
  }
  std::vector<Hit> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [video, f] : by_video) {
    const auto it = of_.find(video);
    if (it == of_.end()) continue;
    const size_t needed = std::min<size_t>(2, it->second.second);
    if (f.banked.size() < needed || f.queries.size() < needed) continue;
    out.push_back({video, f.best, static_cast<int>(f.banked.size()), static_cast<int>(f.queries.size())});
  }
  std::sort(out.begin(), out.end(), [](const Hit& a, const Hit& b) {
    return a.keyframes != b.keyframes ? a.keyframes > b.keyframes : a.video < b.video;
  });
  return out;
}

size_t KeyframeIndex::videos() const {
  absl::ReaderMutexLock lock(&mu_);
  return of_.size();
}

size_t KeyframeIndex::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return index_.MemoryBytes() + owner_.capacity() * sizeof(uint64_t) +
         of_.capacity() * (sizeof(uint64_t) + sizeof(std::pair<uint64_t, uint32_t>));
}

}  // namespace hashbank
