// SignalStore: the node's durable state in RocksDB. Only salted values and metadata are ever written here.
//
// Column families (keys are binary; `okey` = origin (1-byte length + bytes) + sequence (8 bytes big-endian),
// so one origin's entries are contiguous and in log order):
//   entries      okey -> Entry bytes exactly as built or received (protocol/entries.proto)
//   exact        okey + kind (1) -> salted digest (32)              (which signals carry a digest; never a
//                digest in a key: keys outlive compaction in the MANIFEST)
//   labels       label (1-byte length + bytes) + okey -> ""; also "bank:<NAME>" and "case:<hex SHA-256 of the
//                case_ref, 32 digits>" rows (labels are a-z0-9_, so these cannot collide), for listing
//   opinions     okey of the signal + okey of the opinion entry -> ""
//   tombstones   okey -> Tombstone (JSON: time_ms, by, reason, withdrawal); the entry's values are purged
//   tokens       SHA-256 of the bearer token (32) -> TokenRecord (JSON: name, role, created_ms, expires_ms)
//   state        name -> value: "salt_id", "node_id", "audit.last", and per origin "tree/<o>" (the log's
//                CompactTree), "origin_key/<o>" (hex Ed25519 key the log was first trusted with),
//                "equivocated/<o>" (flag), "suspended/<o>" ("exclude N" / "keep N"), "bank/<NAME>" (a bank's local
//                configuration, JSON: node/bank_catalog.h), "labels/<signal id>" (the sequence of the signal's
//                latest label edit: node/label_edits.h); typed methods below
//   audit        sequence (8, big-endian) -> JSON record {seq, time_ms, actor, action, target, prev, hash}
//                where hash = SHA-256(prev || canonical record without hash): each record chains the last
//   leaves       okey -> the entry's 32-byte RFC 9162 leaf hash; stays when the entry's bytes are purged
//   nodes        origin + level (1) + index (8) -> hash of the perfect subtree [index*2^level, (index+1)*2^level),
//                for level >= 1 (level 0 is the leaf, in `leaves`)
//   checkpoints  origin + tree size (8, big-endian) -> SignedCheckpoint bytes: every checkpoint this node signed
//                or trusted, so segments can be served that end at a signed size
//   evidence     origin + time (8) -> EquivocationEvidence bytes
//
// Writes: callers fill a StoreBatch and Commit it. Concurrent commits are grouped (LevelDB's leader/follower
// scheme): the first queued writer writes every batch queued behind it as one RocksDB WriteBatch with the
// WAL synced — one fsync for the group — and each Commit returns once its group is durable. A Commit that
// returned OK survives a crash (power loss included, as far as fsync does). A failed one is never partly
// visible: after a restart it is wholly present or wholly absent (a batch whose log append succeeded but
// whose sync failed may be replayed whole after a process restart; absent if power was lost before its
// sync). So an error from Commit means "outcome unknown": the caller must not report success, and a
// retry may find its first attempt stored. Batches are applied in queue order, so a caller that Enqueues in its own order (the own log)
// gets that order on disk. Audit records added to a batch are chained in queue order by the group's writer.
// After a failed write the store refuses every later write (Unavailable, naming the first error) until it
// is reopened: what callers already built on top of the failed batch (the own log's next entries) must not
// reach the disk without it.
//
// Thread-safety: all methods are safe to call concurrently. Errors: RocksDB failures become
// Unavailable/DataLoss/Internal Status with RocksDB's message; bad stored data is DataLoss.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/records.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace hashbank {


// "origin:sequence", the public signal id.
std::string FormatSignalId(const SignalRef& ref);
// InvalidArgument unless `id` is "<origin>:<decimal sequence >= 1>".
absl::StatusOr<SignalRef> ParseSignalId(std::string_view id);

enum class ExactKind8 : uint8_t { kMd5 = 1, kSha256 = 2 };

struct AuditRecord {
  uint64_t sequence = 0;
  int64_t time_ms = 0;
  std::string actor;   // token name, or "system"
  std::string action;  // "submit", "withdraw", "opinion.confirmed", "opinion.disputed", "token.create"
  std::string target;  // a signal id or token name; never a hash value
  std::string prev_hash_hex;
  std::string hash_hex;
};

class StoreBatch {
 public:
  StoreBatch();
  ~StoreBatch();
  StoreBatch(StoreBatch&&) noexcept;
  StoreBatch& operator=(StoreBatch&&) noexcept;

