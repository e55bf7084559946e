#include "node/log_replica.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <set>

#include <google/protobuf/arena.h>

#include "absl/strings/str_cat.h"
#include "node/entry_bytes.h"
#include "node/kept_at_origin.h"
#include "node/label_edits.h"
#include "node/signal_intake.h"
#include "node/status_macros.h"
#include "node/store_subtree_source.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

// Tree size of a SignedCheckpoint's bytes; 0 if they do not parse.
uint64_t CheckpointSize(const std::string& bytes) {
  pb::SignedCheckpoint sc;
  pb::Checkpoint c;
  return sc.ParseFromString(bytes) && c.ParseFromString(sc.checkpoint()) ? c.tree_size() : 0;
}

}  // namespace

std::optional<TrustedLog> PreparedSegment::Next() const {
  if (!result.segment.ok()) return std::nullopt;
  return TrustedLog{result.segment->tree, result.segment->checkpoint};
}

LogReplica::LogReplica(SignalStore* store, SignalIndex* index, OwnLog* own_log, CommitNotifier* notifier,
                       std::function<int64_t()> now_ms)
    : store_(store), index_(index), own_log_(own_log), notifier_(notifier), now_ms_(std::move(now_ms)) {}

absl::Status LogReplica::Load() {
  absl::flat_hash_map<std::string, Suspension> loaded;
  if (absl::Status s = store_->ForEachSuspension([&](std::string_view origin, const Suspension& sus) {
        loaded[std::string(origin)] = sus;
      });
      !s.ok()) {
    return s;
  }
  for (const auto& [origin, sus] : loaded) index_->SetExcluded(origin, sus.exclude);
  absl::MutexLock lock(&suspension_mu_);
  suspended_ = std::move(loaded);
  return absl::OkStatus();
}

absl::StatusOr<CompactTree> LogReplica::LoadTree(const std::string& origin) const {
  auto state = store_->GetLogTree(origin);
  if (!state.ok()) return state.status();
  if (!state->has_value()) return CompactTree();
  auto tree = CompactTree::Deserialize(**state);
  if (!tree.ok()) return absl::DataLossError(absl::StrCat("log ", origin, ": stored tree state: ", std::string(tree.status().message())));
  return tree;
}

absl::StatusOr<std::optional<CheckpointView>> LogReplica::LatestCheckpoint(const std::string& origin) const {
  auto bytes = store_->GetCheckpoint(origin);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<CheckpointView>();
  pb::SignedCheckpoint sc;
  pb::Checkpoint c;
  if (!sc.ParseFromString(**bytes) || !c.ParseFromString(sc.checkpoint()) || c.root_hash().size() != 32) {
    return absl::DataLossError(absl::StrCat("stored checkpoint of ", origin, " does not parse"));
  }
  CheckpointView v;
  v.origin = c.origin();
  v.tree_size = c.tree_size();
  std::memcpy(v.root.data(), c.root_hash().data(), 32);
  v.timestamp_ms = c.timestamp_unix_ms();
  v.signed_bytes = **bytes;
  return std::optional<CheckpointView>(std::move(v));
}

namespace {
// Entry bytes in one segment of this node's own log (a peer refuses responses over 256 MiB by default).
constexpr uint64_t kMaxSegmentEntryBytes = uint64_t{64} << 20;
}  // namespace

