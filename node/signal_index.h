// SignalIndex: the in-memory match indexes of every indexed signal (all origins) and what a match resolves
// to — PDQ (multi-index hashing), MD5 and SHA-256 (salted, exact), embeddings per model — keyed by a dense
// local number per signal, plus the signal's origin, sequence, bank and label set (interned: 16 bytes a signal).
// With a RobustSource (the node's Bank), the robust index holds postings only and reads the fingerprints it
// verifies from storage.
//
// Only salted values arrive here. Entries are added after their batch is durable (a crash between the two
// is repaired by Bank's rebuild at start). A signal removed before it was added (a withdrawal that
// overtook the submitter's index insert) is never added afterwards, and one removed between its Add and the
// FlushPdq of its batch never gets its PDQ posting.
//
// Thread-safety: every method is safe to call concurrently. `mu_` (reader/writer) guards the maps of this
// class and orders Add, FlushPdq and Remove (each holds it exclusively, inserts and removals included);
// queries take only the indexes' own locks, then `mu_` shared to resolve. Errors: InvalidArgument for a malformed query (a vector of
// the wrong dimension), otherwise the index's own.
#pragma once

#include <functional>
#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/salting.h"
#include "hashing/hash256.h"
#include "hashing/pdq_hasher.h"
#include "matcher/exact_index.h"
#include "matcher/keyframe_index.h"
#include "matcher/pdq_index.h"
#include "matcher/robust_index.h"
#include "matcher/vector_index.h"
#include "matcher/video_index.h"
#include "protocol/entries.pb.h"
#include "storage/records.h"

namespace hashbank {

struct Match {
  SignalRef ref;
  std::string signal_type;            // "pdq", "md5", "sha256", "embedding", "robust", "vpdq"
  int distance = 0;                   // PDQ Hamming distance (0 for exact matches)
  float similarity = 0;               // embeddings
  std::optional<Dihedral> transform;  // PDQ dihedral queries
  std::vector<std::string> labels;
  std::string bank;                   // the signal's bank ("DEFAULT" for signals without one)
  size_t query_index = 0;             // which of several PDQ queries matched
  std::optional<RobustVerdict> robust;  // robust matches: inliers, covered area, scale, rotation
  bool mirrored = false;              // robust and vpdq matches through the mirrored query
  bool bars_removed = false;          // vpdq matches through the query's frames without black bars
  std::optional<VideoVerdict> video;  // vpdq matches: matched percentages, time and ranges
  int keyframes = 0;                  // robust matches of a video: its keyframes verified in the query
};


struct IndexStats {
  size_t signals = 0;  // live (indexed, not withdrawn) signals
  size_t pdq = 0, exact = 0, pdq_index_bytes = 0;
  size_t md5 = 0;
  size_t embeddings = 0;  // every model's
  size_t robust = 0, robust_index_bytes = 0;
  size_t videos = 0, video_frames = 0, video_index_bytes = 0;
  size_t video_keyframes = 0, video_keyframe_bytes = 0;
};

class SignalIndex {
 public:
  // A live signal's stored robust fingerprint (salted encoding), read from storage when a match verifies it.
  // NotFound or empty when it is gone (withdrawn and purged meanwhile). Called from querying threads without
  // any of this class's locks.
  using RobustSource = std::function<absl::StatusOr<std::string>(const SignalRef&)>;

  // `video_min_quality`: the quality floor of banked video frames (frames below are not indexed): the node's
  // matching.pdq_quality_floor. With a `robust_source`, robust fingerprints are not kept in memory, only their
  // postings (RobustIndex with a loader): the few a query verifies are read through it.
  explicit SignalIndex(int video_min_quality = 50, RobustSource robust_source = nullptr);

  // PDQ postings collected by Add, inserted by FlushPdq in one batch.
  using PdqBatch = std::vector<std::pair<Hash256, uint64_t>>;

  // Adds a durable entry: a signal's values to the indexes (its PDQ hash to `pdq` for a later FlushPdq), a
  // model fingerprint's dimension. Entries without values (purged, opinions, withdrawals) add nothing.
  absl::Status Add(const SignalRef& ref, const protocol::Entry& entry, PdqBatch* pdq) ABSL_LOCKS_EXCLUDED(mu_);
  // Inserts collected PDQ postings; `bulk` for the first load at start (the fast path for millions).
  // `bulk` also ends a bulk load started by BeginBulkLoad (robust postings are sorted once, here).
  absl::Status FlushPdq(PdqBatch& pdq, bool bulk);
  // The first load at start: robust fingerprints are appended unsorted until FlushPdq(..., true). No query
  // may run in between.
  void BeginBulkLoad();
  // Forgets a signal's values (a withdrawal). `signal` is the stored signal with its salted values.
  void Remove(const SignalRef& ref, const protocol::Signal& signal) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<Match> MatchPdq(std::span<const Hash256> salted, int max_distance) const;
  std::vector<Match> MatchDihedral(const std::array<Hash256, kNumDihedral>& salted, int max_distance) const;
  // Robust fingerprints verified against the query's salted local features (direct and mirrored).
  std::vector<Match> MatchRobust(std::span<const LocalFeature> direct, std::span<const LocalFeature> mirrored) const;
  // Banked videos matching a query video through any of its passes (salted frames as hashed, mirrored, bars
  // removed): each banked video once, from the first pass that finds it.
  std::vector<Match> MatchVideo(std::span<const VideoQueryPass> salted_passes, double frame_interval,
                                const VideoMatchRule& rule) const;
  // Banked videos whose keyframes (VideoFingerprint.keyframes) the query's keyframes match by KeyframeIndex's
  // rule: signal_type "robust", the best pair's verdict, `keyframes` the banked keyframes verified.
  std::vector<Match> MatchVideoKeyframes(std::span<const VideoKeyframeQuery> salted) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Match> MatchExact(ExactKind kind, const SaltedExactDigest& salted) const;
  // The `limit` most similar embeddings at or above min_similarity that `keep` accepts (unset: all), most
  // similar first: the limit applies after the filter, so a filter never hides a match that fits it.
  absl::StatusOr<std::vector<Match>> MatchEmbedding(const std::string& model_id, std::span<const float> salted,
                                                    float min_similarity, size_t limit,
                                                    const std::function<bool(const Match&)>& keep = nullptr) const;
  size_t EmbeddingCount(const std::string& model_id) const;

