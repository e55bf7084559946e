// LogReplica: every origin's signed log as this node holds it — serving segments of any log (its own
// included, up to what is durable), and the one owner of segment verification and application for other
// origins' logs: trusted state, verify (on any thread, no lock), apply (one durable batch: entries, leaf
// hashes, subtrees, tree, checkpoint, index rows, purges for withdrawals), equivocation evidence, and the
// suspension of misbehaving origins. The federation client only fetches bytes and hands them here.
//
// Locks: `apply_mu_` serialises applies and suspension changes (so a segment applied while an origin is
// suspended is judged by one suspension state, now and after a restart); `suspension_mu_` guards the
// suspension map for readers. Applying does not block the own log: its commits group with the own log's in
// the store. Index inserts and the commit listener run after the commit, outside `apply_mu_`.
//
// Thread-safety: thread-safe. Errors: rejections carry the reason first (signed_log.h); Aborted "stale" when
// a verified segment's base is no longer the trusted state; storage errors as SignalStore returns them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/signing.h"
#include "node/commit_notifier.h"
#include "node/own_log.h"
#include "node/signal_index.h"
#include "protocol/signed_log.h"
#include "storage/signal_store.h"

namespace hashbank {

// What applying a verified segment did.
struct AppliedSegment {
  uint64_t leaves = 0;
  uint64_t signals = 0, withdrawals = 0, opinions = 0, models = 0, label_edits = 0;
  uint64_t unknown = 0;  // entries of a type this node does not know: stored and relayed, not interpreted
  uint64_t tree_size = 0;
};

// A segment verified against `base`, ready to apply (LogReplica::Apply) if `base` is still trusted then.
struct PreparedSegment {
  std::string origin;
  Ed25519PublicKey origin_key{};
  TrustedLog base;
  SegmentResult result;
  bool own_recovery = false;  // a segment of this node's own log, fetched back from a peer (RecoverOwn)
  // Where the log verifiably ends after this segment (for fetching the next one ahead); none if rejected.
  std::optional<TrustedLog> Next() const;
};

class LogReplica {
 public:
  // Every pointer must outlive the replica.
  LogReplica(SignalStore* store, SignalIndex* index, OwnLog* own_log, CommitNotifier* notifier,
             std::function<int64_t()> now_ms);
  // Reads the stored suspensions (before the index is rebuilt: suspended origins' later signals stay out).
  absl::Status Load() ABSL_LOCKS_EXCLUDED(suspension_mu_);

  // Leaves [from_size, end) of `origin`'s log with a checkpoint at `end` and a consistency proof from
  // `from_size` (end <= from_size + max_leaves for the own log; for other origins the end is the newest
  // trusted checkpoint it can reach). Purged entries travel as leaf hashes, with their withdrawal.
  absl::StatusOr<std::string> ExportSegment(const std::string& origin, uint64_t from_size, uint64_t max_leaves) const;

  absl::StatusOr<TrustedLog> TrustedState(const std::string& origin) const ABSL_LOCKS_EXCLUDED(apply_mu_);
  // Verification only: any thread, no lock.
  PreparedSegment Prepare(const std::string& origin, const Ed25519PublicKey& origin_key, TrustedLog base,
                          std::string_view segment_bytes) const;
  absl::StatusOr<AppliedSegment> Apply(PreparedSegment prepared) ABSL_LOCKS_EXCLUDED(apply_mu_);
  // Prepare against the current trusted state and Apply, again if the state moved meanwhile.
  absl::StatusOr<AppliedSegment> ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                              std::string_view segment_bytes);
  // A segment of this node's OWN log, as a peer holds it: the tail a node restored from an older backup
  // lacks. Verified against the own key and the own stored tree like any origin's, then stored as the own
  // log's entries, leaves, tree and checkpoint, and indexed. Only before the own log appends anything (the
  // caller then reloads the OwnLog). A fork (the peer's checkpoint disagrees with the own tree) is an error,
  // never stored as evidence against this node.
  absl::StatusOr<AppliedSegment> RecoverOwn(std::string_view segment_bytes);

  absl::StatusOr<std::optional<CheckpointView>> LatestCheckpoint(const std::string& origin) const;
  absl::StatusOr<std::vector<std::string>> Origins() const;
  absl::StatusOr<std::vector<std::string>> Evidence(const std::string& origin) const;
  bool IsEquivocating(const std::string& origin) const;
  // Recomputes every stored log from its leaf hashes against its newest checkpoint and the origin's key.
  absl::Status VerifyStoredLogs(std::ostream& report) const;

  // Gossip: a signed checkpoint of `origin` a peer holds (its newest), checked against this node's trusted
  // log of the origin without fetching anything. Same size, another root: equivocation. A smaller size
  // whose root is not what this node's stored leaves give at that size: equivocation too (two signed
  // histories that cannot both be true). Either way the evidence (both checkpoints) is stored, the origin
  // is flagged like a fork found in a segment, and FailedPrecondition says so. A larger size, a checkpoint
  // whose signature does not verify, or an origin not held: OK (nothing proven; a larger one is fetched).
  absl::Status CheckGossip(const std::string& origin, const Ed25519PublicKey& origin_key, std::string_view signed_checkpoint)
      ABSL_LOCKS_EXCLUDED(apply_mu_);
  absl::Status Suspend(const std::string& origin, bool exclude_from_matching, const std::string& actor)
      ABSL_LOCKS_EXCLUDED(apply_mu_, suspension_mu_);
  // Lifts a suspension; `also` (may be empty) adds rows to the same durable batch, given the sequence after
  // which the origin's entries were held.
  absl::Status Unsuspend(const std::string& origin, const std::string& actor,
                         const std::function<void(StoreBatch*, uint64_t)>& also = nullptr)
      ABSL_LOCKS_EXCLUDED(apply_mu_, suspension_mu_);
  bool IsSuspended(const std::string& origin) const ABSL_LOCKS_EXCLUDED(suspension_mu_);
  // Entries of `origin` after this sequence are refused (stored, never indexed); none if not suspended.
  std::optional<uint64_t> SuspendedFrom(const std::string& origin) const ABSL_LOCKS_EXCLUDED(suspension_mu_);
  // A member's entry stored past its origin's suspension: stored and relayed, never indexed or listed.
  bool HeldBySuspension(const SignalRef& ref) const ABSL_LOCKS_EXCLUDED(suspension_mu_);

 private:
  absl::StatusOr<CompactTree> LoadTree(const std::string& origin) const;
  absl::StatusOr<TrustedLog> ReadTrusted(const std::string& origin) const;
  // Stores equivocation evidence, flags the origin and audits it, in one durable batch.
  absl::Status RecordEquivocation(const std::string& origin, const std::string& evidence_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);

  SignalStore* const store_;
  SignalIndex* const index_;
  OwnLog* const own_log_;
  CommitNotifier* const notifier_;
  const std::function<int64_t()> now_ms_;

  mutable absl::Mutex apply_mu_ ABSL_ACQUIRED_BEFORE(suspension_mu_);
  mutable absl::Mutex suspension_mu_;
  absl::flat_hash_map<std::string, Suspension> suspended_ ABSL_GUARDED_BY(suspension_mu_);
};

}  // namespace hashbank
