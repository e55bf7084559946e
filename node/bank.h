// Bank: one node's signal bank — a thin façade over the collaborators that each own one job:
//
//   SignalIntake   validation and salting (only salted values go further)
//   OwnLog         the node's own signed log: sequences, tree, checkpoints; group-committed appends
//   LogReplica     every origin's log: export, verification and application of segments, suspension
//   SignalIndex    the in-memory match indexes and what a match resolves to
//   TokenRegistry  bearer tokens
//   CommitNotifier the federation's wake-up after every commit that adds to a log
//
// None of them calls back into Bank. A write is acknowledged (the call returns OK) only after its RocksDB
// batch is durable; the indexes are updated after that, outside every write lock, so a crash between the two
// is repaired by the rebuild at Open. Matches run concurrently with each other and with writes.
//
// Errors: InvalidArgument (bad input, message names the field), FailedPrecondition (quality below the
// floor, withdrawing another origin's signal), NotFound, AlreadyExists (already withdrawn), storage errors
// as SignalStore returns them. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "hashing/exact_hash.h"
#include "hashing/hash256.h"
#include "node/bank_catalog.h"
#include "node/commit_notifier.h"
#include "node/content_catalog.h"
#include "node/kept_at_origin.h"
#include "node/notifications.h"
#include "node/log_replica.h"
#include "node/own_log.h"
#include "node/roles.h"
#include "node/signal_index.h"
#include "node/signal_intake.h"
#include "node/token_registry.h"
#include "protocol/signed_log.h"
#include "storage/signal_store.h"

namespace hashbank {

// Set while a salt rotation is being applied (node/salt_rotation.h): the target salt's check value. A node
// does not serve while it is set, and only that salt can finish the rotation.
inline constexpr char kSaltRotationTargetRow[] = "salt_rotation/target";

struct SignalInfo {
  SignalRef ref;
  int64_t created_at_ms = 0;
  std::vector<std::string> signal_types;  // "pdq", "md5", "sha256", "embedding", ...; empty once withdrawn
  // Of those, the types kept on this node, outside the signed log (own signals; node/kept_at_origin.h).
  std::vector<std::string> kept_at_origin;
  std::vector<std::string> labels;
  std::string submitted_by;
  // Empty once withdrawn (the entry's bytes are purged), like the values.
  std::string bank, content_id, note, metadata_json, case_ref;
  bool withdrawn = false;
  int64_t withdrawn_at_ms = 0;
  int confirmed = 0, disputed = 0;
};

struct BankOptions {
  std::string data_dir;          // RocksDB lives in <data_dir>/db
  std::string node_id;           // this node's origin id
  int pdq_quality_floor = 50;
  std::function<int64_t()> now_ms;  // injectable clock; defaults to the system clock
  std::shared_ptr<const SigningKey> signing_key;  // signs this node's log checkpoints (required)
  SignalStoreOptions store;      // the store's environment (tests inject faults)
  NotificationOptions notifications;  // watch lists and webhook retries
  // Fingerprint types of this node's own signals kept out of the signed log (node/kept_at_origin.h).
  KeepAtOrigin keep_at_origin;
};

// A watch entry as a member sends it: raw values, salted by Bank::AddWatch.
struct WatchInput {
  std::string content_ref;
  std::optional<Hash256> pdq;
  std::optional<Md5Digest> md5;
  std::optional<Sha256Digest> sha256;
  std::optional<std::string> robust;  // a robust fingerprint's encoding (robust_fingerprint.h), raw
  std::optional<std::string> robust_mirrored;  // of the upload flipped left to right (only with robust)
  std::optional<VideoInput> vpdq;  // a video upload's frames (no keyframes)
};

// Which signals a listing returns: one of bank, label or case_ref; after a cursor (a signal id), at most limit.
struct SignalListing {
  std::string bank, label, case_ref;
  std::optional<SignalRef> after;
  size_t limit = 100;
};

// What a match request narrows to: matches of these banks only (empty: every bank) and with at least one of
// these labels (empty: any).
struct MatchFilter {
  std::vector<std::string> banks;
  std::vector<std::string> labels;
  bool empty() const { return banks.empty() && labels.empty(); }
};
bool PassesMatchFilter(const MatchFilter& filter, const Match& match);
void ApplyMatchFilter(const MatchFilter& filter, std::vector<Match>* matches);

// A bank as listed: its configuration here and its live signals on this node (all origins, and its own).
struct BankView {
  BankConfig config;
  size_t signals = 0;
};

struct BankStats {
  size_t signals = 0;      // live (not withdrawn) signals
  size_t pdq = 0, exact = 0, embeddings = 0;
  size_t md5 = 0;
  size_t pdq_index_bytes = 0;
  size_t robust = 0, robust_index_bytes = 0;
  size_t videos = 0, video_frames = 0, video_index_bytes = 0;
  size_t video_keyframes = 0, video_keyframe_bytes = 0;
  double rebuild_seconds = 0;
};

class Bank {
 public:
  static absl::StatusOr<std::unique_ptr<Bank>> Open(BankOptions options, std::unique_ptr<Salter> salter);
  ~Bank();

