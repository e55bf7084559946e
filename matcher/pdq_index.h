// PdqIndex: exact radius search over 256-bit PDQ hashes — every stored hash within Hamming distance r of a
// query, with its exact distance (recall 1.0 by construction, not by tuning).
//
// Method: multi-index hashing with 16 segments of 16 bits. If two hashes differ in at most r bits, the
// cycle lemma gives a starting segment s whose running sums of per-segment distances, taken cyclically
// from s, stay within floor(l * r / 16) for every length l (proof in docs/matching.md). So the query
// probes, for each start s, the bucket values within floor(r/16) bits of its segment, checks l = 2 and 3
// against two segment values stored inside each bucket entry (rejecting almost every candidate without
// touching the full hash), then verifies the full distance. A match is reported only from the smallest
// start that satisfies the lemma, so results need no de-duplication set.
//
// Storage: per segment, one flat counting-sorted array of 8-byte entries (slot, next two segment values)
// with a 65 537-entry offset table; identical hashes share one slot with a list of ids. Insert and remove
// are in place: a removal swap-deletes inside each bucket, an insert fills a hole left by a removal or goes
// to a small per-bucket overflow vector. Nothing is ever rebuilt.
//
// For r >= 64 (per-segment radius 4 or more, where probing costs more than reading everything) the query
// scans all slots. Any r in [0, 256] is exact.
//
// Thread-safety: all methods are safe to call concurrently; queries share a reader lock, Insert / Remove /
// BulkLoad take it exclusively (microseconds for Insert and Remove).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "hashing/hash256.h"
#include "hashing/pdq_hasher.h"

namespace hashbank {

struct PdqMatch {
  uint64_t id = 0;
  int distance = 0;
  friend bool operator==(const PdqMatch&, const PdqMatch&) = default;
};

struct PdqDihedralMatch {
  uint64_t id = 0;
  int distance = 0;
  Dihedral transform = Dihedral::kOrig;  // which of the query's 8 hashes was closest (orig first on ties)
};

class PdqIndex {
 public:
  static constexpr int kMaxDistance = 256;

  PdqIndex();
  ~PdqIndex();
  PdqIndex(const PdqIndex&) = delete;
  PdqIndex& operator=(const PdqIndex&) = delete;

  // Loads many entries at once into an empty index (FailedPrecondition otherwise); the fast path for start-up.
  // Duplicate (hash, id) pairs are kept once.
  absl::Status BulkLoad(std::span<const std::pair<Hash256, uint64_t>> entries);

  // AlreadyExists if this exact (hash, id) pair is present.
  absl::Status Insert(const Hash256& hash, uint64_t id);
  // Inserts many entries under one lock, in place: the same result as Insert for each (pairs already present
  // are skipped and counted in the return value), but the postings of each segment table are added in
  // bucket order, so the batch walks the tables once instead of making 16 random accesses per hash. A
  // batch large against the index lays the tables out afresh instead. Returns how many pairs were skipped.
  absl::StatusOr<size_t> InsertBatch(std::span<const std::pair<Hash256, uint64_t>> entries);
  // NotFound if the pair is absent. Once it returns, no query returns the pair.
  absl::Status Remove(const Hash256& hash, uint64_t id);

  // Every entry within max_distance (clamped to [0, 256]), sorted by distance, then id.
  std::vector<PdqMatch> Query(const Hash256& query, int max_distance) const;
  // One result list per query, under one reader lock.
  std::vector<std::vector<PdqMatch>> QueryBatch(std::span<const Hash256> queries, int max_distance) const;
  // Queries all 8 dihedral hashes of one image (indexed by Dihedral); one result per id, at its smallest
  // distance and the transform that gave it. Sorted by distance, then id.
  std::vector<PdqDihedralMatch> QueryDihedral(const std::array<Hash256, kNumDihedral>& hashes,
                                              int max_distance) const;

  size_t size() const;            // (hash, id) entries
  size_t unique_hashes() const;   // distinct hashes
  size_t MemoryBytes() const;     // allocated bytes of every internal array (capacity, not size)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  mutable std::shared_mutex mu_;
};

}  // namespace hashbank
