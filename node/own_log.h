// OwnLog: the node's own signed, append-only log — sequence numbers, the RFC 9162 Merkle tree, and a signed
// checkpoint for every commit. Every local write that adds entries (submit, withdraw, opinion, model) goes
// through Append, which assigns the next sequences, lets the caller add its rows to the same batch, adds the
// leaves, new subtrees, tree state and a signed checkpoint, and commits it all as one durable batch.
//
// Group commit: Append holds the log's lock only while it builds and queues its batch (SignalStore::Enqueue,
// in sequence order), then waits for durability without the lock, so concurrent appends share one fsync.
// The in-memory tree runs ahead of the disk by the queued batches; `durable_size()` is what a peer may be
// served. If a commit fails, the store refuses every later write and so does this log (Unavailable until
// the node restarts), so no entry can reach the disk without those before it.
//
// Thread-safety: thread-safe; `mu_` guards the sequence, the tree and the in-flight claims. Builders run
// under `mu_` and must not call back into the log. Errors: the builder's, then storage errors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/signing.h"
#include "node/commit_notifier.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"
#include "storage/signal_store.h"

namespace hashbank {

namespace protocol {
class Entry;
}  // namespace protocol

class OwnLog {
 public:
  // What a builder sees: the first sequence its entries get, the commit time, the batch for its own rows,
  // and claims (keys held until this append is durable or failed: e.g. "the withdrawal of signal 7").
  class Scope {
   public:
    uint64_t first_sequence() const { return first_sequence_; }
    int64_t now_ms() const { return now_ms_; }
    StoreBatch* batch() { return batch_; }
    const std::string& node_id() const { return log_->node_id_; }
    // False if another append in flight holds `key`; else this append holds it until it completes. Only
    // for builders, which run under the log's lock.
    bool Claim(const std::string& key);
    // True if an append in flight holds `key`.
    bool IsClaimed(const std::string& key) const;

   private:
    friend class OwnLog;
    Scope(OwnLog* log, uint64_t first, int64_t now, StoreBatch* batch) : log_(log), first_sequence_(first), now_ms_(now), batch_(batch) {}
    OwnLog* log_;
    uint64_t first_sequence_;
    int64_t now_ms_;
    StoreBatch* batch_;
    std::vector<std::string> claims_;
  };
  // Returns the payloads of the new entries (header fields are set by the log), in order; an error or an
  // empty list appends nothing.
  using Builder = std::function<absl::StatusOr<std::vector<protocol::Entry>>(Scope&)>;
  // The entries appended, with their exact bytes.
  using Appended = std::vector<std::pair<SignalRef, std::string>>;

  // `store` and `notifier` must outlive the log.
  OwnLog(SignalStore* store, CommitNotifier* notifier, std::string node_id, std::shared_ptr<const SigningKey> key,
         std::function<int64_t()> now_ms);
  // Reads the stored tree. DataLoss if it does not parse.
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<Appended> Append(const Builder& build) ABSL_LOCKS_EXCLUDED(mu_);

  // Append in two steps, for a caller that prepares its next batch while this one is written (a stopped
  // node's import, node/import_pipeline.h): Start builds and queues the batch; Finish waits until it is
  // durable (or failed) and returns its entries, as Append does. Finish may run on another thread than Start,
  // and must run for every InFlight (its destructor otherwise waits for the commit but keeps the claims and
  // leaves durable_size() behind). Append(b) is Finish(Start(b)).
  class InFlight {
   public:
    InFlight() = default;
    InFlight(InFlight&&) noexcept = default;
    InFlight& operator=(InFlight&&) noexcept = default;

   private:
    friend class OwnLog;
    PendingCommit pending_;
    Appended appended_;
    std::vector<std::string> claims_;
    uint64_t end_ = 0;
  };
  absl::StatusOr<InFlight> Start(const Builder& build) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Appended> Finish(InFlight in_flight) ABSL_LOCKS_EXCLUDED(mu_);

  // Entries durably in the log: what may be exported.
  uint64_t durable_size() const ABSL_LOCKS_EXCLUDED(mu_);
  // A signed checkpoint of this log at `size` <= durable_size() (its root from the stored subtrees).
  absl::StatusOr<std::string> SignedCheckpointAt(uint64_t size) const;
  const std::string& node_id() const { return node_id_; }
  const SigningKey& key() const { return *key_; }

 private:
  SignalStore* const store_;
  CommitNotifier* const notifier_;
  const std::string node_id_;
  const std::shared_ptr<const SigningKey> key_;
  const std::function<int64_t()> now_ms_;

  mutable absl::Mutex mu_;
  CompactTree tree_ ABSL_GUARDED_BY(mu_);  // ahead of the disk by the queued batches
  uint64_t durable_size_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::string> claims_ ABSL_GUARDED_BY(mu_);
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hashbank
