#include "matcher/robust_index.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {

RobustIndex::RobustIndex() : buckets_(kTables * kBuckets) {}

uint32_t RobustIndex::Key(const LocalFeature& f, int table) {
  uint32_t key = 0;
  for (int i = 0; i < 3; ++i) {
    const int byte = 3 * table + i;
    key = (key << 8) | static_cast<uint32_t>((f.descriptor[static_cast<size_t>(byte / 8)] >> (8 * (byte % 8))) & 0xFF);
  }
  return key;
}

absl::Status RobustIndex::Insert(uint64_t id, std::span<const LocalFeature> salted, bool bulk) {
  absl::StatusOr<std::string> encoded = EncodeRobust(salted);
  if (!encoded.ok()) return encoded.status();
  return InsertEncoded(id, *encoded, bulk);
}

absl::Status RobustIndex::InsertEncoded(uint64_t id, std::string_view encoded_view, bool bulk) {
  if (id > UINT32_MAX) return absl::InvalidArgumentError(absl::StrCat("robust index id ", id, " is over 2^32 - 1"));
  // Keys from the decoded encoding, so what is posted is exactly what is stored.
  absl::StatusOr<std::vector<LocalFeature>> stored = DecodeRobust(encoded_view);
  if (!stored.ok()) return stored.status();
  std::optional<std::string> encoded(std::in_place, encoded_view);
  const auto id32 = static_cast<uint32_t>(id);
  absl::MutexLock lock(&mu_);
  if (fingerprints_.contains(id32)) return absl::AlreadyExistsError(absl::StrCat("robust index id ", id, " exists"));
  for (const LocalFeature& f : *stored) {
    for (int t = 0; t < kTables; ++t) {
      const uint32_t key = Key(f, t);
      std::vector<uint64_t>& bucket = buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)];
      const uint64_t entry = (uint64_t{key} << 32) | id32;
      if (bulk) {
        bucket.push_back(entry);
      } else {
        bucket.insert(std::upper_bound(bucket.begin(), bucket.end(), entry), entry);
      }
      ++postings_;
    }
  }
  fingerprint_bytes_ += encoded->size();
  fingerprints_.emplace(id32, *std::move(encoded));
  return absl::OkStatus();
}

void RobustIndex::FinishBulk() {
  absl::MutexLock lock(&mu_);
  for (std::vector<uint64_t>& bucket : buckets_) std::sort(bucket.begin(), bucket.end());
}

void RobustIndex::Remove(uint64_t id) {
  if (id > UINT32_MAX) return;
  const auto id32 = static_cast<uint32_t>(id);
  absl::MutexLock lock(&mu_);
  auto it = fingerprints_.find(id32);
  if (it == fingerprints_.end()) return;
  absl::StatusOr<std::vector<LocalFeature>> stored = DecodeRobust(it->second);
  if (stored.ok()) {
    for (const LocalFeature& f : *stored) {
      for (int t = 0; t < kTables; ++t) {
        const uint32_t key = Key(f, t);
        std::vector<uint64_t>& bucket = buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)];
        const uint64_t entry = (uint64_t{key} << 32) | id32;
        auto pos = std::lower_bound(bucket.begin(), bucket.end(), entry);
        if (pos != bucket.end() && *pos == entry) {
          bucket.erase(pos);
          --postings_;
        }
      }
    }
  }
  fingerprint_bytes_ -= it->second.size();
  fingerprints_.erase(it);
}

std::vector<std::pair<uint64_t, int>> RobustIndex::CandidatesLocked(std::span<const LocalFeature> query,
                                                                    size_t max_candidates) const {
  absl::flat_hash_map<uint32_t, int> votes;
  for (const LocalFeature& f : query) {
    for (int t = 0; t < kTables; ++t) {
      const uint32_t key = Key(f, t);
      const std::vector<uint64_t>& bucket = buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)];
      const uint64_t lo = uint64_t{key} << 32;
      for (auto it = std::lower_bound(bucket.begin(), bucket.end(), lo); it != bucket.end() && (*it >> 32) == key;
           ++it) {
        ++votes[static_cast<uint32_t>(*it)];
      }
    }
  }
  std::vector<std::pair<uint64_t, int>> out;
  for (const auto& [id, n] : votes) {
    if (n >= kMinVotes) out.emplace_back(id, n);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > max_candidates) out.resize(max_candidates);
  return out;
}

std::vector<std::pair<uint64_t, int>> RobustIndex::Candidates(std::span<const LocalFeature> query,
                                                              size_t max_candidates) const {
  absl::ReaderMutexLock lock(&mu_);
  return CandidatesLocked(query, max_candidates);
}

std::vector<RobustIndex::Hit> RobustIndex::Query(std::span<const LocalFeature> direct,
                                                 std::span<const LocalFeature> mirrored, const RobustParams& params,
                                                 size_t max_candidates) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::flat_hash_map<uint64_t, Hit> hits;
  for (int pass = 0; pass < 2; ++pass) {
    const std::span<const LocalFeature> query = pass == 0 ? direct : mirrored;
    if (query.empty()) continue;
    for (const auto& [id, n] : CandidatesLocked(query, max_candidates)) {
      auto it = fingerprints_.find(static_cast<uint32_t>(id));
      if (it == fingerprints_.end()) continue;
      absl::StatusOr<RobustFingerprint> banked = DecodeRobustFingerprint(it->second);
      if (!banked.ok()) continue;
      const RobustVerdict v = VerifyRobust(*banked, query, params);
      if (!v.match) continue;
      Hit& h = hits[id];
      if (v.inliers > h.verdict.inliers) h = {id, v, pass == 1, n};
    }
  }
  std::vector<Hit> out;
  for (auto& [id, h] : hits) out.push_back(h);
  std::sort(out.begin(), out.end(), [](const Hit& a, const Hit& b) {
    return a.verdict.inliers != b.verdict.inliers ? a.verdict.inliers > b.verdict.inliers : a.id < b.id;
  });
  return out;
}

size_t RobustIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return fingerprints_.size();
}

size_t RobustIndex::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  size_t bytes = buckets_.capacity() * sizeof(std::vector<uint64_t>);
  for (const auto& b : buckets_) bytes += b.capacity() * sizeof(uint64_t);
  bytes += fingerprints_.capacity() * (sizeof(uint32_t) + sizeof(std::string)) + fingerprint_bytes_;
  return bytes;
}

}  // namespace hashbank
