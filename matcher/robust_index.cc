#include "matcher/robust_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {
namespace {

// The two descriptor bytes kept in each posting as a prefilter: outside every key (tables use bytes 0..29).
constexpr size_t kCheckByte = 30;
static_assert(3 * RobustIndex::kMaxTables <= kCheckByte);
// A posting's check bits may differ from the query's in at most this many of 16 bits: a true correspondence
// (about 12 % of bits differ) passes with probability ~0.97, a chance key collision (50 %) with ~0.04.
constexpr int kMaxCheckDistance = 4;
// A full bucket grows by 1/kGrowthDivisor of its size (plus 4 postings) on an in-place insert.
constexpr size_t kGrowthDivisor = 8;

uint8_t DescriptorByte(const std::array<uint64_t, 4>& d, size_t byte) {
  return static_cast<uint8_t>((d[byte / 8] >> (8 * (byte % 8))) & 0xFF);
}

uint16_t Check(const std::array<uint64_t, 4>& d) {
  return static_cast<uint16_t>(DescriptorByte(d, kCheckByte) | (DescriptorByte(d, kCheckByte + 1) << 8));
}

// Where feature j's descriptor starts in an encoded fingerprint; null when the encoding is shorter.
const char* DescriptorAt(const std::string& encoded, uint32_t j) {
  const size_t at = kRobustHeaderBytes + kRobustFeatureBytes * j;
  return encoded.size() < at + kRobustFeatureBytes ? nullptr : encoded.data() + at + 2;
}

// Hamming distance between a stored descriptor (DescriptorAt) and a query's.
int DescriptorDistance(const char* stored, const std::array<uint64_t, 4>& d) {
  const auto* p = reinterpret_cast<const uint8_t*>(stored);
  int distance = 0;
  for (size_t limb = 0; limb < 4; ++limb) {
    uint64_t v;
    std::memcpy(&v, p + 8 * limb, 8);  // little-endian, as the encoding is (robust_fingerprint.h)
    distance += std::popcount(v ^ d[limb]);
  }
  return distance;
}

}  // namespace

RobustIndex::RobustIndex(int tables)
    : tables_(std::clamp(tables, 1, kMaxTables)), buckets_(static_cast<size_t>(tables_) * kBuckets) {}

uint64_t RobustIndex::Entry(uint32_t key, uint16_t check, size_t feature, uint32_t id) {
  return (uint64_t{key & 0xFF} << 56) | (uint64_t{check} << 40) | (uint64_t{feature & 0xFF} << 32) | id;
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
      changed += fn(buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)], Entry(key, Check(f.descriptor), j, id));
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
  if (id < by_id_.size() && !by_id_[id].empty()) {
    return absl::AlreadyExistsError(absl::StrCat("robust index id ", id, " exists"));
  }
  if (id >= by_id_.size()) by_id_.resize(std::max<size_t>(id + 1, by_id_.size() * 3 / 2));
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
  by_id_[id] = std::string(encoded);
  fingerprint_bytes_ += encoded.size();
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

void RobustIndex::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (id >= by_id_.size() || by_id_[id].empty()) return;
  absl::StatusOr<std::vector<LocalFeature>> stored = DecodeRobust(by_id_[id]);
  if (stored.ok()) {
    postings_ -= ForEachPosting(*stored, static_cast<uint32_t>(id), [](std::vector<uint64_t>& bucket, uint64_t entry) {
      auto pos = std::lower_bound(bucket.begin(), bucket.end(), entry);
      if (pos == bucket.end() || *pos != entry) return false;
      bucket.erase(pos);
      return true;
    });
  }
  fingerprint_bytes_ -= by_id_[id].size();
  std::string().swap(by_id_[id]);
  --count_;
}