absl::StatusOr<std::string> LogReplica::ExportSegment(const std::string& origin, uint64_t from_size,
                                                      uint64_t max_leaves) const {
  if (max_leaves == 0) return absl::InvalidArgumentError("max_leaves must be positive");
  const bool own = origin == own_log_->node_id();
  std::string checkpoint_bytes;
  uint64_t end = 0;
  if (own) {
    // Own log: sign a checkpoint at exactly the end this segment needs, within what is durable.
    const uint64_t size = own_log_->durable_size();
    if (from_size > size) return absl::OutOfRangeError(absl::StrCat("the log of ", origin, " has ", size, " entries"));
    end = std::min(size, from_size + max_leaves);
    // Large entries (a long video's frames are up to ~270 KB) could make max_leaves entries larger than a
    // peer accepts: the segment ends where its entries pass kMaxSegmentEntryBytes (at least one entry).
    uint64_t bytes = 0, capped_end = end;
    absl::Status sized = store_->ScanEntries(origin, from_size + 1, end + 1, [&](uint64_t sequence, std::string_view body) {
      bytes += body.size();
      if (bytes > kMaxSegmentEntryBytes && sequence > from_size + 1) {
        capped_end = sequence - 1;
        return absl::CancelledError("segment full");
      }
      return absl::OkStatus();
    });
    if (!sized.ok() && !absl::IsCancelled(sized)) return sized;
    end = capped_end;
    auto signed_bytes = own_log_->SignedCheckpointAt(end);
    if (!signed_bytes.ok()) return signed_bytes.status();
    checkpoint_bytes = std::move(*signed_bytes);
  } else {
    auto at = store_->GetCheckpointAtOrBelow(origin, from_size + max_leaves);
    if (!at.ok()) return at.status();
    auto latest = store_->GetCheckpoint(origin);
    if (!latest.ok()) return latest.status();
    if (!latest->has_value()) return absl::NotFoundError(absl::StrCat("no log of ", origin, " here"));
    std::optional<std::string> chosen = *at;
    if (!chosen || CheckpointSize(*chosen) <= from_size) chosen = *latest;  // no stored end in range: the newest
    end = CheckpointSize(*chosen);
    if (from_size > end) return absl::OutOfRangeError(absl::StrCat("the log of ", origin, " has ", end, " entries here"));
    checkpoint_bytes = *chosen;
  }
  // A purged leaf travels as its hash only together with the withdrawal that purged it (VerifySegment
  // insists), so a segment whose range holds a purged leaf must reach that withdrawal: extend the end.
  auto withdrawal_of = [&](uint64_t sequence) -> uint64_t {
    auto tomb = store_->GetTombstone(SignalRef{origin, sequence});
    if (!tomb.ok() || !tomb->has_value()) return 0;
    return (*tomb)->withdrawal.sequence;
  };
  for (int attempt = 0;; ++attempt) {
    google::protobuf::Arena arena;  // the leaves of a large segment, without an allocation each
    pb::LogSegment& segment = *google::protobuf::Arena::CreateMessage<pb::LogSegment>(&arena);
    if (!segment.mutable_checkpoint()->ParseFromString(checkpoint_bytes)) return absl::DataLossError("stored checkpoint does not parse");
    segment.set_first_index(from_size);
    uint64_t needed_end = end;
    // One range scan over the entries; a purged entry (a gap in the scan) travels as its leaf hash.
    uint64_t next = from_size + 1;  // the sequence the next leaf must have
    auto add_purged_until = [&](uint64_t sequence) -> absl::Status {
      for (; next < sequence; ++next) {
        auto hash = store_->GetLeaf(SignalRef{origin, next});
        if (!hash.ok()) return hash.status();
        if (!hash->has_value()) return absl::DataLossError(absl::StrCat("log ", origin, ": leaf ", next - 1, " is missing"));
        segment.add_leaves()->set_leaf_hash(**hash);
        needed_end = std::max(needed_end, withdrawal_of(next));
      }
      return absl::OkStatus();
    };
    absl::Status scanned = store_->ScanEntries(origin, from_size + 1, end + 1, [&](uint64_t sequence, std::string_view bytes) {
      if (absl::Status s = add_purged_until(sequence); !s.ok()) return s;
      segment.add_leaves()->set_entry(bytes.data(), bytes.size());
      next = sequence + 1;
      return absl::OkStatus();
    });
    if (!scanned.ok()) return scanned;
    if (absl::Status s = add_purged_until(end + 1); !s.ok()) return s;
    if (needed_end > end && attempt < 8) {
      if (own) {
        end = std::min(needed_end, own_log_->durable_size());
        auto signed_bytes = own_log_->SignedCheckpointAt(end);
        if (!signed_bytes.ok()) return signed_bytes.status();
        checkpoint_bytes = std::move(*signed_bytes);
      } else {
        auto latest = store_->GetCheckpoint(origin);  // holds the withdrawal: it was applied to purge the leaf
        if (!latest.ok()) return latest.status();
        if (!latest->has_value() || CheckpointSize(**latest) == 0) return absl::DataLossError("stored checkpoint does not parse");
        checkpoint_bytes = **latest;
        end = CheckpointSize(checkpoint_bytes);
      }
      continue;
    }
    if (from_size > 0 && end > from_size) {
      StoreSubtreeSource source(store_, origin);
      auto proof = ConsistencyProof(from_size, end, source);
      if (!proof.ok()) return proof.status();
      for (const MerkleHash& h : *proof) segment.add_consistency_proof(HashBytes(h));
    }
    return segment.SerializeAsString();
  }
}

