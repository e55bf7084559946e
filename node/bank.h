// Bank: one node's signal bank — durable storage, salting, and the match indexes kept in step.
//
// Every value arriving from a member is salted here, on arrival, and only salted values reach storage or the
// indexes. A write is acknowledged (the call returns OK) only after its RocksDB batch is durable; the
// in-memory indexes are updated after that, so a crash between the two is repaired by the rebuild at Open.
// Writes to the node's own log are serialised (sequence numbers are assigned in order); matches run
// concurrently with each other and with writes.
//
// Errors: InvalidArgument (bad input, message names the field), FailedPrecondition (quality below the
// floor, withdrawing another origin's signal), NotFound, AlreadyExists (already withdrawn), storage errors
// as SignalStore returns them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include <google/protobuf/repeated_ptr_field.h>
#include "absl/status/statusor.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "matcher/exact_hash.h"
#include "matcher/exact_index.h"
#include "matcher/hash256.h"
#include "matcher/pdq_index.h"
#include "matcher/vector_index.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"
#include "storage/signal_store.h"

namespace hashbank {

namespace protocol {
class Entry;
}  // namespace protocol

enum class Role { kSubmit, kQuery, kAdmin };
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

struct Actor {
  std::string name;  // the token's name (a member service); appears in the audit log
  Role role = Role::kQuery;
};

struct EmbeddingInput {
  std::string model_id;  // 64 hex: SHA-256 of the model's weights
  std::vector<float> vector;
};

// One submission, in the member's raw (unsalted) values.
struct SignalInput {
  std::optional<Hash256> pdq;
  std::optional<int> quality;
  std::optional<Md5Digest> md5;
  std::optional<Sha256Digest> sha256;
  std::optional<EmbeddingInput> embedding;
  std::vector<std::string> labels;
  std::string case_ref;
};

struct SignalInfo {
  SignalRef ref;
  int64_t created_at_ms = 0;
  std::vector<std::string> signal_types;  // "pdq", "md5", "sha256", "embedding"; empty once withdrawn
  std::vector<std::string> labels;
  std::string submitted_by;
  bool withdrawn = false;
  int64_t withdrawn_at_ms = 0;
  int confirmed = 0, disputed = 0;
};

struct Match {
  SignalRef ref;
  std::string signal_type;        // "pdq", "md5", "sha256", "embedding"
  int distance = 0;               // PDQ Hamming distance (0 for exact matches)
  float similarity = 0;           // embeddings
  std::optional<Dihedral> transform;  // PDQ dihedral queries
  std::vector<std::string> labels;
  size_t query_index = 0;         // which of several PDQ queries matched
};

struct BankOptions {
  std::string data_dir;          // RocksDB lives in <data_dir>/db
  std::string node_id;           // this node's origin id
  int pdq_quality_floor = 50;
  std::function<int64_t()> now_ms;  // injectable clock; defaults to the system clock
  std::shared_ptr<const SigningKey> signing_key;  // signs this node's log checkpoints (required)
};

// What ApplySegment did with a verified segment.
struct AppliedSegment {
  uint64_t leaves = 0;
  uint64_t signals = 0, withdrawals = 0, opinions = 0, models = 0;
  uint64_t tree_size = 0;
};

// An embedding model's fingerprint, as members publish it (protocol ModelFingerprint).
struct ModelInput {
  std::string model_id;  // SHA-256 (hex) of the weights file
  std::string name, version;
  uint32_t dimension = 0;
  uint32_t input_width = 0, input_height = 0;
  std::string colour_order = "RGB";
  std::vector<float> mean, std;
  std::string metric = "cosine";
  float threshold = 0.9f;
};

struct BankStats {
  size_t signals = 0;      // live (not withdrawn) signals
  size_t pdq = 0, exact = 0, embeddings = 0;
  size_t pdq_index_bytes = 0;
  double rebuild_seconds = 0;
};

class Bank {
 public:
  static absl::StatusOr<std::unique_ptr<Bank>> Open(BankOptions options, std::unique_ptr<Salter> salter);
  ~Bank();

  absl::StatusOr<SignalRef> Submit(const SignalInput& input, const Actor& actor);
  // Items are validated one by one; the valid ones are written in one durable batch. Per-item results.
  std::vector<absl::StatusOr<SignalRef>> SubmitBatch(std::span<const SignalInput> inputs, const Actor& actor);
  absl::StatusOr<SignalInfo> Get(const SignalRef& ref) const;
  absl::Status Withdraw(const SignalRef& ref, const Actor& actor, const std::string& reason);
  absl::StatusOr<SignalRef> AddOpinion(const SignalRef& ref, bool confirmed, const Actor& actor);