  absl::StatusOr<SignalRef> Submit(const SignalInput& input, const Actor& actor);
  // Items are validated one by one; the valid ones are written in one durable batch, each with its audit
  // record ("submit"). Per-item results.
  std::vector<absl::StatusOr<SignalRef>> SubmitBatch(std::span<const SignalInput> inputs, const Actor& actor);
  // `hashbank import`'s batch: as SubmitBatch, with `state_row` (name, value: the import's progress) in the
  // same durable batch and one audit record for the batch ("import", target "<origin>:<first>..<last>").
  std::vector<absl::StatusOr<SignalRef>> ImportBatch(std::span<const SignalInput> inputs, const Actor& actor,
                                                     const std::pair<std::string, std::string>& state_row);
  // ImportBatch in three steps, for a stopped node's import that prepares its next batch while the last ones
  // are written and indexed (node/import_pipeline.h). An ImportGate holds off bank deletions and renames (the
  // bank gate, shared) from its construction to its destruction, which must happen on one thread; no other
  // submission of that thread may run meanwhile (a waiting deletion would block it).
  // - StartImportBatch, under a gate: validates, builds and queues the batch in the log.
  // - WriteImportBatch: waits until it is durable (or failed).
  // - IndexImportBatch: indexes it and returns what ImportBatch would have.
  // The last two may run on other threads, exactly once per batch, each in the order the batches started,
  // and before the gate goes.
  class ImportGate {
   public:
    explicit ImportGate(Bank& bank) ABSL_NO_THREAD_SAFETY_ANALYSIS;
    ~ImportGate() ABSL_NO_THREAD_SAFETY_ANALYSIS;
    ImportGate(const ImportGate&) = delete;
    ImportGate& operator=(const ImportGate&) = delete;

   private:
    friend class Bank;
    Bank& bank_;
  };
  struct StartedBatch {
    std::vector<absl::StatusOr<SignalRef>> results;  // per input: the invalid ones' errors
    std::vector<size_t> written;                     // the inputs queued, in log order
    OwnLog::InFlight in_flight;
  };
  struct WrittenBatch {
    std::vector<absl::StatusOr<SignalRef>> results;  // per input: errors so far
    std::vector<size_t> written;                     // the inputs durable, in log order
    OwnLog::Appended appended;                       // their entries
  };
  StartedBatch StartImportBatch(const ImportGate& gate, std::span<const SignalInput> inputs, const Actor& actor,
                                const std::pair<std::string, std::string>& state_row) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  WrittenBatch WriteImportBatch(StartedBatch started);
  std::vector<absl::StatusOr<SignalRef>> IndexImportBatch(WrittenBatch written);
  // Every input or none: one invalid item is its error ("item N: ...") and nothing is written. `row` builds a
  // state row from the new signals' refs (in input order), written in the same durable batch (a victim's case
  // record names its signals).
  using RowBuilder = std::function<std::pair<std::string, std::string>(std::span<const SignalRef>)>;
  absl::StatusOr<std::vector<SignalRef>> SubmitAll(std::span<const SignalInput> inputs, const Actor& actor,
                                                   const RowBuilder& row);
  // Salt rotation (node/salt_rotation.h). Re-publishes, `chunk` at a time (each one durable append), every
  // live signal of this node's own log whose salt_id is `old_salt_id`: `resalt(signal, sequence)` gives the
  // new signal (salt_id and resalted_from set), appended with the old one's current labels; the old signal is
  // withdrawn in the same append (reason "salt_rotation"). The number re-published. For a stopped node.
  using Resalter = std::function<absl::StatusOr<protocol::Signal>(const protocol::Signal&, uint64_t)>;
  absl::StatusOr<uint64_t> RepublishOwnSignals(const std::string& old_salt_id, const Resalter& resalt, size_t chunk,
                                               const Actor& actor);
  // Old sequence -> new sequence for every re-published own signal (Signal.resalted_from), from the log.
  absl::StatusOr<std::map<uint64_t, uint64_t>> ResaltedOwnSignals() const;
  // One durable batch: `puts` (state rows), and the database's salt id and check value set to `to`'s; the
  // rotation's target row (node/salt_rotation.h) goes.
  absl::Status CommitSaltSwitch(const Salter& to, const std::vector<std::pair<std::string, std::string>>& puts,
                                const std::vector<std::string>& deletes);