bool LogReplica::IsEquivocating(const std::string& origin) const {
  auto flag = store_->IsEquivocating(origin);
  return flag.ok() && *flag;
}

absl::StatusOr<std::vector<std::string>> LogReplica::Evidence(const std::string& origin) const {
  return store_->ListEvidence(origin);
}

absl::StatusOr<TrustedLog> LogReplica::ReadTrusted(const std::string& origin) const {
  TrustedLog trusted;
  auto tree = LoadTree(origin);
  if (!tree.ok()) return tree.status();
  trusted.tree = std::move(*tree);
  auto latest = LatestCheckpoint(origin);
  if (!latest.ok()) return latest.status();
  trusted.checkpoint = std::move(*latest);
  return trusted;
}

absl::StatusOr<TrustedLog> LogReplica::TrustedState(const std::string& origin) const {
  // Under the apply lock: the tree and the checkpoint are two rows, and an apply between the two reads
  // would pair a tree with a checkpoint of another size.
  absl::MutexLock lock(&apply_mu_);
  return ReadTrusted(origin);
}

PreparedSegment LogReplica::Prepare(const std::string& origin, const Ed25519PublicKey& origin_key, TrustedLog base,
                                    std::string_view segment_bytes) const {
  PreparedSegment p;
  p.origin = origin;
  p.origin_key = origin_key;
  p.result = VerifySegment(origin, origin_key, base, segment_bytes);
  p.base = std::move(base);
  return p;
}

absl::StatusOr<AppliedSegment> LogReplica::ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                                        std::string_view segment_bytes) {
  // Verified outside the lock; if another thread advanced the origin meanwhile, verify again against the
  // new state (the segment may now be partly or wholly known: a rollback or gap then).
  for (int attempt = 0;; ++attempt) {
    auto base = TrustedState(origin);
    if (!base.ok()) return base.status();
    auto applied = Apply(Prepare(origin, origin_key, std::move(*base), segment_bytes));
    if (!absl::IsAborted(applied.status()) || attempt == 3) return applied;
  }
}

absl::Status LogReplica::RecordEquivocation(const std::string& origin, const std::string& evidence_bytes) {
  const int64_t now = now_ms_();
  StoreBatch evidence;
  evidence.PutEvidence(origin, now, evidence_bytes);
  evidence.MarkEquivocating(origin);
  evidence.AddAudit("system", "equivocation", origin);
  return store_->Commit(std::move(evidence), now);
}