std::vector<std::pair<uint64_t, int>> RobustIndex::CandidatesLocked(std::span<const LocalFeature> query,
                                                                    size_t max_candidates, int max_distance) const {
  // A key shared by far more features than chance predicts belongs to a common pattern (flat patches, edges)
  // and says nothing about which image this is: such runs cast no votes.
  const size_t expected = postings_ / (static_cast<size_t>(tables_) << 24);
  const size_t max_run = std::max<size_t>(kMinRunCap, kRunCapFactor * expected);
  // In chunks of query features: first the postings that share a key and pass the check bits (probes, in
  // feature order; the keys of kGroupFeatures features are searched together, below), then their stored
  // descriptors, each read a few probes after it is prefetched. Both are cache misses (into buckets and into
  // fingerprints spread over the heap), most of the search's time; issued one after another they would wait
  // for each other. A chunk ends after a group once it holds kChunk probes.
  struct Probe {
    uint32_t feature, id, j;
  };
  constexpr size_t kChunk = 4096;
  constexpr size_t kAhead = 16;  // descriptors prefetched this many probes ahead; their strings twice as far
  constexpr size_t kGroupFeatures = 8;  // features whose bucket searches run together
  struct Lookup {
    const std::vector<uint64_t>* bucket;
    const uint64_t* base;  // the binary search's range: [base, base + left)
    size_t left;
    uint64_t lo;  // the key's first possible posting
    uint32_t feature;
  };
  std::vector<Lookup> lookups;
  absl::flat_hash_map<uint32_t, int> votes;
  std::vector<uint32_t> seen;  // one query feature's fingerprints: one vote each
  auto count = [&]() {
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (uint32_t id : seen) ++votes[id];
    seen.clear();
  };
  std::vector<Probe> probes;
  for (size_t next = 0; next < query.size();) {
    probes.clear();
    while (next < query.size() && probes.size() < kChunk) {
      // A group of features' keys, looked up together: each bucket is a cache miss or two away, and each
      // step of a binary search inside it another, so every lookup of the group takes one step per round and
      // prefetches where its next step reads (the rounds overlap the misses instead of waiting for each).
      lookups.clear();
      for (const size_t group_end = std::min(query.size(), next + kGroupFeatures); next < group_end; ++next) {
        const LocalFeature& f = query[next];
        for (int t = 0; t < tables_; ++t) {
          const uint32_t key = Key(f, t);
          const std::vector<uint64_t>* bucket = &buckets_[static_cast<size_t>(t) * kBuckets + (key >> 8)];
          __builtin_prefetch(bucket);
          lookups.push_back({bucket, nullptr, 0, Entry(key, 0, 0, 0), static_cast<uint32_t>(next)});
        }
      }
      for (Lookup& l : lookups) {
        l.base = l.bucket->data();
        l.left = l.bucket->size();
        if (l.left > 0) __builtin_prefetch(l.base + l.left / 2);
      }
      // Branch-free lower bound: `base` moves up while base[half] < lo; it ends on the first posting >= lo,
      // or on the last one below it (fixed below).
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
      for (const Lookup& l : lookups) {
        if (l.left == 0) continue;  // an empty bucket
        const uint64_t* first = l.base + (*l.base < l.lo ? 1 : 0);
        const uint64_t* end = l.bucket->data() + l.bucket->size();
        const uint64_t hi = l.lo | ((uint64_t{1} << 56) - 1);
        const uint64_t* last = first;
        while (last != end && *last <= hi && static_cast<size_t>(last - first) <= max_run) ++last;
        if (static_cast<size_t>(last - first) > max_run) continue;
        const uint16_t check = Check(query[l.feature].descriptor);
        for (const uint64_t* it = first; it != last; ++it) {
          // A shared key is a hint; the vote needs the whole descriptor within the verification's distance
          // (the posting's 16 check bits first, which spares most lookups of the stored fingerprint).
          if (std::popcount(static_cast<uint16_t>((*it >> 40) ^ check)) > kMaxCheckDistance) continue;
          const auto id = static_cast<uint32_t>(*it);
          // A posting always has its fingerprint (Remove erases both); this and DescriptorAt's size check
          // keep a broken caller contract (a Remove during an unsorted bulk load) from reading past it.
          if (id >= by_id_.size()) continue;
          probes.push_back({l.feature, id, static_cast<uint32_t>((*it >> 32) & 0xFF)});
        }
      }
    }
    for (size_t k = 0; k < probes.size(); ++k) {
      if (k + 2 * kAhead < probes.size()) __builtin_prefetch(&by_id_[probes[k + 2 * kAhead].id]);
      if (k + kAhead < probes.size()) {
        if (const char* d = DescriptorAt(by_id_[probes[k + kAhead].id], probes[k + kAhead].j); d != nullptr) {
          __builtin_prefetch(d);
          __builtin_prefetch(d + 31);
        }
      }
      const Probe& p = probes[k];
      if (k > 0 && p.feature != probes[k - 1].feature) count();
      const char* stored = DescriptorAt(by_id_[p.id], p.j);
      if (stored != nullptr && DescriptorDistance(stored, query[p.feature].descriptor) <= max_distance) {
        seen.push_back(p.id);
      }
    }
    count();  // a chunk ends with a whole feature
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
  return CandidatesLocked(query, max_candidates, RobustParams{}.max_distance);
}

std::vector<RobustIndex::Hit> RobustIndex::Query(std::span<const LocalFeature> direct,
                                                 std::span<const LocalFeature> mirrored, const RobustParams& params,
                                                 size_t max_candidates) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::flat_hash_map<uint64_t, Hit> hits;
  for (int pass = 0; pass < 2; ++pass) {
    const std::span<const LocalFeature> query = pass == 0 ? direct : mirrored;
    if (query.empty()) continue;
    for (const auto& [id, n] : CandidatesLocked(query, max_candidates, params.max_distance)) {
      absl::StatusOr<RobustFingerprint> banked = DecodeRobustFingerprint(by_id_[id]);
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

std::vector<RobustIndex::Hit> RobustIndex::QueryContaining(const RobustFingerprint& banked, const RobustParams& params,
                                                           size_t max_candidates) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Hit> out;
  if (banked.features.empty()) return out;
  for (const auto& [id, n] : CandidatesLocked(banked.features, max_candidates, params.max_distance)) {
    absl::StatusOr<RobustFingerprint> stored = DecodeRobustFingerprint(by_id_[id]);
    if (!stored.ok()) continue;
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
  bytes += by_id_.capacity() * sizeof(std::string);
  for (const std::string& s : by_id_) {
    if (s.capacity() > 15) bytes += s.capacity() + 1;  // beyond the small-string buffer
  }
  return bytes;
}

}  // namespace hashbank