  // Models: the first usable fingerprint of a model id is the model's (its dimension and preprocessing); one
  // that is not UsableModelFingerprint (a malformed id, a dimension outside 1..4096, a threshold outside
  // [-1, 1] or NaN, another metric) is ignored.
  void RegisterModel(const protocol::ModelFingerprint& model) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<uint32_t> ModelDimension(const std::string& model_id) const ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<protocol::ModelFingerprint> Model(const std::string& model_id) const ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces an indexed signal's labels with those of its label edit at `edit_sequence` (its bank stays;
  // duplicate labels count once). Index updates may run in any order (they follow durable writes outside
  // the writers' locks): an edit older than one already applied to the signal changes nothing. A signal not
  // indexed yet takes them at its Add if `early` (an edit whose index update overtook the signal's Add);
  // otherwise (a suspended origin's never-indexed signal) nothing changes.
  void SetLabels(const SignalRef& ref, std::vector<std::string> labels, uint64_t edit_sequence, bool early)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Origins whose stored signals are hidden from matches (suspended with exclude_from_matching).
  void SetExcluded(const std::string& origin, bool excluded) ABSL_LOCKS_EXCLUDED(mu_);

  IndexStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Live (indexed) signals per bank name, sorted by name; banks without live signals are absent.
  std::vector<std::pair<std::string, size_t>> BankCounts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Live (indexed) signals per label, sorted by label; labels without live signals are absent.
  std::vector<std::pair<std::string, size_t>> LabelCounts() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct LocalSignal {
    uint32_t origin;     // index into origins_
    uint32_t label_set;  // index into label_sets_
    uint64_t sequence;
  };
  uint64_t RegisterLocal(const SignalRef& ref, const protocol::Signal& signal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<uint64_t> LocalOf(const SignalRef& ref) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The ref of a live (not removed) local number.
  std::optional<SignalRef> LiveRef(uint64_t local) const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t InternLabelSet(std::string_view bank, std::vector<std::string> labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces local numbers (in Match::ref.sequence) by the signal's ref and labels; drops excluded origins.
  std::vector<Match> Resolve(std::vector<Match> matches) const ABSL_LOCKS_EXCLUDED(mu_);

  PdqIndex pdq_;
  ExactIndex md5_, sha256_;
  VectorIndex vectors_;
  RobustIndex robust_;
  VideoIndex video_;
  KeyframeIndex keyframes_;
  std::atomic<bool> bulk_loading_{false};

  mutable absl::Mutex mu_;
  std::vector<LocalSignal> locals_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> origins_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> origin_index_ ABSL_GUARDED_BY(mu_);
  // A signal's bank and labels, interned: few distinct sets among millions of signals.
  struct LabelSet {
    std::string bank;
    std::vector<std::string> labels;
  };
  std::vector<LabelSet> label_sets_ ABSL_GUARDED_BY(mu_);
  // bank + '\0' + labels each followed by '\n' -> index into label_sets_
  absl::flat_hash_map<std::string, uint32_t> label_set_index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> bank_counts_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> label_set_live_ ABSL_GUARDED_BY(mu_);  // live signals per label set (label_sets_'s index)
  // origin index -> (sequence - 1) -> local number + 1 (0: not indexed). Dense: logs are sequences.
  std::vector<std::vector<uint64_t>> local_by_sequence_ ABSL_GUARDED_BY(mu_);
  // Removed before they were added: "origin\nsequence". Tiny: only a race leaves an element here.
  absl::flat_hash_set<std::string> removed_early_ ABSL_GUARDED_BY(mu_);
  // Label edits that arrived before their signal's Add: "origin\nsequence" -> (edit sequence, labels). As
  // tiny (an entry stays only for a signal that is never indexed: refused while suspended, unindexable).
  absl::flat_hash_map<std::string, std::pair<uint64_t, std::vector<std::string>>> labels_early_ ABSL_GUARDED_BY(mu_);
  // Local number -> the sequence of the label edit its labels come from (edited signals only).
  absl::flat_hash_map<uint64_t, uint64_t> label_edit_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, protocol::ModelFingerprint> models_ ABSL_GUARDED_BY(mu_);  // by model_id
  absl::flat_hash_set<std::string> excluded_ ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  // Per local number: whether its PDQ posting waits in a caller's PdqBatch (and was removed meanwhile).
  enum : uint8_t { kPdqNone = 0, kPdqPending = 1, kPdqDropOnFlush = 2 };
  std::vector<uint8_t> pdq_state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hashbank
