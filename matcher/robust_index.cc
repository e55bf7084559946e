#include "matcher/robust_index.h"

#include <algorithm>
#include <bit>
#include <optional>
#include <utility>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {
namespace {

// The three descriptor bytes kept in each posting as a prefilter: outside every key (tables use bytes 0..26).
constexpr size_t kCheckByte = 29;
static_assert(3 * RobustIndex::kMaxTables <= kCheckByte);
// A posting's check bits may differ from the query's in at most this many of 24 bits: a true correspondence
// (about 12 % of bits differ) passes with probability ~0.85, a chance key collision (50 %) with ~0.0008. At
// 1 M banked, 6 let so many chance votes through that weak true candidates fell out of the shortlist (search
// recall 98.0 % against 99.0 % with 4; docs/matching.md).
constexpr int kMaxCheckDistance = 4;
// A full bucket grows by 1/kGrowthDivisor of its size (plus 4 postings) on an in-place insert.
constexpr size_t kGrowthDivisor = 8;

uint8_t DescriptorByte(const std::array<uint64_t, 4>& d, size_t byte) {
  return static_cast<uint8_t>((d[byte / 8] >> (8 * (byte % 8))) & 0xFF);
}

uint32_t Check(const std::array<uint64_t, 4>& d) {
  return uint32_t{DescriptorByte(d, kCheckByte)} | (uint32_t{DescriptorByte(d, kCheckByte + 1)} << 8) |
         (uint32_t{DescriptorByte(d, kCheckByte + 2)} << 16);
}

}  // namespace

RobustIndex::RobustIndex(int tables, Loader loader)
    : tables_(std::clamp(tables, 1, kMaxTables)),
      loader_(std::move(loader)),
      buckets_(static_cast<size_t>(tables_) * kBuckets) {}

uint64_t RobustIndex::Entry(uint32_t key, uint32_t check, uint32_t id) {
  return (uint64_t{key & 0xFF} << 56) | (uint64_t{check & 0xFFFFFF} << 32) | id;
}

uint32_t RobustIndex::Key(const LocalFeature& f, int table) {
  uint32_t key = 0;
  for (int i = 0; i < 3; ++i) key = (key << 8) | DescriptorByte(f.descriptor, static_cast<size_t>(3 * table + i));
  return key;
}

template <typename Fn>
size_t RobustIndex::ForEachPosting(const std::vector<LocalFeature>& features, uint32_t id, Fn&& fn) {
  size_t changed = 0;
  for (size_t j = 0; j < features.size(); ++j) {
    const LocalFeature& f = features[j];
    for (int t = 0; t < tables_; ++t) {
      const uint32_t key = Key(f, t);
      changed += fn(buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)], Entry(key, Check(f.descriptor), id));
    }
  }
  return changed;
}

absl::Status RobustIndex::Insert(uint64_t id, std::span<const LocalFeature> salted, bool bulk) {
  absl::StatusOr<std::string> encoded = EncodeRobust(salted);
  if (!encoded.ok()) return encoded.status();
  return InsertEncoded(id, *encoded, bulk);
}

absl::Status RobustIndex::InsertEncoded(uint64_t id, std::string_view encoded, bool bulk) {
  if (id > UINT32_MAX) return absl::InvalidArgumentError(absl::StrCat("robust index id ", id, " is over 2^32 - 1"));
  // Keys from the decoded encoding, so what is posted is exactly what is stored.
  absl::StatusOr<std::vector<LocalFeature>> stored = DecodeRobust(encoded);
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&mu_);
  if (id < present_.size() && present_[id]) {
    return absl::AlreadyExistsError(absl::StrCat("robust index id ", id, " exists"));
  }
  if (id >= present_.size()) present_.resize(std::max<size_t>(id + 1, present_.size() * 3 / 2));
  postings_ += ForEachPosting(*stored, static_cast<uint32_t>(id), [bulk](std::vector<uint64_t>& bucket, uint64_t entry) {
    if (bulk) {
      bucket.push_back(entry);
    } else {
      // Growth by an eighth, not the vector's doubling: the postings are most of the index's memory, and an
      // insert already moves half its bucket (the copy on growth is small beside that).
      if (bucket.size() == bucket.capacity()) bucket.reserve(bucket.size() + bucket.size() / kGrowthDivisor + 4);
      bucket.insert(std::upper_bound(bucket.begin(), bucket.end(), entry), entry);
    }
    return true;
  });
  present_[id] = true;
  if (!loader_) {
    if (id >= by_id_.size()) by_id_.resize(present_.size());
    by_id_[id] = std::string(encoded);
  }
  ++count_;
  return absl::OkStatus();
}