  // Writes one state row, durably.
  absl::Status PutStateRow(const std::string& name, const std::string& value);
  // A state row of this node (an import's progress), or nullopt.
  absl::StatusOr<std::optional<std::string>> GetStateRow(const std::string& name) const;
  // Every state row whose name starts with `prefix`, in name order (names without the prefix).
  absl::Status ForEachStateRow(std::string_view prefix,
                               const std::function<absl::Status(std::string_view, std::string_view)>& fn) const;
  // Every live signal of `bank` that carries a PDQ hash, with the hash unsalted (the salt is this node's: an
  // operator's export), in (origin, sequence) order. MD5 and SHA-256 are salted with HMAC and cannot be
  // unsalted: `exact_only` counts the signals that carry nothing else.
  struct ExportedSignal {
    SignalRef ref;
    Hash256 pdq;
    int quality = 0;
    std::vector<std::string> labels;
    std::string content_id;
  };
  absl::Status ExportBank(std::string_view bank, const std::function<void(const ExportedSignal&)>& fn,
                          size_t* exact_only) const;
  absl::StatusOr<SignalInfo> Get(const SignalRef& ref) const;
  absl::Status Withdraw(const SignalRef& ref, const Actor& actor, const std::string& reason) ABSL_LOCKS_EXCLUDED(edits_mu_);
  absl::StatusOr<SignalRef> AddOpinion(const SignalRef& ref, bool confirmed, const Actor& actor);
  // Replaces the labels of one of this node's signals with a signed LabelEdit entry (node/label_edits.h),
  // which federates; returns the edit's ref. InvalidArgument for bad labels, NotFound, FailedPrecondition
  // for another origin's signal, AlreadyExists if withdrawn, Aborted while another edit of it is in flight.
  absl::StatusOr<SignalRef> EditLabels(const SignalRef& ref, std::vector<std::string> labels, const Actor& actor)
      ABSL_LOCKS_EXCLUDED(edits_mu_);
  absl::StatusOr<SignalRef> PublishModel(const ModelInput& model, const Actor& actor);
  // The fingerprint of a model published here or received from a member (the first one of its id).
  std::optional<protocol::ModelFingerprint> PublishedModel(const std::string& model_id) const {
    return index_.Model(model_id);
  }

