// RobustIndex: every banked robust fingerprint (salted local features), and the candidate search that makes
// matching an image against a large bank fast: voting on descriptor substrings, then geometric verification
// (robust_verify.h) of the best-voted candidates only.
//
// Candidate search: each stored descriptor is posted under `tables` keys, key t being bytes 3t..3t+2 of the
// salted descriptor (24 bits; the salt's bit permutation makes them random subsets of the raw bits). A query
// feature votes once for every fingerprint with a feature under one of its keys whose 24 check bits (bytes
// 29..31, in the posting) differ from the query feature's in at most 4, except through keys far more common
// than chance (common patterns: kMinRunCap, kRunCapFactor). A fingerprint's score sums, over its votes,
// 1 / (the number of fingerprints that query feature votes for): a pattern shared by many banked images counts
// little, a feature found in one image fully. Fingerprints with at least kMinVotes votes, best score first, at
// most max_candidates per query orientation, are verified. The vote reads no stored fingerprint. Verification is exact; the search can miss a fingerprint whose matching features share no
// 24-bit key with the query's (measured in docs/matching.md: how often the verified match is outside the
// shortlist).
//
// Layout: per table, 65 536 buckets by the key's top 16 bits, each a vector of 8-byte postings (the key's low 8
// bits, the 24 check bits, the fingerprint's id) kept sorted, so a probe is a binary search inside one bucket;
// inserts go in place (no rebuild), a bulk load sorts once. Buckets hold at most about an eighth more room than
// postings (exact after a bulk load, which then hands the freed pages back to the system on glibc; an in-place
// insert into a full bucket grows it by an eighth). Ids must be dense (the node's local signal numbers): a
// presence bit per id up to the largest.
//
// Fingerprints for verification: kept in their stored encoding (robust_fingerprint.h, 4 + 34 bytes a feature)
// by id, or, for an index made with a Loader, not kept at all: the at most 2 x max_candidates fingerprints a
// query verifies are read through the loader (the node reads them from RocksDB), so the index holds only its
// postings (6 x 8 bytes a feature).
//
// Thread-safety: all methods may be called concurrently; `mu_` (reader/writer) guards everything, queries
// hold it shared for the vote and release it before verification (and before calling the loader, which may
// take its own locks). Errors: InvalidArgument for an id above 2^32 - 1, an empty fingerprint, or one of over
// 255 features; AlreadyExists for an id already present.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hashing/local_features.h"
#include "hashing/robust_fingerprint.h"
#include "matcher/robust_verify.h"

namespace hashbank {

class RobustIndex {
 public:
  static constexpr int kDefaultTables = 6;
  static constexpr int kMaxTables = 9;  // 3-byte keys from the 32-byte descriptor, bytes 27..28 unused
  static constexpr int kMinVotes = 2;
  static constexpr size_t kDefaultCandidates = 24;
  // Key runs longer than max(kMinRunCap, kRunCapFactor x the mean run) cast no votes.
  static constexpr size_t kMinRunCap = 256;
  static constexpr size_t kRunCapFactor = 16;

  struct Hit {
    uint64_t id = 0;
    RobustVerdict verdict;
    bool mirrored = false;  // matched through the mirrored query
    int votes = 0;
  };

  // A banked fingerprint's stored encoding, for an index that does not keep them. An error or an empty
  // string: the fingerprint is gone (removed since the vote) or unreadable, and the candidate is skipped.
  // Called from querying threads without the index's lock.
  using Loader = std::function<absl::StatusOr<std::string>(uint64_t id)>;

  // `tables` in 1..kMaxTables (clamped): more tables find more candidates and cost 8 bytes a feature each.
  // With a `loader`, fingerprints are not kept in memory (above).
  explicit RobustIndex(int tables = kDefaultTables, Loader loader = nullptr);

  // `salted` as stored (decoded from the signal's fingerprint). In a bulk load (`bulk`), buckets are sorted
  // only by FinishBulk, and queries must not run before it.
  absl::Status Insert(uint64_t id, std::span<const LocalFeature> salted, bool bulk = false) ABSL_LOCKS_EXCLUDED(mu_);
  // The same from a fingerprint's stored encoding (robust_fingerprint.h), keeping its aspect ratio.
  absl::Status InsertEncoded(uint64_t id, std::string_view encoded, bool bulk = false) ABSL_LOCKS_EXCLUDED(mu_);
  void FinishBulk() ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets a fingerprint; no effect for an unknown id. An index with a loader needs the fingerprint's stored
  // `encoded` to find its postings; without it they stay in memory, dead (they vote for nothing).
  void Remove(uint64_t id, std::string_view encoded = {}) ABSL_LOCKS_EXCLUDED(mu_);

  // Verified matches of a query's direct and mirrored features (salted), best first (most inliers).
  std::vector<Hit> Query(std::span<const LocalFeature> direct, std::span<const LocalFeature> mirrored,
                         const RobustParams& params = {}, size_t max_candidates = kDefaultCandidates) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The other way round: stored fingerprints whose image contains `banked`'s image, each verified with
  // `banked` as the banked side and the stored features as the query (no mirror: a stored fingerprint's
  // features cannot be mirrored). For an index of edited copies (a watch list) and a newly banked original.
  std::vector<Hit> QueryContaining(const RobustFingerprint& banked, const RobustParams& params = {},
                                   size_t max_candidates = kDefaultCandidates) const ABSL_LOCKS_EXCLUDED(mu_);

  // The search's shortlist for one orientation (ids and votes, best score first): for measuring the search
  // alone.
  std::vector<std::pair<uint64_t, int>> Candidates(std::span<const LocalFeature> query, size_t max_candidates) const
      ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Heap bytes held: postings, bucket headers, presence bits and kept fingerprints.
  size_t MemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static constexpr size_t kBuckets = 65536;
  static uint32_t Key(const LocalFeature& f, int table);
  // Calls fn(bucket, posting) -> bool for every posting of a fingerprint (one per feature and table); returns
  // how many calls returned true.
  template <typename Fn>
  size_t ForEachPosting(const std::vector<LocalFeature>& features, uint32_t id, Fn&& fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const int tables_;
  const Loader loader_;
  // A posting: the key's low 8 bits (the bucket holds the top 16), 24 check bits of the descriptor, the id.
  static uint64_t Entry(uint32_t key, uint32_t check, uint32_t id);
  std::vector<std::pair<uint64_t, int>> CandidatesLocked(std::span<const LocalFeature> query,
                                                         size_t max_candidates) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A candidate's fingerprint for verification (kept or loaded); nullopt when gone or unreadable.
  std::optional<RobustFingerprint> Load(uint64_t id) const ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // [table * kBuckets + top 16 bits of key] -> sorted Entry(key, check, id)
  std::vector<std::vector<uint64_t>> buckets_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> present_ ABSL_GUARDED_BY(mu_);       // id -> inserted and not removed
  std::vector<std::string> by_id_ ABSL_GUARDED_BY(mu_);  // without a loader: id -> stored encoding
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t postings_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hashbank