void RobustIndex::FinishBulk() {
  absl::MutexLock lock(&mu_);
  for (std::vector<uint64_t>& bucket : buckets_) {
    std::sort(bucket.begin(), bucket.end());
    bucket.shrink_to_fit();  // a bulk load's doubling left up to half of each bucket unused
  }
#ifdef __GLIBC__
  // The buckets' old, larger arrays are free now but scattered through the heap: hand their pages back, or
  // the process stays as large as at the load's peak.
  malloc_trim(0);
#endif
}

void RobustIndex::Remove(uint64_t id, std::string_view encoded) {
  absl::MutexLock lock(&mu_);
  if (id >= present_.size() || !present_[id]) return;
  const bool kept = id < by_id_.size() && !by_id_[id].empty();
  absl::StatusOr<std::vector<LocalFeature>> stored =
      DecodeRobust(kept ? std::string_view(by_id_[id]) : encoded);
  if (stored.ok()) {
    postings_ -= ForEachPosting(*stored, static_cast<uint32_t>(id), [](std::vector<uint64_t>& bucket, uint64_t entry) {
      auto pos = std::lower_bound(bucket.begin(), bucket.end(), entry);
      if (pos == bucket.end() || *pos != entry) return false;
      bucket.erase(pos);
      return true;
    });
  }
  // Without its features (a loader index's caller passed none) the postings stay, dead: the vote skips ids
  // that are not present.
  if (kept) std::string().swap(by_id_[id]);
  present_[id] = false;
  --count_;
}

std::vector<std::pair<uint64_t, int>> RobustIndex::CandidatesLocked(std::span<const LocalFeature> query,
                                                                    size_t max_candidates) const {
  // A key shared by far more features than chance predicts belongs to a common pattern (flat patches, edges)
  // and says nothing about which image this is: such runs cast no votes.
  const size_t expected = postings_ / (static_cast<size_t>(tables_) << 24);
  const size_t max_run = std::max<size_t>(kMinRunCap, kRunCapFactor * expected);
  // The keys of kGroupFeatures query features are searched together: each bucket is a cache miss or two
  // away, and each step of a binary search inside it another, so every lookup of the group takes one step per
  // round and prefetches where its next step reads (the rounds overlap the misses instead of waiting for each).
  constexpr size_t kGroupFeatures = 8;
  struct Lookup {
    const std::vector<uint64_t>* bucket;
    const uint64_t* base;  // the binary search's range: [base, base + left)
    size_t left;
    uint64_t lo;  // the key's first possible posting
    uint32_t feature;
  };
  std::vector<Lookup> lookups;
  struct Tally {
    int votes = 0;
    float score = 0;  // each vote's share: 1 / the fingerprints its query feature votes for (robust_index.h)
  };
  absl::flat_hash_map<uint32_t, Tally> votes;
  std::vector<uint32_t> seen;  // one query feature's fingerprints: one vote each
  auto count = [&]() {
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const float share = seen.empty() ? 0.0f : 1.0f / static_cast<float>(seen.size());
    for (uint32_t id : seen) {
      Tally& t = votes[id];
      ++t.votes;
      t.score += share;
    }
    seen.clear();
  };
  for (size_t next = 0; next < query.size();) {
    lookups.clear();
    for (const size_t group_end = std::min(query.size(), next + kGroupFeatures); next < group_end; ++next) {
      const LocalFeature& f = query[next];
      for (int t = 0; t < tables_; ++t) {
        const uint32_t key = Key(f, t);
        const std::vector<uint64_t>* bucket = &buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)];
        __builtin_prefetch(bucket);
        lookups.push_back({bucket, nullptr, 0, Entry(key, 0, 0), static_cast<uint32_t>(next)});
      }
    }
    for (Lookup& l : lookups) {
      l.base = l.bucket->data();
      l.left = l.bucket->size();
      if (l.left > 0) __builtin_prefetch(l.base + l.left / 2);
    }
    // Branch-free lower bound: `base` moves up while base[half] < lo; it ends on the first posting >= lo, or
    // on the last one below it (fixed below).
    for (bool active = true; active;) {
      active = false;
      for (Lookup& l : lookups) {
        if (l.left <= 1) continue;
        const size_t half = l.left / 2;
        l.base = l.base[half] < l.lo ? l.base + half : l.base;
        l.left -= half;
        if (l.left > 1) {
          __builtin_prefetch(l.base + l.left / 2);
          active = true;
        }
      }
    }
    // Lookups are in feature order (a group's features, each with its tables), so one feature's votes are
    // counted together.
    for (size_t k = 0; k < lookups.size(); ++k) {
      const Lookup& l = lookups[k];
      if (k > 0 && l.feature != lookups[k - 1].feature) count();
      if (l.left == 0) continue;  // an empty bucket
      const uint64_t* first = l.base + (*l.base < l.lo ? 1 : 0);
      const uint64_t* end = l.bucket->data() + l.bucket->size();
      const uint64_t hi = l.lo | ((uint64_t{1} << 56) - 1);
      const uint64_t* last = first;
      while (last != end && *last <= hi && static_cast<size_t>(last - first) <= max_run) ++last;
      if (static_cast<size_t>(last - first) > max_run) continue;
      const uint32_t check = Check(query[l.feature].descriptor);
      for (const uint64_t* it = first; it != last; ++it) {
        // A shared key is a hint; the vote also needs the posting's 24 check bits close to the query's.
        if (std::popcount(static_cast<uint32_t>((*it >> 32) ^ check) & 0xFFFFFFu) > kMaxCheckDistance) continue;
        const auto id = static_cast<uint32_t>(*it);
        // Removed without its features (Remove): its postings stay, and vote for nothing.
        if (id >= present_.size() || !present_[id]) continue;
        seen.push_back(id);
      }
    }
    count();  // a group ends with a whole feature
  }
  std::vector<std::pair<float, std::pair<uint64_t, int>>> ranked;
  for (const auto& [id, t] : votes) {
    if (t.votes >= kMinVotes) ranked.push_back({t.score, {id, t.votes}});
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second.first < b.second.first;
  });
  std::vector<std::pair<uint64_t, int>> out;
  for (const auto& r : ranked) out.push_back(r.second);
  if (out.size() > max_candidates) out.resize(max_candidates);
  return out;
}