  absl::StatusOr<std::vector<Match>> MatchPdq(std::span<const Hash256> raw, int max_distance) const;
  absl::StatusOr<std::vector<Match>> MatchDihedralSet(const std::array<Hash256, kNumDihedral>& raw, int max_distance) const;
  // Raw local features of a query image (direct and mirrored, kRobustQueryFeatures each), salted here.
  absl::StatusOr<std::vector<Match>> MatchRobust(std::span<const LocalFeature> raw_direct,
                                                 std::span<const LocalFeature> raw_mirrored) const;
  // A query video's passes in raw vPDQ frames (as hashed, mirrored, bars removed), salted here.
  absl::StatusOr<std::vector<Match>> MatchVideo(std::span<const VideoQueryPass> raw_passes, double frame_interval,
                                                const VideoMatchRule& rule) const;
  // A query video's keyframes (raw local features, direct and mirrored), salted here (SignalIndex's rule).
  absl::StatusOr<std::vector<Match>> MatchVideoKeyframes(std::span<const VideoKeyframeQuery> raw) const;
  absl::StatusOr<std::vector<Match>> MatchMd5(const Md5Digest& raw) const;
  // This node's live signals in `bank` carrying exactly the raw PDQ (else MD5, else SHA-256) of `raw`,
  // whether or not the bank's matching is enabled here (an import's duplicates and withdrawals).
  absl::StatusOr<std::vector<SignalRef>> OwnSignalsWithHash(std::string_view bank, const SignalInput& raw) const;
  // The same for each of `raw` (the PDQ ones in one index query: one wait for the index's lock, not one each).
  absl::StatusOr<std::vector<std::vector<SignalRef>>> OwnSignalsWithHashes(std::string_view bank,
                                                                           std::span<const SignalInput> raw) const;
  absl::StatusOr<std::vector<Match>> MatchSha256(const Sha256Digest& raw) const;
  // At most `limit` matches that are enabled (bank and content state) and pass `filter`, most similar first.
  absl::StatusOr<std::vector<Match>> MatchEmbedding(const EmbeddingInput& raw, float min_similarity, size_t limit,
                                                    const MatchFilter& filter = {}) const;

  // Bearer tokens (TokenRegistry): the token is returned once; only its SHA-256 is stored.
  absl::StatusOr<std::string> CreateToken(Role role, const std::string& name, const Actor& actor, int64_t expires_ms = 0);
  std::vector<TokenRegistry::Listed> ListTokens() const { return tokens_.List(); }
  absl::Status RevokeToken(const std::string& name, const Actor& actor) { return tokens_.Revoke(name, actor); }
  std::optional<Actor> Authenticate(std::string_view token) const;
  size_t token_count() const;

  // Signed logs (LogReplica; see log_replica.h for the contracts).
  absl::StatusOr<std::string> ExportSegment(const std::string& origin, uint64_t from_size, uint64_t max_leaves) const;
  absl::StatusOr<AppliedSegment> ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                              std::string_view segment_bytes);
  absl::StatusOr<TrustedLog> TrustedState(const std::string& origin) const;
  // Verification on the caller's thread without any lock; Apply applies it if its base is still trusted.
  PreparedSegment PrepareSegment(const std::string& origin, const Ed25519PublicKey& origin_key, TrustedLog base,
                                 std::string_view segment_bytes) const;
  absl::StatusOr<AppliedSegment> ApplyPrepared(PreparedSegment prepared);
  // ApplyPrepared of an already verified `result` (kept for callers that verified themselves).
  absl::StatusOr<AppliedSegment> ApplyVerified(const std::string& origin, const Ed25519PublicKey& origin_key,
                                               const TrustedLog& base, SegmentResult result);
  absl::StatusOr<std::optional<CheckpointView>> LatestCheckpoint(const std::string& origin) const;
  // Recovery of a node restored from an older backup (Federation::RecoverOwnLog): a segment of this node's
  // own log fetched back from a peer, verified against the own key and applied (LogReplica::RecoverOwn);
  // the own log then continues from its end. Only before this node appends anything.
  absl::StatusOr<AppliedSegment> RecoverOwnTail(std::string_view segment_bytes);
  // A peer's signed checkpoint of `origin` checked against the trusted log (LogReplica::CheckGossip).
  absl::Status CheckGossip(const std::string& origin, const Ed25519PublicKey& origin_key, std::string_view signed_checkpoint) {
    return replica_.CheckGossip(origin, origin_key, signed_checkpoint);
  }
  const Ed25519PublicKey& public_key() const { return options_.signing_key->public_key(); }
  absl::Status VerifyStoredLogs(std::ostream& report) const;
  // `hashbank verify`'s table checks beyond the logs: the audit chain, and every index row (exact digests,
  // labels, bank and case listings) points at a stored signal that carries that digest, label, bank or case,
  // and every stored signal has all those rows (but a suspended origin's signals stored since its suspension,
  // which have none). One report line per check; the first failure is returned (DataLoss).
  absl::Status VerifyTables(std::ostream& report) const;
  absl::StatusOr<std::vector<std::string>> Evidence(const std::string& origin) const;
  bool IsEquivocating(const std::string& origin) const;
  absl::StatusOr<std::vector<std::string>> Origins() const;
  // Full RocksDB compaction, so that purged bytes leave the files too.
  absl::Status Compact();