  absl::StatusOr<std::vector<Match>> MatchPdq(std::span<const Hash256> raw, int max_distance) const;
  absl::StatusOr<std::vector<Match>> MatchDihedralSet(const std::array<Hash256, kNumDihedral>& raw, int max_distance) const;
  absl::StatusOr<std::vector<Match>> MatchMd5(const Md5Digest& raw) const;
  absl::StatusOr<std::vector<Match>> MatchSha256(const Sha256Digest& raw) const;
  absl::StatusOr<std::vector<Match>> MatchEmbedding(const EmbeddingInput& raw, float min_similarity, size_t limit) const;

  // Bearer tokens: returns the token (shown once); only its SHA-256 is stored. Names are unique
  // (AlreadyExists): a name identifies a member service in the audit log and owns its rate-limit bucket.
  absl::StatusOr<std::string> CreateToken(Role role, const std::string& name, const Actor& actor);
  std::optional<Actor> Authenticate(std::string_view token) const;
  size_t token_count() const;

  // Signed logs. ExportSegment: leaves [from_size, end) of `origin`'s log with a checkpoint at `end` and a
  // consistency proof from `from_size` (end <= from_size + max_leaves for this node's own log; for other
  // origins the end is the newest trusted checkpoint it can reach). Purged entries travel as leaf hashes.
  absl::StatusOr<std::string> ExportSegment(const std::string& origin, uint64_t from_size, uint64_t max_leaves) const;
  // Verifies a segment of `origin`'s log (signed by `origin_key`) against the last trusted checkpoint and
  // applies it in one durable write: entries, leaf hashes, tree, checkpoint, index rows, purges for its
  // withdrawals. A rejected segment changes nothing, except that equivocation evidence is stored and the
  // origin is refused from then on. Errors carry the rejection reason first (signed_log.h).
  absl::StatusOr<AppliedSegment> ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                              std::string_view segment_bytes);
  // The two halves of ApplySegment, for a sync pipeline that verifies the next segment (on another thread,
  // without the write lock) while this one is applied. TrustedState: what a segment of `origin` must extend
  // now. ApplyVerified: applies `result` = VerifySegment(origin, origin_key, base, bytes) — or records its
  // equivocation evidence — exactly as ApplySegment; Aborted ("stale", nothing applied) if the trusted
  // state is no longer `base` (verify again). `base` may be ahead of the store: a segment verified against
  // the previous segment's result applies once that one is applied.
  absl::StatusOr<TrustedLog> TrustedState(const std::string& origin) const;
  absl::StatusOr<AppliedSegment> ApplyVerified(const std::string& origin, const Ed25519PublicKey& origin_key,
                                               const TrustedLog& base, SegmentResult result);
  // The newest checkpoint this node signed (own origin) or trusts (others).
  absl::StatusOr<std::optional<CheckpointView>> LatestCheckpoint(const std::string& origin) const;
  // Recomputes every stored log from its leaf hashes and checks it against the newest checkpoint and the
  // origin's key (this node's key for its own log, the key recorded when a log was first trusted).
  absl::Status VerifyStoredLogs(std::ostream& report) const;
  absl::StatusOr<std::vector<std::string>> Evidence(const std::string& origin) const;
  bool IsEquivocating(const std::string& origin) const;
  // Full RocksDB compaction, so that purged bytes leave the files too.
  absl::Status Compact();

  // Federation hooks. The listener runs after every durable commit that adds to any log (own entries or an
  // applied segment); set it before serving.
  void SetCommitListener(std::function<void()> listener);
  // Suspension of a (poisoning) member: its new log entries are refused; with exclude_from_matching its
  // stored signals stop matching too. Persistent; audited.
  absl::Status Suspend(const std::string& origin, bool exclude_from_matching, const Actor& actor);
  absl::Status Unsuspend(const std::string& origin, const Actor& actor);
  bool IsSuspended(const std::string& origin) const;
  // Every origin whose log this node holds (its own included).
  absl::StatusOr<std::vector<std::string>> Origins() const;
  absl::StatusOr<SignalRef> PublishModel(const ModelInput& model, const Actor& actor);