absl::Status LogReplica::CheckGossip(const std::string& origin, const Ed25519PublicKey& origin_key,
                                     std::string_view signed_checkpoint) {
  if (origin == own_log_->node_id()) return absl::OkStatus();
  auto theirs = VerifyCheckpoint(signed_checkpoint, origin, origin_key);
  if (!theirs.ok()) return absl::OkStatus();  // not the origin's word: proves nothing
  absl::MutexLock lock(&apply_mu_);
  if (IsEquivocating(origin)) return absl::FailedPreconditionError(absl::StrCat("origin ", origin, " equivocated"));
  auto trusted = ReadTrusted(origin);
  if (!trusted.ok()) return trusted.status();
  if (!trusted->checkpoint) return absl::OkStatus();
  const CheckpointView& ours = *trusted->checkpoint;
  std::string reason;
  if (theirs->tree_size == ours.tree_size) {
    if (theirs->root != ours.root) reason = "same size, different roots";
  } else if (theirs->tree_size < ours.tree_size) {
    auto prefix = SubtreeHash(0, theirs->tree_size, StoreSubtreeSource(store_, origin));
    // A subtree that cannot be read proves nothing about the origin (and must not stall its sync every
    // round): `hashbank verify` is where a damaged store is reported.
    if (!prefix.ok()) return absl::OkStatus();
    if (*prefix != theirs->root) {
      reason = absl::StrCat("the checkpoint of size ", theirs->tree_size, " is not a prefix of the one of size ",
                            ours.tree_size, " (the leaves under the larger give another root at the smaller size)");
    }
  }
  if (reason.empty()) return absl::OkStatus();
  HB_RETURN_IF_ERROR(RecordEquivocation(origin, EquivocationEvidenceBytes(ours.signed_bytes, signed_checkpoint, reason)));
  return absl::FailedPreconditionError(absl::StrCat("origin ", origin, " equivocated: ", reason));
}

absl::StatusOr<AppliedSegment> LogReplica::RecoverOwn(std::string_view segment_bytes) {
  const std::string& own = own_log_->node_id();
  auto base = TrustedState(own);
  if (!base.ok()) return base.status();
  PreparedSegment prepared = Prepare(own, own_log_->key().public_key(), std::move(*base), segment_bytes);
  prepared.own_recovery = true;
  return Apply(std::move(prepared));
}