  // The federation's hook: runs after every durable commit that adds to any log; set it before serving.
  void SetCommitListener(std::function<void()> listener);
  // The webhook dispatcher's hook, likewise.
  void SetEventListener(std::function<void()> listener);
  // Watch lists, webhooks and their outbox (Notifications; delivered by WebhookDispatcher).
  Notifications* notifications() { return &notifications_; }
  // Salts and adds a member's watch entries; their ids.
  absl::StatusOr<std::vector<std::string>> AddWatch(const std::vector<WatchInput>& items, const Actor& actor);
  // Suspension of a (poisoning) member: its new log entries are refused (stored for relaying and obeyed
  // as withdrawals, never indexed); with exclude_from_matching its stored signals stop matching too.
  // Persistent; audited. Lifting it accepts what was stored meanwhile: those signals get their index rows
  // and match from then on (what the rebuild at the next start would do).
  absl::Status Suspend(const std::string& origin, bool exclude_from_matching, const Actor& actor);
  absl::Status Unsuspend(const std::string& origin, const Actor& actor);
  bool IsSuspended(const std::string& origin) const;

  // Banks (BankCatalog holds their configuration; which bank a signal is in travels with it). Matches of a
  // bank whose matching is disabled here (ratio 0, or the signal outside a partial ratio) are dropped by
  // every Match* method.
  std::vector<BankView> ListBanks() const;
  absl::StatusOr<BankView> GetBank(std::string_view name) const;
  absl::StatusOr<BankConfig> CreateBank(BankConfig config, const Actor& actor);
  absl::StatusOr<BankConfig> UpdateBank(std::string_view name, const BankUpdate& update, const Actor& actor);
  // Deletes a configured bank: withdraws every live signal of this node in it (consent withdrawn everywhere,
  // reason "bank_deleted"), then forgets its configuration. FailedPrecondition for the default bank, or
  // while the bank holds other origins' live signals (they are not this node's to withdraw: set its
  // matching_enabled_ratio to 0 instead). Returns how many signals were withdrawn.
  // Submissions to the bank are refused (FailedPrecondition) from the start of the deletion; one already
  // past its bank check is durable before the deletion starts, and is withdrawn with the rest.
  absl::StatusOr<size_t> DeleteBank(std::string_view name, const Actor& actor) ABSL_LOCKS_EXCLUDED(bank_gate_);
  // Known here: configured, or named by stored signals (a peer's bank).
  bool BankExists(std::string_view name) const;
  // Configured here (the default bank always is): only configured banks take this node's submissions.
  bool BankConfigured(std::string_view name) const;
  // Renames a configured bank that holds no signals (signals carry their bank's name in signed entries,
  // which cannot change): FailedPrecondition otherwise; AlreadyExists if `to` is known.
  absl::Status RenameBank(std::string_view from, std::string_view to, const Actor& actor) ABSL_LOCKS_EXCLUDED(bank_gate_);
  // HMA's content model (ContentCatalog): integer ids, and this node's enable state and note of a signal.
  // Disabled content is dropped by every Match* method too.
  absl::StatusOr<int64_t> ContentId(const SignalRef& ref);
  absl::StatusOr<SignalRef> ContentRef(int64_t id) const;
  ContentState GetContentState(const SignalRef& ref) const;
  absl::Status SetContentState(const SignalRef& ref, const ContentState& state, const Actor& actor);
  // Signal ids of a bank, a label or a case, in (origin, sequence) order (live signals only).
  absl::StatusOr<std::vector<SignalRef>> ListSignals(const SignalListing& listing) const;