  void PutEntry(const SignalRef& ref, std::string_view entry_bytes);
  void DeleteEntry(const SignalRef& ref);  // purges the bytes; the leaf hash stays
  void PutLeaf(const SignalRef& ref, std::string_view leaf_hash);
  void PutNode(std::string_view origin, uint32_t level, uint64_t index, std::string_view hash);
  void PutCheckpoint(std::string_view origin, uint64_t tree_size, std::string_view signed_checkpoint);
  void PutEvidence(std::string_view origin, int64_t time_ms, std::string_view evidence);
  void PutExact(ExactKind8 kind, std::string_view salted_digest, const SignalRef& ref);
  void DeleteExact(ExactKind8 kind, std::string_view salted_digest, const SignalRef& ref);
  void PutLabel(std::string_view label, const SignalRef& ref);
  void DeleteLabel(std::string_view label, const SignalRef& ref);
  void PutOpinion(const SignalRef& signal, const SignalRef& opinion_entry);
  void PutTombstone(const SignalRef& ref, const Tombstone& tombstone);
  void PutToken(std::string_view token_sha256, const TokenRecord& record);
  void DeleteToken(std::string_view token_sha256);
  void PutLogTree(std::string_view origin, std::string_view serialized_tree);
  void PutOriginKey(std::string_view origin, std::string_view public_key_hex);
  void MarkEquivocating(std::string_view origin);
  void PutSuspension(std::string_view origin, const Suspension& suspension);
  void DeleteSuspension(std::string_view origin);
  void PutState(std::string_view name, std::string_view value);  // identity rows: "salt_id", "node_id"
  void DeleteState(std::string_view name);
  void AddAudit(std::string actor, std::string action, std::string target);
  bool empty() const;

 private:
  friend class SignalStore;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct SignalStoreOptions {
  // The file system RocksDB uses; null: the default (POSIX). Tests inject a fault-injecting one
  // (storage/testing_fs.h) to simulate failed writes and power loss.
  std::shared_ptr<rocksdb::FileSystem> file_system;
  // Deleted rows (a withdrawal's purged entry and index rows) leave every file within about this long: a
  // background purge flushes every column family (so the write-ahead log that still holds the bytes becomes
  // obsolete and is deleted) and compacts the ranges of the deleted keys. 0: only PurgeDeletedNow() does it.
  std::chrono::milliseconds purge_delay{2000};
};

// A queued commit (SignalStore::Enqueue). Wait() returns once the batch is durable or has failed; the
// destructor waits too (a queued batch is always written or failed, never abandoned). Handles may be waited
// in any order: any waiter leads the next group while none is being written. Not thread-safe.
class PendingCommit {
 public:
  PendingCommit();
  ~PendingCommit();
  PendingCommit(PendingCommit&&) noexcept;
  PendingCommit& operator=(PendingCommit&&) noexcept;
  absl::Status Wait();

 private:
  friend class SignalStore;
  struct Writer;
  PendingCommit(class SignalStore* store, std::shared_ptr<Writer> writer);
  class SignalStore* store_ = nullptr;
  std::shared_ptr<Writer> writer_;
};

class SignalStore {
 public:
  // Opens (creating if needed) the database in `dir`.
  static absl::StatusOr<std::unique_ptr<SignalStore>> Open(const std::string& dir, SignalStoreOptions options = {});
  ~SignalStore();
  SignalStore(const SignalStore&) = delete;
  SignalStore& operator=(const SignalStore&) = delete;

  // Durable (WAL fsync) atomic write of everything in the batch, with `time_ms` stamped on audit records.
  absl::Status Commit(StoreBatch batch, int64_t time_ms);
  // Queues the batch behind every batch queued before it and returns at once; Wait() for durability.
  PendingCommit Enqueue(StoreBatch batch, int64_t time_ms);