  absl::StatusOr<std::vector<AuditRecord>> Audit(uint64_t after, size_t limit) const;
  absl::Status Backup(const std::string& dir) const;
  BankStats Stats() const;
  const std::string& node_id() const { return options_.node_id; }

 private:
  struct Meta;
  Bank(BankOptions options, std::unique_ptr<Salter> salter, std::unique_ptr<SignalStore> store);
  absl::Status Rebuild();
  absl::Status IndexEntry(const SignalRef& ref, std::string_view entry_bytes);
  // Adds a stored entry to the indexes; with `pdq_out` its PDQ hash is appended there (for one batched
  // insert by the caller) instead of inserted.
  absl::Status IndexParsed(const SignalRef& ref, const protocol::Entry& entry,
                           std::vector<std::pair<Hash256, uint64_t>>* pdq_out);
  std::vector<Match> Resolve(std::vector<Match> matches) const;
  absl::StatusOr<std::vector<Match>> MatchExact(ExactKind kind, std::span<const uint8_t> raw) const;

  BankOptions options_;
  std::unique_ptr<Salter> salter_;
  std::unique_ptr<SignalStore> store_;
  PdqIndex pdq_;
  ExactIndex md5_, sha256_;
  VectorIndex vectors_;

  // Adds entries (in sequence order) to the own log inside `batch`: leaf hashes, completed subtrees, tree
  // state and a new signed checkpoint. Returns the extended tree, to install after the commit.
  CompactTree AppendOwnEntries(StoreBatch* batch, const std::vector<std::pair<SignalRef, std::string>>& entries,
                               int64_t now) const;
  // A new entry of the own log with the header fields set (write_mu_ held).
  protocol::Entry NewOwnEntry(uint64_t sequence, int64_t now) const;
  // Appends `entries` (the next sequences, in order) to the own log in `batch`, commits it durably, then
  // advances the sequence and the tree and notifies the commit listener (write_mu_ held).
  absl::Status CommitOwnEntries(StoreBatch batch, const std::vector<std::pair<SignalRef, std::string>>& entries,
                                int64_t now);
  absl::StatusOr<CompactTree> LoadTree(const std::string& origin) const;
  void UnindexSignal(const SignalRef& ref, std::string_view entry_bytes);

  mutable std::mutex write_mu_;  // serialises appends to the own log and applied segments
  uint64_t next_sequence_ = 1;
  CompactTree own_tree_;     // guarded by write_mu_

  mutable std::shared_mutex meta_mu_;  // guards the maps below
  // Per local number (the id the indexes use): the signal's origin and label set, both interned, and its
  // sequence. 16 bytes a signal instead of strings: 10 M signals fit in 160 MB.
  struct LocalSignal {
    uint32_t origin;     // index into origins_
    uint32_t label_set;  // index into label_sets_
    uint64_t sequence;
  };
  std::vector<LocalSignal> locals_;
  std::vector<std::string> origins_;
  absl::flat_hash_map<std::string, uint32_t> origin_index_;
  std::vector<std::vector<std::string>> label_sets_;
  absl::flat_hash_map<std::string, uint32_t> label_set_index_;  // labels joined with '\n'
  // origin index -> (sequence - 1) -> local number + 1 (0: not indexed). Dense: logs are sequences.
  std::vector<std::vector<uint64_t>> local_by_sequence_;
  uint64_t RegisterLocal(const SignalRef& ref, const google::protobuf::RepeatedPtrField<std::string>& labels);  // meta_mu_ held
  std::optional<uint64_t> LocalOf(const SignalRef& ref) const;  // meta_mu_ held (shared)
  absl::flat_hash_map<std::string, Actor> tokens_;       // SHA-256 of token -> actor
  double rebuild_seconds_ = 0;
  std::atomic<size_t> live_signals_{0};
  void NotifyCommit() const;
  void RegisterModel(const std::string& model_id, uint32_t dimension);
  std::optional<uint32_t> ModelDimension(const std::string& model_id) const;
  absl::flat_hash_map<std::string, uint32_t> models_;  // model_id -> dimension; under meta_mu_
  mutable std::mutex listener_mu_;
  std::function<void()> commit_listener_;  // under listener_mu_
  struct Suspension {
    bool exclude = false;  // stored signals hidden from matches too
    uint64_t from = 0;     // entries with a larger sequence are refused (stored, not indexed)
  };
  absl::flat_hash_map<std::string, Suspension> suspended_;  // under meta_mu_
  std::optional<uint64_t> SuspendedFrom(const std::string& origin) const;
};

}  // namespace hashbank