std::vector<std::pair<uint64_t, int>> RobustIndex::Candidates(std::span<const LocalFeature> query,
                                                              size_t max_candidates) const {
  absl::ReaderMutexLock lock(&mu_);
  return CandidatesLocked(query, max_candidates);
}

std::optional<RobustFingerprint> RobustIndex::Load(uint64_t id) const {
  std::string encoded;
  if (loader_) {
    absl::StatusOr<std::string> loaded = loader_(id);
    if (!loaded.ok()) return std::nullopt;  // gone meanwhile (removed, purged), or unreadable
    encoded = *std::move(loaded);
  } else {
    absl::ReaderMutexLock lock(&mu_);
    if (id >= by_id_.size() || by_id_[id].empty()) return std::nullopt;  // removed since the vote
    encoded = by_id_[id];
  }
  if (encoded.empty()) return std::nullopt;
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(encoded);
  if (!fp.ok()) return std::nullopt;
  return *std::move(fp);
}

std::vector<RobustIndex::Hit> RobustIndex::Query(std::span<const LocalFeature> direct,
                                                 std::span<const LocalFeature> mirrored, const RobustParams& params,
                                                 size_t max_candidates) const {
  std::vector<std::pair<uint64_t, int>> shortlist[2];
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!direct.empty()) shortlist[0] = CandidatesLocked(direct, max_candidates);
    if (!mirrored.empty()) shortlist[1] = CandidatesLocked(mirrored, max_candidates);
  }
  // Verification outside the lock: a loader may read storage, and writers need not wait for it.
  absl::flat_hash_map<uint64_t, Hit> hits;
  absl::flat_hash_map<uint64_t, std::optional<RobustFingerprint>> loaded;  // both orientations may list an id
  for (int pass = 0; pass < 2; ++pass) {
    const std::span<const LocalFeature> query = pass == 0 ? direct : mirrored;
    for (const auto& [id, n] : shortlist[pass]) {
      auto [at, fresh] = loaded.try_emplace(id);
      if (fresh) at->second = Load(id);
      if (!at->second) continue;
      const RobustVerdict v = VerifyRobust(*at->second, query, params);
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

std::vector<RobustIndex::Hit> RobustIndex::QueryContaining(const RobustFingerprint& banked, const RobustParams& params,
                                                           size_t max_candidates) const {
  std::vector<Hit> out;
  if (banked.features.empty()) return out;
  std::vector<std::pair<uint64_t, int>> shortlist;
  {
    absl::ReaderMutexLock lock(&mu_);
    shortlist = CandidatesLocked(banked.features, max_candidates);
  }
  for (const auto& [id, n] : shortlist) {
    const std::optional<RobustFingerprint> stored = Load(id);
    if (!stored) continue;
    const RobustVerdict v = VerifyRobust(banked, stored->features, params);
    if (v.match) out.push_back({id, v, false, n});
  }
  std::sort(out.begin(), out.end(), [](const Hit& a, const Hit& b) {
    return a.verdict.inliers != b.verdict.inliers ? a.verdict.inliers > b.verdict.inliers : a.id < b.id;
  });
  return out;
}

size_t RobustIndex::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return count_;
}

size_t RobustIndex::MemoryBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  size_t bytes = buckets_.capacity() * sizeof(std::vector<uint64_t>);
  for (const auto& b : buckets_) bytes += b.capacity() * sizeof(uint64_t);
  bytes += present_.capacity() / 8;
  bytes += by_id_.capacity() * sizeof(std::string);
  for (const std::string& s : by_id_) {
    if (s.capacity() > 15) bytes += s.capacity() + 1;  // beyond the small-string buffer
  }
  return bytes;
}

}  // namespace hashbank