absl::StatusOr<AppliedSegment> LogReplica::Apply(PreparedSegment prepared) {
  const std::string& origin = prepared.origin;
  const TrustedLog& base = prepared.base;
  SegmentResult& result = prepared.result;
  const bool own = origin == own_log_->node_id();
  if (own != prepared.own_recovery) {
    return absl::FailedPreconditionError(own ? "a node applies a segment of its own log only to recover it (RecoverOwn)"
                                             : "not this node's own log");
  }
  if (own && !result.segment.ok()) {
    // Never evidence against this node: the caller learns why its copy at the peer does not fit.
    return absl::FailedPreconditionError(absl::StrCat("this node's own log as a peer holds it does not verify: ",
                                                      std::string(result.segment.status().message())));
  }
  std::vector<std::pair<SignalRef, const pb::Entry*>> to_index;
  std::vector<std::pair<SignalRef, pb::Signal>> to_unindex;  // earlier signals purged by this segment
  struct Relabel {
    SignalRef target;
    std::vector<std::string> labels;
    uint64_t edit_sequence;
  };
  std::vector<Relabel> to_relabel;  // label edits: the new labels
  AppliedSegment applied;
  {
    absl::MutexLock lock(&apply_mu_);
    if (IsEquivocating(origin)) {  // checked under the lock: another sync thread may have just flagged it
      return absl::FailedPreconditionError(absl::StrCat("origin ", origin, " equivocated; its logs are refused"));
    }
    // A stored key must not change under us: the first trusted key of an origin is recorded.
    auto known_key = store_->GetOriginKey(origin);
    if (!known_key.ok()) return known_key.status();
    if (known_key->has_value() && **known_key != PublicKeyHex(prepared.origin_key)) {
      return absl::PermissionDeniedError(absl::StrCat("bad signature: ", origin, "'s key differs from the one its log was trusted with"));
    }
    if (base.checkpoint && (base.checkpoint->tree_size != base.tree.size() || base.checkpoint->root != base.tree.Root())) {
      return absl::InvalidArgumentError("a trusted state whose checkpoint is not for its tree");
    }
    const int64_t now = now_ms_();
    // Evidence is two checkpoints of one size, both signed by the origin (the base's checkpoint is for its
    // tree, checked above): it proves equivocation whatever the current state.
    if (!result.segment.ok() && result.equivocation_evidence) {
      HB_RETURN_IF_ERROR(RecordEquivocation(origin, *result.equivocation_evidence));
      return result.segment.status();
    }
    // Anything else was found against `base` and counts only if that is still the trusted state: a
    // rejection against a stale base (a rollback, a gap) says nothing about the segment.
    auto current = LoadTree(origin);
    if (!current.ok()) return current.status();
    if (current->size() != base.tree.size() || current->Root() != base.tree.Root()) {
      return absl::AbortedError(absl::StrCat("stale: ", origin, "'s trusted log moved from size ", base.tree.size(),
                                             " to ", current->size(), " while the segment was verified"));
    }
    if (!result.segment.ok()) return result.segment.status();
    // A suspended origin's log is still verified and applied, so its withdrawals are obeyed; its new
    // signals are stored (the log stays whole for relaying) but not indexed: they never match here. The
    // suspension cannot change meanwhile (Suspend takes apply_mu_).
    const std::optional<uint64_t> suspended_from = SuspendedFrom(origin);
    VerifiedSegment& seg = *result.segment;
    applied.leaves = seg.leaves.size();
    applied.tree_size = seg.checkpoint.tree_size;
    // Withdrawals inside this segment: their targets are never stored with a body.
    const std::set<uint64_t>& withdrawn_here = seg.withdrawn;
    StoreBatch batch;
    CompactTree replay = base.tree;
    // Signals stored by this segment, and the label edits in it folded per signal: the labels listed when
    // the edits began (`before`), the latest edit, and whether the signal has listing rows (a suspended
    // origin's refused signals have none). One PutLabelEditRows per signal after the loop: a batch applies
    // all puts before all deletes.
    std::map<uint64_t, const pb::Signal*> stored_here;
    struct FoldedEdit {
      std::vector<std::string> before, after;
      uint64_t edit_sequence = 0;
      bool listed = true;
    };
    std::map<uint64_t, FoldedEdit> edits;
    for (const VerifiedLeaf& leaf : seg.leaves) {
      const SignalRef ref{origin, leaf.index + 1};
      batch.PutLeaf(ref, HashBytes(leaf.leaf_hash));
      replay.Append(leaf.leaf_hash);
      for (const auto& done : replay.completed_by_last_append()) {
        if (done.level > 0) batch.PutNode(origin, done.level, done.index, HashBytes(done.hash));
      }
      if (leaf.parsed == nullptr) continue;
      const pb::Entry& e = *leaf.parsed;
      if (e.has_signal()) {
        ++applied.signals;
        if (withdrawn_here.count(ref.sequence) != 0) continue;  // withdrawn later in this segment: keep only the leaf
        batch.PutEntry(ref, leaf.entry);
        stored_here[ref.sequence] = &e.signal();
        if (suspended_from && ref.sequence > *suspended_from) continue;  // refused: stored, never indexed
        AddSignalRows(&batch, e.signal(), ref);
        to_index.push_back({ref, &e});
      } else if (e.has_withdrawal()) {
        ++applied.withdrawals;
        batch.PutEntry(ref, leaf.entry);
        const SignalRef target{origin, e.withdrawal().signal_sequence()};
        Tombstone t;
        t.time_ms = e.created_at_unix_ms();
        t.by = origin;
        t.reason = e.withdrawal().reason();
        t.withdrawal = ref;
        batch.PutTombstone(target, t);
        if (withdrawn_here.count(target.sequence) == 0 || target.sequence <= base.tree.size()) {
          auto old = store_->GetEntry(target);
          if (!old.ok()) return old.status();
          pb::Entry old_entry;
          if (old->has_value() && old_entry.ParseFromString(**old) && old_entry.has_signal()) {
            if (origin == own_log_->node_id()) {
              // This node's own log recovered from a peer (a restored backup): the withdrawn signal's parts
              // kept here (node/kept_at_origin.h) go with it, from the files and from the index. A row that
              // does not parse is dropped all the same.
              auto kept = ReadKept(*store_, target.sequence);
              if (!kept.ok()) return kept.status();
              if (kept->parts) MergeKept(*kept->parts, old_entry.mutable_signal());
              if (kept->present) batch.DeleteState(KeptRow(target.sequence));
            }
            DeleteSignalRows(&batch, old_entry.signal(), target);
            auto edited = EditedLabels(*store_, target);
            if (!edited.ok()) return edited.status();
            DeleteLabelEditRows(&batch, target, edited->value_or(std::vector<std::string>()));
            batch.DeleteEntry(target);
            to_unindex.push_back({target, old_entry.signal()});
          }
        }
      } else if (e.has_opinion()) {
        ++applied.opinions;
        batch.PutEntry(ref, leaf.entry);
        batch.PutOpinion(SignalRef{e.opinion().signal_origin(), e.opinion().signal_sequence()}, ref);
      } else if (e.has_label_edit()) {
        ++applied.label_edits;
        batch.PutEntry(ref, leaf.entry);
        const uint64_t t = e.label_edit().signal_sequence();
        if (withdrawn_here.count(t) != 0) continue;  // its withdrawal, later in this segment, purges it
        auto folded = edits.find(t);
        if (folded == edits.end()) {
          FoldedEdit f;
          const SignalRef target{origin, t};
          f.listed = !(suspended_from && t > *suspended_from);
          if (t > base.tree.size()) {
            auto here = stored_here.find(t);
            if (here == stored_here.end()) continue;  // not a signal: the edit changes nothing
            f.before = LabelsOf(*here->second);
          } else {
            auto old = store_->GetEntry(target);
            if (!old.ok()) return old.status();
            pb::Entry old_entry;
            if (!old->has_value() || !old_entry.ParseFromString(**old) || !old_entry.has_signal()) continue;  // purged
            auto labels_now = CurrentLabels(*store_, target, old_entry.signal());
            if (!labels_now.ok()) return labels_now.status();
            f.before = std::move(*labels_now);
          }
          folded = edits.emplace(t, std::move(f)).first;
        }
        folded->second.after = LabelsOf(e.label_edit());
        folded->second.edit_sequence = ref.sequence;
      } else if (e.has_model()) {
        ++applied.models;
        batch.PutEntry(ref, leaf.entry);
        to_index.push_back({ref, &e});  // registers the model's dimension
      } else {
        // A type this node does not know (a later schema's oneof member): kept exactly, relayed, not read.
        ++applied.unknown;
        batch.PutEntry(ref, leaf.entry);
      }
    }
    for (const auto& [t, f] : edits) {
      const SignalRef target{origin, t};
      if (f.listed) {
        PutLabelEditRows(&batch, target, f.before, f.after, f.edit_sequence);
        to_relabel.push_back({target, f.after, f.edit_sequence});
      } else {
        PutLabelEditRows(&batch, target, {}, {}, f.edit_sequence);  // no listing rows, as for its signal
      }
    }
    batch.PutLogTree(origin, replay.Serialize());
    batch.PutCheckpoint(origin, seg.checkpoint.tree_size, seg.checkpoint.signed_bytes);
    if (!known_key->has_value() && !own) batch.PutOriginKey(origin, PublicKeyHex(prepared.origin_key));
    if (applied.leaves > 0) {
      batch.AddAudit("system", own ? "log.recover" : "log.apply", absl::StrCat(origin, " to ", seg.checkpoint.tree_size));
    }
    if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
    // Purges leave the indexes before the lock goes, so a later segment's index inserts come after them.
    for (const auto& [ref, signal] : to_unindex) index_->Remove(ref, signal);
  }
  // Indexed after the durable write, outside the lock; the segment's PDQ hashes in one batched insert. (The
  // parsed entries live in the segment's arena, owned by `prepared`.)
  SignalIndex::PdqBatch pdq_batch;
  pdq_batch.reserve(to_index.size());
  for (const auto& [ref, entry] : to_index) (void)index_->Add(ref, *entry, &pdq_batch);
  const size_t inserted = pdq_batch.size();
  if (absl::Status s = index_->FlushPdq(pdq_batch, false); !s.ok()) {
    std::cerr << "hashbank: PDQ index insert failed for " << inserted << " signals of " << origin << ": " << s.message() << "\n";
  }
  // Label edits after the adds of this segment's signals (an edit that overtakes an earlier segment's Add,
  // running on another sync thread, is kept for that Add: `early`).
  for (Relabel& r : to_relabel) index_->SetLabels(r.target, std::move(r.labels), r.edit_sequence, true);
  if (applied.leaves > 0) notifier_->Notify();
  return applied;
}