  absl::StatusOr<std::vector<AuditRecord>> Audit(uint64_t after, size_t limit) const;
  absl::Status Backup(const std::string& dir) const;
  BankStats Stats() const;
  // Live signals per label here (all origins), sorted by label.
  std::vector<std::pair<std::string, size_t>> LabelCounts() const { return index_.LabelCounts(); }
  const std::string& node_id() const { return options_.node_id; }
  // The federation salt's public check value (FederationSalt::CheckValue): peers compare it before syncing.
  const std::string& salt_check() const { return intake_.salt_check(); }

 private:
  std::vector<absl::StatusOr<SignalRef>> SubmitBatchWithRow(std::span<const SignalInput> inputs, const Actor& actor,
                                                            bool all_or_nothing, const RowBuilder& row,
                                                            bool audit_per_batch = false)
      ABSL_LOCKS_EXCLUDED(bank_gate_);
  // SubmitBatchWithRow's steps: validation, build and the log's queued append under the gate; the durable
  // write; the index.
  StartedBatch StartBatchLocked(std::span<const SignalInput> inputs, const Actor& actor, bool all_or_nothing,
                                const RowBuilder& row, bool audit_per_batch) ABSL_SHARED_LOCKS_REQUIRED(bank_gate_);
  WrittenBatch WriteBatch(StartedBatch started);
  std::vector<absl::StatusOr<SignalRef>> IndexBatch(WrittenBatch written);
  Bank(BankOptions options, std::unique_ptr<Salter> salter, std::unique_ptr<SignalStore> store);
  // Adds every stored entry to the indexes (PDQ bulk-loaded); run once by Open.
  absl::Status Rebuild();
  // The model check of an embedding: a published model of exactly this dimension.
  absl::Status CheckEmbeddingModel(const protocol::Signal& signal) const;
  // Indexes entries this node just appended (durable already), with their kept parts.
  void IndexAppended(const OwnLog::Appended& appended);
  // Merges own signal `sequence`'s kept parts into `sig` (nothing to read while no kept row exists; a row that
  // does not parse is skipped with a line on stderr: only storage errors are returned).
  absl::Status MergeKeptParts(uint64_t sequence, protocol::Signal* sig) const;
  // A stored signal's robust fingerprint (kept parts merged): what the robust index verifies a candidate with.
  absl::StatusOr<std::string> StoredRobust(const SignalRef& ref) const;
  // Drops the matches of banks disabled here (BankCatalog::MatchEnabled).
  absl::StatusOr<std::vector<Match>> Enabled(absl::StatusOr<std::vector<Match>> matches) const;

  const BankOptions options_;
  const std::unique_ptr<SignalStore> store_;
  SignalIntake intake_;
  CommitNotifier notifier_;
  SignalIndex index_;
  OwnLog own_log_;
  LogReplica replica_;
  TokenRegistry tokens_;
  BankCatalog catalog_;
  ContentCatalog content_;
  Notifications notifications_;
  double rebuild_seconds_ = 0;  // written once by Open
  // Set once any kept row (node/kept_at_origin.h) exists: before that, no own signal needs a lookup.
  std::atomic<bool> has_kept_rows_{false};
  // Label edits of this node's signals queued but not yet durable: signal sequence -> the new labels. A
  // withdrawal built meanwhile (builders run in log order) deletes these labels' listing rows too.
  mutable absl::Mutex edits_mu_;
  // signal sequence -> (the edit's own sequence, its labels)
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, std::vector<std::string>>> edits_in_flight_ ABSL_GUARDED_BY(edits_mu_);
  // DeleteBank's work once the bank is marked as being deleted.
  absl::StatusOr<size_t> WithdrawBankAndForget(std::string_view name, const Actor& actor);
  // Submissions hold the gate shared from their bank check to their durable append; a bank's deletion or
  // renaming takes it exclusively to change what a submission may name. A bank being deleted (its own
  // signals withdrawn one by one, which can take long) refuses submissions meanwhile.
  mutable absl::Mutex bank_gate_;
  std::set<std::string, std::less<>> deleting_banks_ ABSL_GUARDED_BY(bank_gate_);
};

}  // namespace hashbank