  absl::StatusOr<std::optional<std::string>> GetEntry(const SignalRef& ref) const;
  absl::StatusOr<std::optional<Tombstone>> GetTombstone(const SignalRef& ref) const;
  absl::StatusOr<std::optional<TokenRecord>> GetToken(std::string_view token_sha256) const;
  absl::StatusOr<std::optional<std::string>> GetState(std::string_view name) const;
  // fn(name without the prefix, value) for every state row whose name starts with `prefix`, in name order.
  absl::Status ForEachState(std::string_view prefix,
                            const std::function<absl::Status(std::string_view, std::string_view)>& fn) const;
  absl::StatusOr<std::optional<std::string>> GetLogTree(std::string_view origin) const;
  absl::StatusOr<std::optional<std::string>> GetOriginKey(std::string_view origin) const;
  absl::StatusOr<bool> IsEquivocating(std::string_view origin) const;
  absl::Status ForEachSuspension(const std::function<void(std::string_view, const Suspension&)>& fn) const;
  absl::StatusOr<std::optional<std::string>> GetLeaf(const SignalRef& ref) const;
  absl::StatusOr<std::optional<std::string>> GetNode(std::string_view origin, uint32_t level, uint64_t index) const;
  // The newest stored checkpoint of `origin`, or the newest whose tree size is <= max_size.
  absl::StatusOr<std::optional<std::string>> GetCheckpoint(std::string_view origin) const;
  absl::StatusOr<std::optional<std::string>> GetCheckpointAtOrBelow(std::string_view origin, uint64_t max_size) const;
  // fn(origin, newest signed checkpoint bytes) for every origin with a stored checkpoint.
  absl::Status ForEachCheckpoint(const std::function<void(std::string_view, std::string_view)>& fn) const;
  absl::StatusOr<std::vector<std::string>> ListEvidence(std::string_view origin) const;
  // fn(sequence, leaf hash) for one origin's leaves in order.
  absl::Status ForEachLeaf(std::string_view origin, const std::function<absl::Status(uint64_t, std::string_view)>& fn) const;
  // Full compaction of every column family: afterwards purged bytes are gone from the files too.
  absl::Status CompactAll();
  // What the background purge does (SignalStoreOptions::purge_delay), now: flushes every column family
  // (the WAL files holding deleted rows become obsolete and are removed) and compacts the key ranges of the
  // rows deleted since the last purge, so their bytes are in no file any more.
  absl::Status PurgeDeletedNow();
  absl::StatusOr<std::vector<SignalRef>> OpinionsOf(const SignalRef& signal) const;
  // The signals with a `labels` row for `label`, in (origin, sequence) order, after `after` (exclusive), at
  // most `limit`. Rows are the signal's labels and its bank and case keys (node/signal_intake.h).
  absl::StatusOr<std::vector<SignalRef>> ListByLabel(std::string_view label, const std::optional<SignalRef>& after,
                                                     size_t limit) const;

  // fn(sequence, entry bytes) for origin's stored entries with first <= sequence < end, in order (purged
  // entries are absent).
  absl::Status ScanEntries(std::string_view origin, uint64_t first, uint64_t end,
                           const std::function<absl::Status(uint64_t, std::string_view)>& fn) const;
  // Calls fn(ref, entry_bytes) for every stored entry in key order; stops at the first error fn returns.
  absl::Status ForEachEntry(const std::function<absl::Status(const SignalRef&, std::string_view)>& fn) const;
  // Calls fn(token_sha256, record) for every token; DataLoss for an unreadable record.
  absl::Status ForEachToken(const std::function<void(std::string_view, const TokenRecord&)>& fn) const;

  // Audit records with sequence > after, at most `limit`, oldest first.
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(uint64_t after, size_t limit) const;
  // Recomputes the whole chain; DataLoss naming the first record that does not verify.
  absl::Status VerifyAuditChain() const;
  // Reads every block of every table file and checks its checksum (RocksDB's VerifyChecksum): a flipped
  // byte in any stored table is DataLoss naming the file. Files are read, not just opened.
  absl::Status VerifyChecksums() const;
  // Every `exact` row (kind, salted digest, signal) and every `labels` row (label or listing key, signal),
  // for `hashbank verify`'s check that index rows point at stored signals. DataLoss for a corrupt key.
  absl::Status ForEachExactRow(const std::function<absl::Status(ExactKind8, std::string_view, const SignalRef&)>& fn) const;
  absl::Status ForEachLabelRow(const std::function<absl::Status(std::string_view, const SignalRef&)>& fn) const;
  // The other direction, one signal at a time: the salted digest of its `kind` exact row (nullopt: none),
  // and whether it has a `labels` row for `label`.
  absl::StatusOr<std::optional<std::string>> GetExactRow(ExactKind8 kind, const SignalRef& ref) const;
  absl::StatusOr<bool> HasLabelRow(std::string_view label, const SignalRef& ref) const;
  // Databases from before the digest left the exact rows' keys: rewrites every exact row to the current
  // layout, once (a state row records it; an interrupted run starts again). Returns the rows rewritten. Call
  // before anything else writes. The old keys leave the MANIFEST when RocksDB next rolls it (at the next
  // open at the latest).
  absl::StatusOr<uint64_t> MigrateExactRowKeys();

  // A consistent, openable copy of the database in `dir` (which must not exist), taken while serving.
  absl::Status Checkpoint(const std::string& dir) const;

 private:
  struct Impl;
  explicit SignalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class PendingCommit;
  absl::Status WaitFor(const std::shared_ptr<PendingCommit::Writer>& writer);
};

}  // namespace hashbank