absl::Status LogReplica::VerifyStoredLogs(std::ostream& report) const {
  std::vector<std::pair<std::string, std::string>> checkpoints;
  if (absl::Status s = store_->ForEachCheckpoint([&](std::string_view origin, std::string_view bytes) {
        checkpoints.push_back({std::string(origin), std::string(bytes)});
      });
      !s.ok()) {
    return s;
  }
  absl::Status first_error = absl::OkStatus();
  for (const auto& checkpoint : checkpoints) {
    const std::string& origin = checkpoint.first;  // (a named reference: lambdas below capture it)
    const std::string& bytes = checkpoint.second;
    Ed25519PublicKey key{};
    if (origin == own_log_->node_id()) {
      key = own_log_->key().public_key();
    } else {
      auto hex = store_->GetOriginKey(origin);
      if (!hex.ok()) return hex.status();
      auto parsed = hex->has_value() ? ParsePublicKeyHex(**hex) : absl::StatusOr<Ed25519PublicKey>(absl::NotFoundError("no key recorded"));
      if (!parsed.ok()) return parsed.status();
      key = *parsed;
    }
    absl::Status status = absl::OkStatus();
    auto cp = VerifyCheckpoint(bytes, origin, key);
    uint64_t leaves = 0, purged = 0;
    if (!cp.ok()) {
      status = cp.status();
    } else {
      CompactTree tree;
      status = store_->ForEachLeaf(origin, [&](uint64_t sequence, std::string_view hash) -> absl::Status {
        if (sequence != leaves + 1 || hash.size() != 32) {
          return absl::DataLossError(absl::StrCat("leaf ", leaves, " is missing or corrupt"));
        }
        MerkleHash h;
        std::memcpy(h.data(), hash.data(), 32);
        // A stored body must hash to its leaf; a purged one leaves only the leaf.
        auto body = store_->GetEntry(SignalRef{origin, sequence});
        if (!body.ok()) return body.status();
        if (!body->has_value()) {
          ++purged;
        } else if (LeafHash(AsBytes(**body)) != h) {
          return absl::DataLossError(absl::StrCat("entry ", sequence, " does not match its leaf hash"));
        }
        if (leaves == cp->tree_size) return absl::OkStatus();  // beyond the newest checkpoint
        tree.Append(h);
        ++leaves;
        return absl::OkStatus();
      });
      if (status.ok() && (tree.size() != cp->tree_size || tree.Root() != cp->root)) {
        status = absl::DataLossError(absl::StrCat("the leaves do not hash to the signed root of size ", cp->tree_size));
      }
    }
    report << (status.ok() ? "ok   " : "FAIL ") << origin << ": " << leaves << " leaves (" << purged
           << " purged) against the signed checkpoint" << (status.ok() ? "" : ": " + std::string(status.message())) << '\n';
    if (!status.ok() && first_error.ok()) first_error = status;
  }
  return first_error;
}

absl::StatusOr<std::vector<std::string>> LogReplica::Origins() const {
  std::vector<std::string> out;
  absl::Status s = store_->ForEachCheckpoint([&](std::string_view origin, std::string_view) { out.emplace_back(origin); });
  if (!s.ok()) return s;
  return out;
}

absl::Status LogReplica::Suspend(const std::string& origin, bool exclude_from_matching, const std::string& actor) {
  if (origin == own_log_->node_id()) return absl::InvalidArgumentError("origin: a node cannot suspend itself");
  // Under the apply lock: the trusted size read here is the one every later apply is judged by, so what is
  // indexed now is what a restart indexes.
  absl::MutexLock apply_lock(&apply_mu_);
  Suspension sus;
  sus.exclude = exclude_from_matching;
  auto cp = LatestCheckpoint(origin);
  if (!cp.ok()) return cp.status();
  if (cp->has_value()) sus.from = (*cp)->tree_size;  // entries beyond the trusted size are refused
  StoreBatch batch;
  batch.PutSuspension(origin, sus);
  batch.AddAudit(actor, exclude_from_matching ? "origin.suspend+exclude" : "origin.suspend", origin);
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  {
    absl::MutexLock lock(&suspension_mu_);
    suspended_[origin] = sus;
  }
  index_->SetExcluded(origin, exclude_from_matching);
  return absl::OkStatus();
}

absl::Status LogReplica::Unsuspend(const std::string& origin, const std::string& actor,
                                   const std::function<void(StoreBatch*, uint64_t)>& also) {
  absl::MutexLock apply_lock(&apply_mu_);
  const std::optional<uint64_t> from = SuspendedFrom(origin);
  if (!from) return absl::NotFoundError(absl::StrCat("origin ", origin, " is not suspended"));
  // The signals stored while the origin was suspended (refused: no index rows, not indexed) are accepted
  // now, as the rebuild at the next start would index them: their rows (exact digests, current labels, bank
  // and case listings) and the suspension's end in one durable batch (all or nothing: a signal with rows
  // while its origin is still suspended would keep stale label rows through later edits); then the memory
  // indexes. (The entries are in memory meanwhile anyway, for the indexes.)
  struct Held {
    SignalRef ref;
    pb::Entry entry;
  };
  struct HeldEdit {
    SignalRef target;
    std::vector<std::string> labels;
    uint64_t edit_sequence;
  };
  std::vector<Held> held;
  std::vector<HeldEdit> edits;  // edits of held signals, in log order (the latest wins)
  StoreBatch batch;
  absl::Status scan = store_->ScanEntries(
      origin, *from + 1, std::numeric_limits<uint64_t>::max(), [&](uint64_t sequence, std::string_view bytes) -> absl::Status {
        pb::Entry e;
        if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          return absl::DataLossError(absl::StrCat("stored entry ", origin, ":", sequence, " does not parse"));
        }
        const SignalRef ref{origin, sequence};
        if (e.has_label_edit() && e.label_edit().signal_sequence() > *from) {
          const pb::LabelEdit& edit = e.label_edit();
          edits.push_back({SignalRef{origin, edit.signal_sequence()},
                           LabelsOf(edit), sequence});
          return absl::OkStatus();
        }
        if (!e.has_signal()) return absl::OkStatus();
        HB_RETURN_IF_ERROR(AddCurrentSignalRows(*store_, &batch, e.signal(), ref));
        held.push_back({ref, std::move(e)});
        return absl::OkStatus();
      });
  if (!scan.ok()) return scan;
  batch.DeleteSuspension(origin);
  if (also) also(&batch, *from);
  batch.AddAudit(actor, "origin.unsuspend", origin);
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  {
    absl::MutexLock lock(&suspension_mu_);
    suspended_.erase(origin);
  }
  index_->SetExcluded(origin, false);
  SignalIndex::PdqBatch pdq;
  for (const Held& h : held) (void)index_->Add(h.ref, h.entry, &pdq);
  if (absl::Status s = index_->FlushPdq(pdq, false); !s.ok()) return s;
  for (HeldEdit& r : edits) index_->SetLabels(r.target, std::move(r.labels), r.edit_sequence, false);
  if (!held.empty()) notifier_->Notify();
  return absl::OkStatus();
}

bool LogReplica::IsSuspended(const std::string& origin) const {
  absl::MutexLock lock(&suspension_mu_);
  return suspended_.contains(origin);
}

bool LogReplica::HeldBySuspension(const SignalRef& ref) const {
  if (ref.origin == own_log_->node_id()) return false;
  const std::optional<uint64_t> from = SuspendedFrom(ref.origin);
  return from && ref.sequence > *from;
}

std::optional<uint64_t> LogReplica::SuspendedFrom(const std::string& origin) const {
  absl::MutexLock lock(&suspension_mu_);
  auto it = suspended_.find(origin);
  if (it == suspended_.end()) return std::nullopt;
  return it->second.from;
}

}  // namespace hashbank
