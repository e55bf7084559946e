#include "node/bank.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "node/entry_bytes.h"
#include "node/label_edits.h"
#include "node/status_macros.h"
#include "protocol/entries.pb.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Set once every stored signal has its bank and case listing rows (a database from before banks gets them
// at its first start with banks).
constexpr std::string_view kListingRowsState = "migration/listing_rows";
// Set once every member's signal indexed at start has its index rows: versions before session 10 lifted a
// suspension without writing rows for the signals stored during it.
constexpr std::string_view kHeldRowsState = "migration/held_rows";

// What index row a stored signal lacks ("" if none): its exact-digest rows, its current labels' rows, and
// (with values) its bank and case listing rows.
absl::StatusOr<std::string> MissingIndexRow(const SignalStore& store, const SignalRef& ref, const pb::Signal& sig) {
  for (const ExactKind8 kind : {ExactKind8::kMd5, ExactKind8::kSha256}) {
    const std::string& digest = kind == ExactKind8::kMd5 ? sig.md5() : sig.sha256();
    if (digest.empty()) continue;
    auto row = store.GetExactRow(kind, ref);
    if (!row.ok()) return row.status();
    if (!row->has_value() || **row != digest) return std::string(kind == ExactKind8::kMd5 ? "MD5 row" : "SHA-256 row");
  }
  HB_ASSIGN_OR_RETURN(std::vector<std::string> keys, CurrentLabels(store, ref, sig));
  if (HasValues(sig)) {  // (listing rows were added to older databases for signals with values only)
    keys.push_back(BankListKey(BankOf(sig)));
    if (!sig.case_ref().empty()) keys.push_back(CaseListKey(sig.case_ref()));
  }
  for (const std::string& key : keys) {
    HB_ASSIGN_OR_RETURN(const bool listed, store.HasLabelRow(key, ref));
    if (!listed) return std::string("label or listing row");
  }
  return std::string();
}

// The claim key of the withdrawal of one of this node's signals.
std::string WithdrawalClaim(uint64_t sequence) { return absl::StrCat("withdraw/", sequence); }
// The claim key of a label edit of one of this node's signals.
std::string LabelEditClaim(uint64_t sequence) { return absl::StrCat("labels/", sequence); }

}  // namespace

Bank::Bank(BankOptions options, std::unique_ptr<Salter> salter, std::unique_ptr<SignalStore> store)
    : options_(std::move(options)),
      store_(std::move(store)),
      intake_(std::move(salter), options_.pdq_quality_floor),
      index_(options_.pdq_quality_floor,
             [this](const SignalRef& ref) -> absl::StatusOr<std::string> { return StoredRobust(ref); }),
      own_log_(store_.get(), &notifier_, options_.node_id, options_.signing_key, options_.now_ms),
      replica_(store_.get(), &index_, &own_log_, &notifier_, options_.now_ms),
      tokens_(store_.get(), options_.now_ms),
      catalog_(store_.get(), options_.now_ms),
      content_(store_.get(), options_.node_id, options_.now_ms),
      notifications_(
          store_.get(), options_.node_id, options_.now_ms, options_.notifications,
          [this]() -> absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> {
            auto origins = replica_.Origins();
            if (!origins.ok()) return origins.status();
            std::vector<std::pair<std::string, uint64_t>> sizes;
            for (const std::string& o : *origins) {
              auto cp = replica_.LatestCheckpoint(o);
              if (!cp.ok()) return cp.status();
              if (cp->has_value()) sizes.emplace_back(o, (*cp)->tree_size);
            }
            return sizes;
          },
          [this](const SignalRef& ref, std::string_view bank) {
            if (replica_.HeldBySuspension(ref)) return false;  // entries past a suspension are never indexed
            return catalog_.MatchEnabled(bank, FormatSignalId(ref)) && content_.Enabled(ref);
          },
          [this](const std::string& origin) { return replica_.IsSuspended(origin); }) {}
Bank::~Bank() = default;

absl::StatusOr<std::unique_ptr<Bank>> Bank::Open(BankOptions options, std::unique_ptr<Salter> salter) {
  if (!options.now_ms) options.now_ms = SystemNowMs;
  if (!options.signing_key) return absl::InvalidArgumentError("a signing key is required to keep a signed log");
  auto store = SignalStore::Open(options.data_dir + "/db", options.store);
  if (!store.ok()) return store.status();
  auto salt_id = (*store)->GetState("salt_id");
  if (!salt_id.ok()) return salt_id.status();
  if (salt_id->has_value() && **salt_id != salter->salt_id()) {
    return absl::FailedPreconditionError(absl::StrCat("the database was salted with salt id \"", **salt_id,
                                                      "\" but the configured salt is \"", salter->salt_id(),
                                                      "\"; refusing to mix salts"));
  }
  // The salt id can be equal for two different salts (a replaced salt.json); the check value cannot. A
  // database salted with another key would make every PDQ and exact match silently return nothing.
  auto salt_check = (*store)->GetState("salt_check");
  if (!salt_check.ok()) return salt_check.status();
  if (salt_check->has_value() && **salt_check != salter->check_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the configured salt (id \"", salter->salt_id(), "\", check value ", salter->check_value(),
        ") is not the salt this database was salted with (check value ", **salt_check,
        "); refusing to start: every match would silently return nothing. Restore the federation's salt.json"));
  }
  if (!salt_id->has_value() || !salt_check->has_value()) {
    StoreBatch init;
    init.PutState("salt_id", salter->salt_id());
    init.PutState("salt_check", salter->check_value());  // databases from before check values: recorded now
    if (!salt_id->has_value()) init.PutState("node_id", options.node_id);
    if (absl::Status s = (*store)->Commit(std::move(init), options.now_ms()); !s.ok()) return s;
  }
  if (auto migrated = (*store)->MigrateExactRowKeys(); !migrated.ok()) return migrated.status();
  std::unique_ptr<Bank> bank(new Bank(std::move(options), std::move(salter), std::move(*store)));
  absl::Status kept_scan = bank->store_->ForEachState(kKeptRowPrefix, [&](std::string_view, std::string_view) {
    bank->has_kept_rows_ = true;
    return absl::CancelledError("one is enough");
  });
  if (!kept_scan.ok() && !absl::IsCancelled(kept_scan)) return kept_scan;
  if (absl::Status s = bank->own_log_.Load(); !s.ok()) return s;
  if (absl::Status s = bank->replica_.Load(); !s.ok()) return s;  // suspensions, before the rebuild
  if (absl::Status s = bank->Rebuild(); !s.ok()) return s;
  if (absl::Status s = bank->tokens_.Load(); !s.ok()) return s;
  if (absl::Status s = bank->catalog_.Load(); !s.ok()) return s;
  if (absl::Status s = bank->content_.Load(); !s.ok()) return s;
  if (absl::Status s = bank->notifications_.Load(); !s.ok()) return s;
  return bank;
}

absl::Status Bank::Rebuild() {
  const auto start = std::chrono::steady_clock::now();
  SignalIndex::PdqBatch pdq;  // bulk-loaded at the end: the fast path for millions of entries
  index_.BeginBulkLoad();
  size_t unindexable = 0;
  // Migration: databases from before banks have no bank or case listing rows; they are added once, here,
  // in batches, and a state row records that it is done (an interrupted migration simply runs again).
  auto migrated = store_->GetState(kListingRowsState);
  if (!migrated.ok()) return migrated.status();
  const bool migrate = !migrated->has_value();
  auto repaired = store_->GetState(kHeldRowsState);
  if (!repaired.ok()) return repaired.status();
  const bool repair = !repaired->has_value();
  StoreBatch rows;
  size_t pending_rows = 0;
  absl::Status s = store_->ForEachEntry([&](const SignalRef& ref, std::string_view bytes) -> absl::Status {
    pb::Entry entry;
    if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat("stored entry ", FormatSignalId(ref), " does not parse"));
    }
    if (migrate && entry.has_signal() && HasValues(entry.signal())) {
      AddListingRows(&rows, entry.signal(), ref);
      if (++pending_rows == 10000) {
        if (absl::Status c = store_->Commit(std::exchange(rows, StoreBatch()), options_.now_ms()); !c.ok()) return c;
        pending_rows = 0;
      }
    }
    if (entry.has_signal() && ref.origin != options_.node_id) {
      if (replica_.HeldBySuspension(ref)) return absl::OkStatus();  // refused while suspended
      if (repair && !migrate) {  // (a migrating database gets its rows checked at its next start)
        HB_ASSIGN_OR_RETURN(const std::string missing, MissingIndexRow(*store_, ref, entry.signal()));
        if (!missing.empty()) {
          HB_RETURN_IF_ERROR(AddCurrentSignalRows(*store_, &rows, entry.signal(), ref));
          if (++pending_rows == 10000) {
            if (absl::Status c = store_->Commit(std::exchange(rows, StoreBatch()), options_.now_ms()); !c.ok()) return c;
            pending_rows = 0;
          }
        }
      }
    }
    if (entry.has_label_edit()) {  // after its signal (entries come in log order): the latest edit wins
      const pb::LabelEdit& edit = entry.label_edit();
      index_.SetLabels(SignalRef{ref.origin, edit.signal_sequence()},
                       LabelsOf(edit), ref.sequence, false);
      return absl::OkStatus();
    }
    if (entry.has_signal() && ref.origin == options_.node_id) {
      HB_RETURN_IF_ERROR(MergeKeptParts(ref.sequence, entry.mutable_signal()));
    }
    // A member's entry this node cannot index (say, an embedding whose dimension disagrees with its model)
    // must not keep the node from starting: it is counted and left out of the indexes.
    if (!index_.Add(ref, entry, &pdq).ok()) ++unindexable;
    return absl::OkStatus();
  });
  if (unindexable > 0) std::cerr << "hashbank: " << unindexable << " stored entries could not be indexed\n";
  if (!s.ok()) return s;
  if (migrate) rows.PutState(kListingRowsState, "1");
  if (repair && !migrate) rows.PutState(kHeldRowsState, "1");
  if (!rows.empty()) {
    if (absl::Status c = store_->Commit(std::move(rows), options_.now_ms()); !c.ok()) return c;
  }
  if (absl::Status b = index_.FlushPdq(pdq, true); !b.ok()) return b;
  rebuild_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return absl::OkStatus();
}

void Bank::IndexAppended(const OwnLog::Appended& appended) {
  SignalIndex::PdqBatch pdq;
  for (const auto& [ref, bytes] : appended) {
    pb::Entry entry;
    // Durable already; an index failure here would be a bug, repaired by the rebuild at the next start.
    if (!entry.ParseFromString(bytes)) continue;
    if (entry.has_signal()) (void)MergeKeptParts(ref.sequence, entry.mutable_signal());  // else: without them
    (void)index_.Add(ref, entry, &pdq);
  }
  (void)index_.FlushPdq(pdq, false);
}

absl::StatusOr<std::string> Bank::StoredRobust(const SignalRef& ref) const {
  auto bytes = store_->GetEntry(ref);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return absl::NotFoundError("purged");
  pb::Entry entry;
  if (!entry.ParseFromString(**bytes) || !entry.has_signal()) return absl::NotFoundError("not a signal");
  if (ref.origin == options_.node_id) HB_RETURN_IF_ERROR(MergeKeptParts(ref.sequence, entry.mutable_signal()));
  return std::move(*entry.mutable_signal()->mutable_robust());
}

absl::Status Bank::MergeKeptParts(uint64_t sequence, pb::Signal* sig) const {
  if (!has_kept_rows_.load()) return absl::OkStatus();
  HB_ASSIGN_OR_RETURN(const StoredKept kept, ReadKept(*store_, sequence));
  if (kept.parts) MergeKept(*kept.parts, sig);
  return absl::OkStatus();
}

absl::Status Bank::CheckEmbeddingModel(const pb::Signal& sig) const {
  if (!sig.has_embedding()) return absl::OkStatus();
  // Embeddings are accepted only for a model whose fingerprint this node knows (published here or received
  // from a member), with exactly its dimension.
  const std::optional<uint32_t> dimension = index_.ModelDimension(sig.embedding().model_id());
  if (!dimension) {
    return absl::InvalidArgumentError("embedding.model_id: unknown model; its fingerprint must be published first "
                                      "(POST /v1/models)");
  }
  if (static_cast<uint32_t>(sig.embedding().vector_size()) != *dimension) {
    return absl::InvalidArgumentError(absl::StrCat("embedding.vector: model ", sig.embedding().model_id(),
                                                   " has dimension ", *dimension, ", got ", sig.embedding().vector_size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<SignalRef> Bank::Submit(const SignalInput& input, const Actor& actor) {
  std::vector<absl::StatusOr<SignalRef>> r = SubmitBatch(std::span<const SignalInput>(&input, 1), actor);
  return std::move(r[0]);
}

std::vector<absl::StatusOr<SignalRef>> Bank::SubmitBatch(std::span<const SignalInput> inputs, const Actor& actor) {
  return SubmitBatchWithRow(inputs, actor, /*all_or_nothing=*/false, nullptr);
}

std::vector<absl::StatusOr<SignalRef>> Bank::ImportBatch(std::span<const SignalInput> inputs, const Actor& actor,
                                                         const std::pair<std::string, std::string>& state_row) {
  // One audit record per batch: a record per signal (a hash chain link each) was a fifth of an import's time.
  return SubmitBatchWithRow(inputs, actor, /*all_or_nothing=*/false,
                            [&state_row](std::span<const SignalRef>) { return state_row; }, /*audit_per_batch=*/true);
}

absl::StatusOr<std::vector<SignalRef>> Bank::SubmitAll(std::span<const SignalInput> inputs, const Actor& actor,
                                                       const RowBuilder& row) {
  std::vector<absl::StatusOr<SignalRef>> results = SubmitBatchWithRow(inputs, actor, /*all_or_nothing=*/true, row);
  // The first invalid item's own error (the valid ones only say they were not written).
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok() && !absl::IsAborted(results[i].status())) {
      const absl::Status& s = results[i].status();
      return absl::Status(s.code(), absl::StrCat("item ", i, ": ", std::string(s.message())));
    }
  }
  std::vector<SignalRef> refs;
  for (const absl::StatusOr<SignalRef>& r : results) {
    if (!r.ok()) return r.status();
    refs.push_back(*r);
  }
  return refs;
}

std::vector<absl::StatusOr<SignalRef>> Bank::SubmitBatchWithRow(std::span<const SignalInput> inputs, const Actor& actor,
                                                                bool all_or_nothing, const RowBuilder& row,
                                                                bool audit_per_batch) {
  // Held to the durable append: no bank can be deleted or renamed between the check and the write.
  absl::ReaderMutexLock gate(&bank_gate_);
  StartedBatch started = StartBatchLocked(inputs, actor, all_or_nothing, row, audit_per_batch);
  return IndexBatch(WriteBatch(std::move(started)));
}

Bank::ImportGate::ImportGate(Bank& bank) : bank_(bank) { bank_.bank_gate_.ReaderLock(); }
Bank::ImportGate::~ImportGate() { bank_.bank_gate_.ReaderUnlock(); }

Bank::StartedBatch Bank::StartImportBatch(const ImportGate& gate, std::span<const SignalInput> inputs, const Actor& actor,
                                          const std::pair<std::string, std::string>& state_row) {
  if (&gate.bank_ != this) {
    StartedBatch wrong;
    wrong.results.assign(inputs.size(), absl::FailedPreconditionError("an import gate of another bank"));
    return wrong;
  }
  return StartBatchLocked(inputs, actor, /*all_or_nothing=*/false,
                          [&state_row](std::span<const SignalRef>) { return state_row; }, /*audit_per_batch=*/true);
}

Bank::WrittenBatch Bank::WriteImportBatch(StartedBatch started) { return WriteBatch(std::move(started)); }

std::vector<absl::StatusOr<SignalRef>> Bank::IndexImportBatch(WrittenBatch written) { return IndexBatch(std::move(written)); }

Bank::StartedBatch Bank::StartBatchLocked(std::span<const SignalInput> inputs, const Actor& actor, bool all_or_nothing,
                                          const RowBuilder& row, bool audit_per_batch) {
  StartedBatch started;
  std::vector<absl::StatusOr<SignalRef>>& results = started.results;
  results.assign(inputs.size(), absl::UnknownError("not processed"));
  std::vector<std::pair<size_t, pb::Signal>> valid;
  std::vector<std::optional<pb::Signal>> kept;  // per valid item: its parts kept at the origin
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto sig = intake_.Build(inputs[i], actor);
    if (sig.ok()) {
      if (absl::Status m = CheckEmbeddingModel(*sig); !m.ok()) sig = m;
    }
    std::optional<pb::Signal> kept_parts;
    if (sig.ok() && options_.keep_at_origin.any()) {
      kept_parts = SplitKept(options_.keep_at_origin, &*sig);
      if (kept_parts && !HasValues(*sig)) {
        sig = absl::InvalidArgumentError(absl::StrCat(
            "this node keeps its ", absl::StrJoin(KeptTypes(*kept_parts), " and "),
            " fingerprints at the origin (federation.keep_at_origin): a signal also needs a type that is shared "
            "(pdq, md5, sha256 or vpdq)"));
      }
    }
    if (sig.ok() && !catalog_.IsConfigured(BankOf(*sig))) {
      sig = absl::NotFoundError(absl::StrCat("bank: no bank ", std::string(BankOf(*sig)), " on this node; an admin creates it first"));
    } else if (sig.ok() && deleting_banks_.contains(BankOf(*sig))) {
      sig = absl::FailedPreconditionError(absl::StrCat("bank: bank ", std::string(BankOf(*sig)), " is being deleted"));
    }
    if (!sig.ok()) {
      results[i] = sig.status();
    } else {
      valid.push_back({i, std::move(*sig)});
      kept.push_back(std::move(kept_parts));
      if (kept.back()) has_kept_rows_ = true;  // before the append: IndexAppended reads the rows
    }
  }
  if (all_or_nothing && valid.size() != inputs.size()) {
    for (auto& [i, sig] : valid) results[i] = absl::AbortedError("not written: another item of the batch is invalid");
    return started;
  }
  if (valid.empty()) {
    if (row) {
      const auto [name, value] = row({});
      StoreBatch batch;
      batch.PutState(name, value);
      if (absl::Status s = store_->Commit(std::move(batch), options_.now_ms()); !s.ok()) {
        for (auto& r : results) {
          if (r.ok()) r = s;
        }
      }
    }
    return started;
  }
  started.written.reserve(valid.size());
  for (const auto& v : valid) started.written.push_back(v.first);
  auto in_flight = own_log_.Start([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    std::vector<pb::Entry> entries;
    entries.reserve(valid.size());
    if (row) {
      std::vector<SignalRef> refs;
      for (uint64_t k = 0; k < valid.size(); ++k) refs.push_back({options_.node_id, scope.first_sequence() + k});
      const auto [name, value] = row(refs);
      scope.batch()->PutState(name, value);
    }
    uint64_t seq = scope.first_sequence();
    for (size_t k = 0; k < valid.size(); ++k) {
      pb::Signal& sig = valid[k].second;
      const SignalRef ref{options_.node_id, seq++};
      AddSignalRows(scope.batch(), sig, ref);
      if (kept[k]) scope.batch()->PutState(KeptRow(ref.sequence), kept[k]->SerializeAsString());
      if (!audit_per_batch) scope.batch()->AddAudit(actor.name, "submit", FormatSignalId(ref));
      *entries.emplace_back().mutable_signal() = std::move(sig);
    }
    if (audit_per_batch) {
      scope.batch()->AddAudit(actor.name, "import",
                              absl::StrCat(FormatSignalId(SignalRef{options_.node_id, scope.first_sequence()}), "..", seq - 1));
    }
    return entries;
  });
  if (!in_flight.ok()) {
    for (const size_t i : started.written) results[i] = in_flight.status();
    started.written.clear();
    return started;
  }
  started.in_flight = std::move(*in_flight);
  return started;
}

Bank::WrittenBatch Bank::WriteBatch(StartedBatch started) {
  WrittenBatch written;
  written.results = std::move(started.results);
  written.written = std::move(started.written);
  if (written.written.empty()) return written;
  auto appended = own_log_.Finish(std::move(started.in_flight));
  if (!appended.ok()) {
    for (const size_t i : written.written) written.results[i] = appended.status();
    written.written.clear();
    return written;
  }
  written.appended = std::move(*appended);
  return written;
}

std::vector<absl::StatusOr<SignalRef>> Bank::IndexBatch(WrittenBatch written) {
  IndexAppended(written.appended);
  for (size_t k = 0; k < written.written.size(); ++k) written.results[written.written[k]] = written.appended[k].first;
  return std::move(written.results);
}

absl::StatusOr<SignalInfo> Bank::Get(const SignalRef& ref) const {
  auto bytes = store_->GetEntry(ref);
  if (!bytes.ok()) return bytes.status();
  SignalInfo info;
  info.ref = ref;
  auto tomb = store_->GetTombstone(ref);
  if (!tomb.ok()) return tomb.status();
  if (tomb->has_value()) {
    info.withdrawn = true;
    info.withdrawn_at_ms = (*tomb)->time_ms;
  }
  if (!bytes->has_value()) {
    // Withdrawn: the entry's bytes are purged, the tombstone says when.
    if (!info.withdrawn) return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    return info;
  }
  pb::Entry entry;
  if (!entry.ParseFromString(**bytes) || !entry.has_signal()) {
    return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
  }
  info.created_at_ms = entry.created_at_unix_ms();
  if (ref.origin == options_.node_id) {
    HB_ASSIGN_OR_RETURN(const StoredKept kept, ReadKept(*store_, ref.sequence));
    if (kept.parts) {
      info.kept_at_origin = KeptTypes(*kept.parts);
      MergeKept(*kept.parts, entry.mutable_signal());
    }
  }
  const pb::Signal& sig = entry.signal();
  info.signal_types = SignalTypes(sig);
  HB_ASSIGN_OR_RETURN(info.labels, CurrentLabels(*store_, ref, sig));
  info.submitted_by = sig.submitted_by();
  info.bank = std::string(BankOf(sig));
  info.content_id = sig.content_id();
  info.note = sig.note();
  info.metadata_json = sig.metadata_json();
  info.case_ref = sig.case_ref();
  auto opinions = store_->OpinionsOf(ref);
  if (!opinions.ok()) return opinions.status();
  for (const SignalRef& o : *opinions) {
    auto ob = store_->GetEntry(o);
    pb::Entry oe;
    if (ob.ok() && ob->has_value() && oe.ParseFromString(**ob) && oe.has_opinion()) {
      if (oe.opinion().verdict() == pb::Opinion::VERDICT_CONFIRMED) ++info.confirmed;
      if (oe.opinion().verdict() == pb::Opinion::VERDICT_DISPUTED) ++info.disputed;
    }
  }
  return info;
}

absl::Status Bank::Withdraw(const SignalRef& ref, const Actor& actor, const std::string& reason) {
  // Another origin's signal is refused before its existence is looked at: this node may simply not hold it
  // yet, and the answer (ask its origin) is the same either way.
  if (ref.origin != options_.node_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("only the origin node (", ref.origin, ") can withdraw ", FormatSignalId(ref)));
  }
  pb::Signal old;
  auto appended = own_log_.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    auto bytes = store_->GetEntry(ref);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) {
      auto tomb = store_->GetTombstone(ref);
      if (!tomb.ok()) return tomb.status();
      if (tomb->has_value()) return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is already withdrawn"));
      return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    }
    pb::Entry entry;
    if (!entry.ParseFromString(**bytes) || !entry.has_signal()) {
      return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    }
    auto tomb = store_->GetTombstone(ref);
    if (!tomb.ok()) return tomb.status();
    if (tomb->has_value() || !scope.Claim(WithdrawalClaim(ref.sequence))) {
      return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is already withdrawn"));
    }
    old = entry.signal();
    // The index forgets the kept parts too; a row that does not parse is deleted all the same (a consent
    // withdrawal never waits on it).
    HB_ASSIGN_OR_RETURN(const StoredKept kept, ReadKept(*store_, ref.sequence));
    if (kept.parts) MergeKept(*kept.parts, &old);
    const SignalRef wref{options_.node_id, scope.first_sequence()};
    StoreBatch& batch = *scope.batch();
    batch.DeleteEntry(ref);  // the whole entry's bytes are purged; its leaf hash stays in the log
    if (kept.present) batch.DeleteState(KeptRow(ref.sequence));  // and so are the parts kept here
    DeleteSignalRows(&batch, old, ref);
    HB_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> edited, EditedLabels(*store_, ref));
    DeleteLabelEditRows(&batch, ref, edited.value_or(std::vector<std::string>()));
    if (scope.IsClaimed(LabelEditClaim(ref.sequence))) {  // an edit queued before this withdrawal
      absl::MutexLock lock(&edits_mu_);
      if (auto it = edits_in_flight_.find(ref.sequence); it != edits_in_flight_.end()) {
        DeleteLabelEditRows(&batch, ref, it->second.second);
      }
    }
    batch.PutTombstone(ref, Tombstone{scope.now_ms(), actor.name, reason, wref});
    batch.AddAudit(actor.name, "withdraw", FormatSignalId(ref));
    std::vector<pb::Entry> entries(1);
    entries[0].mutable_withdrawal()->set_signal_sequence(ref.sequence);
    entries[0].mutable_withdrawal()->set_reason(reason);
    return entries;
  });
  if (!appended.ok()) return appended.status();
  index_.Remove(ref, old);  // the indexes forget the values before the call returns
  return absl::OkStatus();
}

absl::StatusOr<SignalRef> Bank::AddOpinion(const SignalRef& ref, bool confirmed, const Actor& actor) {
  // The signal's state is read inside the append (under the own log's lock), so a withdrawal of one of
  // this node's signals cannot slip between the check and the opinion.
  auto appended = own_log_.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    auto info = Get(ref);
    if (!info.ok()) return info.status();
    if (info->withdrawn || (ref.origin == options_.node_id && scope.IsClaimed(WithdrawalClaim(ref.sequence)))) {
      return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is withdrawn"));
    }
    const SignalRef oref{options_.node_id, scope.first_sequence()};
    scope.batch()->PutOpinion(ref, oref);
    scope.batch()->AddAudit(actor.name, confirmed ? "opinion.confirmed" : "opinion.disputed", FormatSignalId(ref));
    std::vector<pb::Entry> entries(1);
    auto* op = entries[0].mutable_opinion();
    op->set_signal_origin(ref.origin);
    op->set_signal_sequence(ref.sequence);
    op->set_verdict(confirmed ? pb::Opinion::VERDICT_CONFIRMED : pb::Opinion::VERDICT_DISPUTED);
    op->set_submitted_by(actor.name);
    return entries;
  });
  if (!appended.ok()) return appended.status();
  return appended->front().first;
}

absl::StatusOr<SignalRef> Bank::EditLabels(const SignalRef& ref, std::vector<std::string> labels, const Actor& actor) {
  HB_RETURN_IF_ERROR(ValidateLabels(&labels));
  bool claimed = false;
  uint64_t edit_sequence = 0;
  auto appended = own_log_.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    auto bytes = store_->GetEntry(ref);
    if (!bytes.ok()) return bytes.status();
    pb::Entry entry;
    if (!bytes->has_value()) {
      auto tomb = store_->GetTombstone(ref);
      if (!tomb.ok()) return tomb.status();
      if (tomb->has_value()) return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is withdrawn"));
      return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    }
    if (!entry.ParseFromString(**bytes) || !entry.has_signal()) {
      return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    }
    if (ref.origin != options_.node_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("only the origin node (", ref.origin, ") can edit the labels of ", FormatSignalId(ref)));
    }
    if (scope.IsClaimed(WithdrawalClaim(ref.sequence))) {
      return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is withdrawn"));
    }
    if (!scope.Claim(LabelEditClaim(ref.sequence))) {
      return absl::AbortedError(absl::StrCat("another label edit of ", FormatSignalId(ref), " is in flight; retry"));
    }
    HB_ASSIGN_OR_RETURN(std::vector<std::string> before, CurrentLabels(*store_, ref, entry.signal()));
    PutLabelEditRows(scope.batch(), ref, before, labels, scope.first_sequence());
    scope.batch()->AddAudit(actor.name, "labels.edit", FormatSignalId(ref));
    edit_sequence = scope.first_sequence();
    {
      absl::MutexLock lock(&edits_mu_);
      edits_in_flight_[ref.sequence] = {edit_sequence, labels};
      claimed = true;
    }
    std::vector<pb::Entry> entries(1);
    auto* edit = entries[0].mutable_label_edit();
    edit->set_signal_sequence(ref.sequence);
    for (const std::string& l : labels) edit->add_labels(l);
    edit->set_submitted_by(actor.name);
    return entries;
  });
  if (claimed) {
    // The claim went with the append, so a later edit of the signal may have put its own labels here
    // meanwhile: only this edit's are removed.
    absl::MutexLock lock(&edits_mu_);
    if (auto it = edits_in_flight_.find(ref.sequence); it != edits_in_flight_.end() && it->second.first == edit_sequence) {
      edits_in_flight_.erase(it);
    }
  }
  if (!appended.ok()) return appended.status();
  const SignalRef edit_ref = appended->front().first;
  // The index keeps the newest edit whatever order the updates run in; `early`: the signal's own index
  // insert (its submitter's thread) may still be on its way.
  index_.SetLabels(ref, std::move(labels), edit_ref.sequence, true);
  return edit_ref;
}

absl::StatusOr<SignalRef> Bank::PublishModel(const ModelInput& m, const Actor& actor) {
  if (auto known = index_.ModelDimension(m.model_id); known && *known != m.dimension) {
    return absl::AlreadyExistsError(absl::StrCat("model ", m.model_id, " is already known with dimension ", *known));
  }
  if (absl::Status s = intake_.ValidateModel(m); !s.ok()) return s;
  pb::ModelFingerprint f;
  f.set_model_id(m.model_id);
  f.set_name(m.name);
  f.set_version(m.version);
  f.set_dimension(m.dimension);
  f.set_input_width(m.input_width);
  f.set_input_height(m.input_height);
  f.set_colour_order(m.colour_order);
  f.mutable_mean()->Add(m.mean.begin(), m.mean.end());
  f.mutable_std()->Add(m.std.begin(), m.std.end());
  f.set_metric(m.metric);
  f.set_threshold(m.threshold);
  auto appended = own_log_.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    scope.batch()->AddAudit(actor.name, "model.publish", FormatSignalId(SignalRef{options_.node_id, scope.first_sequence()}));
    std::vector<pb::Entry> entries(1);
    *entries[0].mutable_model() = f;
    return entries;
  });
  if (!appended.ok()) return appended.status();
  index_.RegisterModel(f);
  return appended->front().first;
}

absl::StatusOr<std::vector<Match>> Bank::MatchPdq(std::span<const Hash256> raw, int max_distance) const {
  std::vector<Hash256> salted;
  salted.reserve(raw.size());
  for (const Hash256& h : raw) salted.push_back(intake_.SaltPdq(h));
  return Enabled(index_.MatchPdq(salted, max_distance));
}

absl::StatusOr<std::vector<Match>> Bank::MatchDihedralSet(const std::array<Hash256, kNumDihedral>& raw,
                                                          int max_distance) const {
  std::array<Hash256, kNumDihedral> salted;
  for (size_t i = 0; i < kNumDihedral; ++i) salted[i] = intake_.SaltPdq(raw[i]);
  return Enabled(index_.MatchDihedral(salted, max_distance));
}

absl::StatusOr<std::vector<Match>> Bank::MatchRobust(std::span<const LocalFeature> raw_direct,
                                                     std::span<const LocalFeature> raw_mirrored) const {
  const std::vector<LocalFeature> direct = intake_.SaltFeatures(raw_direct);
  const std::vector<LocalFeature> mirrored = intake_.SaltFeatures(raw_mirrored);
  return Enabled(index_.MatchRobust(direct, mirrored));
}

absl::StatusOr<std::vector<Match>> Bank::MatchVideo(std::span<const VideoQueryPass> raw_passes, double frame_interval,
                                                    const VideoMatchRule& rule) const {
  std::vector<VideoQueryPass> salted(raw_passes.begin(), raw_passes.end());
  for (VideoQueryPass& p : salted) p.frames = intake_.SaltVideoFrames(p.frames);
  return Enabled(index_.MatchVideo(salted, frame_interval, rule));
}

absl::StatusOr<std::vector<Match>> Bank::MatchVideoKeyframes(std::span<const VideoKeyframeQuery> raw) const {
  std::vector<VideoKeyframeQuery> salted(raw.begin(), raw.end());
  for (VideoKeyframeQuery& k : salted) {
    k.direct = intake_.SaltFeatures(k.direct);
    k.mirrored = intake_.SaltFeatures(k.mirrored);
  }
  return Enabled(index_.MatchVideoKeyframes(salted));
}

absl::StatusOr<std::vector<SignalRef>> Bank::OwnSignalsWithHash(std::string_view bank, const SignalInput& raw) const {
  absl::StatusOr<std::vector<Match>> m = std::vector<Match>{};
  if (raw.pdq) {
    const Hash256 salted = intake_.SaltPdq(*raw.pdq);
    m = index_.MatchPdq(std::span<const Hash256>(&salted, 1), 0);
  } else if (raw.md5 || raw.sha256) {
    const ExactKind kind = raw.md5 ? ExactKind::kMd5 : ExactKind::kSha256;
    auto salted = raw.md5 ? intake_.SaltExact(kind, *raw.md5) : intake_.SaltExact(kind, *raw.sha256);
    if (!salted.ok()) return salted.status();
    m = index_.MatchExact(kind, *salted);
  }
  if (!m.ok()) return m.status();
  std::vector<SignalRef> out;
  for (const Match& x : *m) {  // not filtered by the bank's ratio or content state: a disabled bank holds them too
    if (x.bank == bank && x.ref.origin == options_.node_id) out.push_back(x.ref);
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<SignalRef>>> Bank::OwnSignalsWithHashes(std::string_view bank,
                                                                                 std::span<const SignalInput> raw) const {
  std::vector<std::vector<SignalRef>> out(raw.size());
  std::vector<Hash256> salted;
  std::vector<size_t> pdq_input;  // the input of each salted PDQ
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].pdq) {
      salted.push_back(intake_.SaltPdq(*raw[i].pdq));
      pdq_input.push_back(i);
    } else {
      HB_ASSIGN_OR_RETURN(out[i], OwnSignalsWithHash(bank, raw[i]));
    }
  }
  if (salted.empty()) return out;
  for (const Match& x : index_.MatchPdq(salted, 0)) {
    if (x.bank == bank && x.ref.origin == options_.node_id) out[pdq_input[x.query_index]].push_back(x.ref);
  }
  return out;
}

absl::StatusOr<std::vector<Match>> Bank::MatchMd5(const Md5Digest& raw) const {
  auto salted = intake_.SaltExact(ExactKind::kMd5, raw);
  if (!salted.ok()) return salted.status();
  return Enabled(index_.MatchExact(ExactKind::kMd5, *salted));
}

absl::StatusOr<std::vector<Match>> Bank::MatchSha256(const Sha256Digest& raw) const {
  auto salted = intake_.SaltExact(ExactKind::kSha256, raw);
  if (!salted.ok()) return salted.status();
  return Enabled(index_.MatchExact(ExactKind::kSha256, *salted));
}

absl::StatusOr<std::vector<Match>> Bank::MatchEmbedding(const EmbeddingInput& raw, float min_similarity,
                                                        size_t limit, const MatchFilter& filter) const {
  if (!IsLowerHex64(raw.model_id)) return absl::InvalidArgumentError("embedding.model_id: 64 lowercase hex");
  // Before salting: an unknown model has nothing to match, and salting a new dimension builds a rotation.
  if (index_.EmbeddingCount(raw.model_id) == 0) return std::vector<Match>{};
  auto salted = intake_.SaltEmbedding(raw);
  if (!salted.ok()) return salted.status();
  return index_.MatchEmbedding(raw.model_id, *salted, min_similarity, limit, [&](const Match& m) {
    return catalog_.MatchEnabled(m.bank, FormatSignalId(m.ref)) && content_.Enabled(m.ref) && PassesMatchFilter(filter, m);
  });
}

absl::StatusOr<std::vector<Match>> Bank::Enabled(absl::StatusOr<std::vector<Match>> matches) const {
  if (!matches.ok()) return matches;
  std::erase_if(*matches, [this](const Match& m) {
    return !catalog_.MatchEnabled(m.bank, FormatSignalId(m.ref)) || !content_.Enabled(m.ref);
  });
  return matches;
}

bool PassesMatchFilter(const MatchFilter& filter, const Match& m) {
  if (!filter.banks.empty() && std::find(filter.banks.begin(), filter.banks.end(), m.bank) == filter.banks.end()) return false;
  if (filter.labels.empty()) return true;
  return std::any_of(m.labels.begin(), m.labels.end(), [&](const std::string& l) {
    return std::find(filter.labels.begin(), filter.labels.end(), l) != filter.labels.end();
  });
}

void ApplyMatchFilter(const MatchFilter& filter, std::vector<Match>* matches) {
  if (filter.empty()) return;
  std::erase_if(*matches, [&](const Match& m) { return !PassesMatchFilter(filter, m); });
}

std::vector<BankView> Bank::ListBanks() const {
  const std::vector<std::pair<std::string, size_t>> counts = index_.BankCounts();
  std::vector<BankView> out;
  for (BankConfig& c : catalog_.List()) out.push_back(BankView{std::move(c), 0});
  // Banks that peers' signals name but this node never configured, with the defaults.
  for (const auto& [bank_name, n] : counts) {
    const std::string& name = bank_name;  // a reference a lambda may capture (clang: no structured bindings)
    auto it = std::find_if(out.begin(), out.end(), [&](const BankView& v) { return v.config.name == name; });
    if (it == out.end()) {
      out.push_back(BankView{catalog_.Get(name), n});
    } else {
      it->signals = n;
    }
  }
  std::sort(out.begin(), out.end(), [](const BankView& a, const BankView& b) { return a.config.name < b.config.name; });
  return out;
}

bool Bank::BankExists(std::string_view name) const {
  if (catalog_.IsConfigured(name)) return true;
  for (const auto& [n, count] : index_.BankCounts()) {
    if (n == name) return true;
  }
  return false;
}

bool Bank::BankConfigured(std::string_view name) const { return catalog_.IsConfigured(name); }

absl::Status Bank::RenameBank(std::string_view from, std::string_view to, const Actor& actor) {
  if (from == kDefaultBank) return absl::FailedPreconditionError("the default bank cannot be renamed");
  absl::WriterMutexLock gate(&bank_gate_);  // no submission lands in `from` between the check and the rename
  if (deleting_banks_.contains(from)) {
    return absl::FailedPreconditionError(absl::StrCat("bank ", std::string(from), " is being deleted"));
  }
  if (!catalog_.IsConfigured(from)) return absl::NotFoundError(absl::StrCat("no bank ", std::string(from)));
  if (BankExists(to)) return absl::AlreadyExistsError(absl::StrCat("bank ", std::string(to), " already exists"));
  auto any = store_->ListByLabel(BankListKey(from), std::nullopt, 1);
  if (!any.ok()) return any.status();
  if (!any->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bank ", std::string(from), " holds signals, whose bank is part of their signed log entries: a bank can be "
        "renamed only while it is empty"));
  }
  return catalog_.Rename(from, to, actor.name);
}

absl::StatusOr<BankView> Bank::GetBank(std::string_view name) const {
  for (BankView& v : ListBanks()) {
    if (v.config.name == name) return std::move(v);
  }
  return absl::NotFoundError(absl::StrCat("no bank ", std::string(name)));
}

absl::StatusOr<BankConfig> Bank::CreateBank(BankConfig config, const Actor& actor) {
  return catalog_.Create(std::move(config), actor.name);
}

absl::StatusOr<BankConfig> Bank::UpdateBank(std::string_view name, const BankUpdate& update, const Actor& actor) {
  return catalog_.Update(name, update, actor.name);
}

absl::StatusOr<size_t> Bank::DeleteBank(std::string_view name, const Actor& actor) {
  if (name == kDefaultBank) return absl::FailedPreconditionError("the default bank cannot be deleted");
  {
    // From here on submissions to the bank are refused; those past their check are durable once we hold this.
    absl::WriterMutexLock gate(&bank_gate_);
    if (!catalog_.IsConfigured(name)) return absl::NotFoundError(absl::StrCat("no bank ", std::string(name)));
    if (!deleting_banks_.emplace(name).second) {
      return absl::FailedPreconditionError(absl::StrCat("bank ", std::string(name), " is being deleted already"));
    }
  }
  absl::StatusOr<size_t> withdrawn = WithdrawBankAndForget(name, actor);
  absl::WriterMutexLock gate(&bank_gate_);
  deleting_banks_.erase(deleting_banks_.find(name));
  return withdrawn;
}

absl::StatusOr<size_t> Bank::WithdrawBankAndForget(std::string_view name, const Actor& actor) {
  // This node's own signals are withdrawn; another origin's keep the bank alive.
  size_t withdrawn = 0;
  std::optional<SignalRef> after;
  for (;;) {
    auto page = store_->ListByLabel(BankListKey(name), after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const SignalRef& ref : *page) {
      if (ref.origin != options_.node_id) {
        return absl::FailedPreconditionError(absl::StrCat(
            "bank ", std::string(name), " holds signals of other members (", ref.origin,
            "); they are not this node's to withdraw: set its matching_enabled_ratio to 0 to stop matching them"));
      }
    }
    after = page->back();
  }
  after.reset();
  for (;;) {
    auto page = store_->ListByLabel(BankListKey(name), after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const SignalRef& ref : *page) {
      absl::Status s = Withdraw(ref, actor, "bank_deleted");
      if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
      if (s.ok()) ++withdrawn;
    }
    after = page->back();
  }
  if (absl::Status s = catalog_.Remove(name, actor.name); !s.ok()) return s;
  return withdrawn;
}

absl::StatusOr<std::optional<std::string>> Bank::GetStateRow(const std::string& name) const { return store_->GetState(name); }

absl::Status Bank::ForEachStateRow(std::string_view prefix,
                                   const std::function<absl::Status(std::string_view, std::string_view)>& fn) const {
  return store_->ForEachState(prefix, fn);
}

absl::Status Bank::ExportBank(std::string_view bank, const std::function<void(const ExportedSignal&)>& fn,
                              size_t* exact_only) const {
  *exact_only = 0;
  std::optional<SignalRef> after;
  for (;;) {
    auto page = store_->ListByLabel(BankListKey(bank), after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) return absl::OkStatus();
    for (const SignalRef& ref : *page) {
      auto bytes = store_->GetEntry(ref);
      if (!bytes.ok()) return bytes.status();
      pb::Entry entry;
      if (!bytes->has_value() || !entry.ParseFromString(**bytes) || !entry.has_signal()) continue;
      const pb::Signal& sig = entry.signal();
      if (sig.pdq().size() != 32) {
        if (!sig.md5().empty() || !sig.sha256().empty()) ++*exact_only;
        continue;
      }
      ExportedSignal e;
      e.ref = ref;
      e.pdq = intake_.UnsaltPdq(PdqFromBytes(sig.pdq()));
      e.quality = static_cast<int>(sig.pdq_quality());
      HB_ASSIGN_OR_RETURN(e.labels, CurrentLabels(*store_, ref, sig));
      e.content_id = sig.content_id();
      fn(e);
    }
    after = page->back();
  }
}

absl::StatusOr<int64_t> Bank::ContentId(const SignalRef& ref) { return content_.IdOf(ref); }
absl::StatusOr<SignalRef> Bank::ContentRef(int64_t id) const { return content_.RefOf(id); }
ContentState Bank::GetContentState(const SignalRef& ref) const { return content_.Get(ref); }
absl::Status Bank::SetContentState(const SignalRef& ref, const ContentState& state, const Actor& actor) {
  return content_.Set(ref, state, actor.name);
}

absl::StatusOr<std::vector<SignalRef>> Bank::ListSignals(const SignalListing& l) const {
  const int given = !l.bank.empty() + !l.label.empty() + !l.case_ref.empty();
  if (given != 1) return absl::InvalidArgumentError("exactly one of bank, label, case_ref is required");
  const std::string key = !l.bank.empty() ? BankListKey(l.bank) : !l.label.empty() ? l.label : CaseListKey(l.case_ref);
  if (l.case_ref.empty()) return store_->ListByLabel(key, l.after, l.limit);
  // A case reference is the submitter's own: only this node's signals are listed by it (another member's
  // case references are not for guessing at).
  std::optional<SignalRef> after = l.after;
  if (!after || after->origin < options_.node_id) after = SignalRef{options_.node_id, 0};
  auto refs = store_->ListByLabel(key, after, l.limit);
  if (!refs.ok()) return refs;
  std::erase_if(*refs, [this](const SignalRef& r) { return r.origin != options_.node_id; });
  return refs;
}

absl::StatusOr<std::string> Bank::CreateToken(Role role, const std::string& name, const Actor& actor, int64_t expires_ms) {
  return tokens_.Create(role, name, actor, expires_ms);
}
std::optional<Actor> Bank::Authenticate(std::string_view token) const { return tokens_.Authenticate(token); }
size_t Bank::token_count() const { return tokens_.size(); }

absl::StatusOr<std::string> Bank::ExportSegment(const std::string& origin, uint64_t from_size, uint64_t max_leaves) const {
  return replica_.ExportSegment(origin, from_size, max_leaves);
}
absl::StatusOr<AppliedSegment> Bank::ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                                  std::string_view segment_bytes) {
  return replica_.ApplySegment(origin, origin_key, segment_bytes);
}
absl::StatusOr<TrustedLog> Bank::TrustedState(const std::string& origin) const { return replica_.TrustedState(origin); }
PreparedSegment Bank::PrepareSegment(const std::string& origin, const Ed25519PublicKey& origin_key, TrustedLog base,
                                     std::string_view segment_bytes) const {
  return replica_.Prepare(origin, origin_key, std::move(base), segment_bytes);
}
absl::StatusOr<AppliedSegment> Bank::ApplyPrepared(PreparedSegment prepared) { return replica_.Apply(std::move(prepared)); }
absl::StatusOr<AppliedSegment> Bank::ApplyVerified(const std::string& origin, const Ed25519PublicKey& origin_key,
                                                   const TrustedLog& base, SegmentResult result) {
  PreparedSegment p;
  p.origin = origin;
  p.origin_key = origin_key;
  p.base = base;
  p.result = std::move(result);
  return replica_.Apply(std::move(p));
}
absl::StatusOr<std::optional<CheckpointView>> Bank::LatestCheckpoint(const std::string& origin) const {
  return replica_.LatestCheckpoint(origin);
}
absl::Status Bank::VerifyTables(std::ostream& report) const {
  absl::Status first = absl::OkStatus();
  auto line = [&](const char* what, const absl::Status& s, const std::string& detail) {
    report << (s.ok() ? "ok   " : "FAIL ") << what << ": " << detail << (s.ok() ? "" : ": " + std::string(s.message())) << '\n';
    first.Update(s);
  };
  line("audit chain", store_->VerifyAuditChain(), "every record chains to the one before");
  // The stored signal at `ref` (nullopt: none, purged or not a signal).
  auto signal_at = [&](const SignalRef& ref) -> absl::StatusOr<std::optional<pb::Signal>> {
    auto bytes = store_->GetEntry(ref);
    if (!bytes.ok()) return bytes.status();
    pb::Entry entry;
    if (!bytes->has_value() || !entry.ParseFromString(**bytes) || !entry.has_signal()) return std::optional<pb::Signal>();
    return std::optional<pb::Signal>(entry.signal());
  };
  size_t exact = 0;
  absl::Status s = store_->ForEachExactRow([&](ExactKind8 kind, std::string_view digest, const SignalRef& ref) -> absl::Status {
    ++exact;
    HB_ASSIGN_OR_RETURN(std::optional<pb::Signal> sig, signal_at(ref));
    const std::string_view stored = !sig ? "" : kind == ExactKind8::kMd5 ? std::string_view(sig->md5()) : std::string_view(sig->sha256());
    if (stored != digest) {
      return absl::DataLossError(absl::StrCat("an exact-digest row of ", FormatSignalId(ref),
                                              sig ? " names a digest the signal does not carry" : " points at no stored signal"));
    }
    return absl::OkStatus();
  });
  line("exact-digest rows", s, absl::StrCat(exact, " rows point at stored signals with those digests"));
  size_t labels = 0;
  s = store_->ForEachLabelRow([&](std::string_view label, const SignalRef& ref) -> absl::Status {
    ++labels;
    HB_ASSIGN_OR_RETURN(std::optional<pb::Signal> sig, signal_at(ref));
    if (!sig) return absl::DataLossError(absl::StrCat("a label or listing row of ", FormatSignalId(ref), " points at no stored signal"));
    if (label == BankListKey(BankOf(*sig)) || (!sig->case_ref().empty() && label == CaseListKey(sig->case_ref()))) {
      return absl::OkStatus();
    }
    HB_ASSIGN_OR_RETURN(std::vector<std::string> current, CurrentLabels(*store_, ref, *sig));
    if (std::find(current.begin(), current.end(), label) == current.end()) {
      return absl::DataLossError(absl::StrCat("a label row of ", FormatSignalId(ref), " names a label the signal does not have"));
    }
    return absl::OkStatus();
  });
  line("label and listing rows", s, absl::StrCat(labels, " rows point at stored signals with those labels, banks and cases"));
  // The other direction: every stored signal has all its rows. (A member's signal stored while its origin is
  // suspended has none, by design; entries that do not parse are the log check's finding.)
  size_t signals = 0;
  s = store_->ForEachEntry([&](const SignalRef& ref, std::string_view bytes) -> absl::Status {
    pb::Entry entry;
    if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !entry.has_signal()) return absl::OkStatus();
    if (replica_.HeldBySuspension(ref)) return absl::OkStatus();
    ++signals;
    HB_ASSIGN_OR_RETURN(const std::string missing, MissingIndexRow(*store_, ref, entry.signal()));
    if (!missing.empty()) return absl::DataLossError(absl::StrCat(FormatSignalId(ref), " is missing its ", missing));
    return absl::OkStatus();
  });
  line("signals' index rows", s, absl::StrCat(signals, " stored signals have all their exact-digest, label and listing rows"));
  // Parts kept at the origin (node/kept_at_origin.h) belong to a stored own signal and parse.
  size_t kept_rows = 0;
  s = store_->ForEachState(kKeptRowPrefix, [&](std::string_view name, std::string_view value) -> absl::Status {
    ++kept_rows;
    uint64_t seq = 0;
    pb::Signal kept;
    if (!absl::SimpleAtoi(std::string(name), &seq) || !kept.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
        KeptTypes(kept).empty()) {
      return absl::DataLossError(absl::StrCat("kept row ", std::string(name), " does not parse"));
    }
    HB_ASSIGN_OR_RETURN(std::optional<pb::Signal> sig, signal_at(SignalRef{options_.node_id, seq}));
    if (!sig) {
      return absl::DataLossError(absl::StrCat("the kept fingerprints of ", FormatSignalId(SignalRef{options_.node_id, seq}),
                                              " belong to no stored signal (withdrawn signals' are purged)"));
    }
    return absl::OkStatus();
  });
  line("kept-at-origin rows", s, absl::StrCat(kept_rows, " rows of fingerprints kept here belong to stored own signals"));
  return first;
}

absl::StatusOr<AppliedSegment> Bank::RecoverOwnTail(std::string_view segment_bytes) {
  auto applied = replica_.RecoverOwn(segment_bytes);
  if (!applied.ok()) return applied.status();
  if (absl::Status s = own_log_.Load(); !s.ok()) return s;
  return applied;
}

absl::Status Bank::VerifyStoredLogs(std::ostream& report) const { return replica_.VerifyStoredLogs(report); }
absl::StatusOr<std::vector<std::string>> Bank::Evidence(const std::string& origin) const { return replica_.Evidence(origin); }
bool Bank::IsEquivocating(const std::string& origin) const { return replica_.IsEquivocating(origin); }
absl::StatusOr<std::vector<std::string>> Bank::Origins() const { return replica_.Origins(); }
absl::Status Bank::Compact() { return store_->CompactAll(); }

void Bank::SetCommitListener(std::function<void()> listener) { notifier_.SetListener(std::move(listener)); }
void Bank::SetEventListener(std::function<void()> listener) {
  notifier_.SetListener(std::move(listener), CommitNotifier::kEvents);
}

absl::StatusOr<std::vector<std::string>> Bank::AddWatch(const std::vector<WatchInput>& items, const Actor& actor) {
  std::vector<WatchItem> salted;
  salted.reserve(items.size());
  for (const WatchInput& in : items) {
    WatchItem w;
    w.content_ref = in.content_ref;
    if (in.pdq) w.pdq = intake_.SaltPdq(*in.pdq);
    if (in.md5) {
      auto s = intake_.SaltExact(ExactKind::kMd5, *in.md5);
      if (!s.ok()) return s.status();
      w.md5 = *s;
    }
    if (in.sha256) {
      auto s = intake_.SaltExact(ExactKind::kSha256, *in.sha256);
      if (!s.ok()) return s.status();
      w.sha256 = *s;
    }
    // Salted and sorted exactly as a banked signal's (SaltRobust; its error names the field).
    for (const auto& [raw, out, field] : {std::tuple{&in.robust, &w.robust, "robust"},
                                          std::tuple{&in.robust_mirrored, &w.robust_mirrored, "robust_mirrored"}}) {
      if (!*raw) continue;
      auto s = intake_.SaltRobust(**raw, field);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("items[", salted.size(), "].", s.status().message()));
      *out = *std::move(s);
    }
    if (in.vpdq) {
      auto s = intake_.SaltVideo(*in.vpdq);
      if (!s.ok()) return absl::Status(s.status().code(), absl::StrCat("items[", salted.size(), "].", s.status().message()));
      w.vpdq = *std::move(s);
    }
    salted.push_back(std::move(w));
  }
  auto ids = notifications_.AddWatch(actor.name, salted);
  if (!ids.ok()) return ids;
  // What is already banked and matches is reported now: a signal banked between the member's match and its
  // watch registration must not be missed. (Excluded origins and disabled banks are left out by Enabled.)
  std::vector<Notifications::ExistingMatch> existing;
  for (size_t i = 0; i < salted.size(); ++i) {
    std::vector<Match> found;
    if (salted[i].pdq) {
      auto m = Enabled(index_.MatchPdq(std::span<const Hash256>(&*salted[i].pdq, 1), notifications_.pdq_max_distance()));
      if (m.ok()) found.insert(found.end(), m->begin(), m->end());
    }
    for (const auto& [kind, digest] : {std::pair{ExactKind::kMd5, salted[i].md5}, std::pair{ExactKind::kSha256, salted[i].sha256}}) {
      if (!digest) continue;
      auto m = Enabled(index_.MatchExact(kind, *digest));
      if (m.ok()) found.insert(found.end(), m->begin(), m->end());
    }
    if (salted[i].robust) {
      // The watched upload as the query, banked signals as the banked side: as /v1/match/image, with the
      // upload's mirror fingerprint as the mirrored query when the member sent it.
      absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(*salted[i].robust);
      absl::StatusOr<RobustFingerprint> mirrored = salted[i].robust_mirrored
                                                       ? DecodeRobustFingerprint(*salted[i].robust_mirrored)
                                                       : absl::StatusOr<RobustFingerprint>(RobustFingerprint{});
      if (fp.ok() && mirrored.ok()) {
        auto m = Enabled(index_.MatchRobust(fp->features, mirrored->features));
        if (m.ok()) found.insert(found.end(), m->begin(), m->end());
      }
    }
    if (salted[i].vpdq) {
      // The watched video as the query, as /v1/match/video matches it (its frames as hashed: no mirrored or
      // bar-less pass, which only the node that decodes the video can make).
      if (auto video = Notifications::DecodeWatchedVideo(*salted[i].vpdq); video.ok() && !video->frames.empty()) {
        std::vector<VideoQueryPass> passes(1);
        passes[0].frames = std::move(video->frames);
        auto m = Enabled(index_.MatchVideo(passes, video->interval, notifications_.video_rule()));
        if (m.ok()) found.insert(found.end(), m->begin(), m->end());
      }
    }
    std::vector<SignalRef> seen;
    for (const Match& m : found) {
      if (std::find(seen.begin(), seen.end(), m.ref) != seen.end()) continue;
      seen.push_back(m.ref);
      existing.push_back({(*ids)[i], m.ref, m.bank, m.labels, m.signal_type, m.distance,
                          m.robust ? m.robust->inliers : 0, m.mirrored, m.video});
    }
  }
  if (absl::Status s = notifications_.ReportExisting(existing); !s.ok()) return s;
  return ids;
}
absl::Status Bank::Suspend(const std::string& origin, bool exclude_from_matching, const Actor& actor) {
  return replica_.Suspend(origin, exclude_from_matching, actor.name);
}
absl::Status Bank::Unsuspend(const std::string& origin, const Actor& actor) {
  // The watch lists' scanner passed the held signals without matching them: it matches them once now.
  return replica_.Unsuspend(origin, actor.name, [&origin](StoreBatch* batch, uint64_t from) {
    Notifications::AddReleasedRow(batch, origin, from);
  });
}
bool Bank::IsSuspended(const std::string& origin) const { return replica_.IsSuspended(origin); }

absl::StatusOr<std::vector<AuditRecord>> Bank::Audit(uint64_t after, size_t limit) const {
  return store_->ListAudit(after, limit);
}
absl::Status Bank::Backup(const std::string& dir) const { return store_->Checkpoint(dir); }

BankStats Bank::Stats() const {
  const IndexStats i = index_.Stats();
  BankStats s;
  s.signals = i.signals;
  s.pdq = i.pdq;
  s.exact = i.exact;
  s.md5 = i.md5;
  s.embeddings = i.embeddings;
  s.pdq_index_bytes = i.pdq_index_bytes;
  s.robust = i.robust;
  s.robust_index_bytes = i.robust_index_bytes;
  s.videos = i.videos;
  s.video_frames = i.video_frames;
  s.video_index_bytes = i.video_index_bytes;
  s.video_keyframes = i.video_keyframes;
  s.video_keyframe_bytes = i.video_keyframe_bytes;
  s.rebuild_seconds = rebuild_seconds_;
  return s;
}

absl::StatusOr<uint64_t> Bank::RepublishOwnSignals(const std::string& old_salt_id, const Resalter& resalt, size_t chunk,
                                                   const Actor& actor) {
  const std::string& own = options_.node_id;
  uint64_t republished = 0;
  uint64_t next = 1;  // the first own sequence not looked at yet
  while (true) {
    // The next chunk of live own signals under the old salt (the log only grows at its end, by this loop).
    std::vector<std::pair<uint64_t, pb::Signal>> batch_signals;
    size_t batch_bytes = 0;  // a chunk is also capped by size: one vPDQ entry can be megabytes
    constexpr size_t kMaxChunkBytes = size_t{64} << 20;
    const uint64_t end = own_log_.durable_size() + 1;
    absl::Status scan = store_->ScanEntries(own, next, end, [&](uint64_t seq, std::string_view bytes) -> absl::Status {
      if (batch_signals.size() >= chunk || batch_bytes >= kMaxChunkBytes) {
        return absl::CancelledError("chunk full");  // stops the scan here
      }
      next = seq + 1;
      pb::Entry entry;
      if (bytes.empty() || !entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !entry.has_signal()) {
        return absl::OkStatus();
      }
      if (entry.signal().salt_id() != old_salt_id) return absl::OkStatus();
      batch_bytes += bytes.size();
      HB_RETURN_IF_ERROR(MergeKeptParts(seq, entry.mutable_signal()));  // re-salted too
      batch_signals.emplace_back(seq, entry.signal());
      return absl::OkStatus();
    });
    if (!scan.ok() && !absl::IsCancelled(scan)) return scan;
    if (batch_signals.empty()) return republished;
    std::vector<std::pair<SignalRef, pb::Signal>> withdrawn;
    auto appended = own_log_.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
      withdrawn.clear();
      std::vector<pb::Entry> signals, withdrawals;
      std::vector<std::optional<pb::Signal>> kept;
      for (const auto& [seq, old] : batch_signals) {
        const SignalRef ref{own, seq};
        auto tomb = store_->GetTombstone(ref);
        if (!tomb.ok()) return tomb.status();
        if (tomb->has_value() || !scope.Claim(WithdrawalClaim(seq))) continue;  // withdrawn meanwhile
        HB_ASSIGN_OR_RETURN(pb::Signal fresh, resalt(old, seq));
        HB_ASSIGN_OR_RETURN(std::vector<std::string> labels, CurrentLabels(*store_, ref, old));
        fresh.clear_labels();
        for (std::string& l : labels) fresh.add_labels(std::move(l));
        kept.push_back(SplitKept(options_.keep_at_origin, &fresh));  // kept as this node keeps them now
        if (kept.back()) has_kept_rows_ = true;
        *signals.emplace_back().mutable_signal() = std::move(fresh);
        withdrawn.emplace_back(ref, old);
      }
      const uint64_t n = signals.size();
      StoreBatch& b = *scope.batch();
      for (uint64_t k = 0; k < n; ++k) {
        AddSignalRows(&b, signals[k].signal(), SignalRef{own, scope.first_sequence() + k});
        if (kept[k]) b.PutState(KeptRow(scope.first_sequence() + k), kept[k]->SerializeAsString());
        const auto& [ref, old] = withdrawn[k];
        b.DeleteEntry(ref);
        b.DeleteState(KeptRow(ref.sequence));
        DeleteSignalRows(&b, old, ref);
        HB_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> edited, EditedLabels(*store_, ref));
        DeleteLabelEditRows(&b, ref, edited.value_or(std::vector<std::string>()));
        b.PutTombstone(ref, Tombstone{scope.now_ms(), actor.name, "salt_rotation", SignalRef{own, scope.first_sequence() + n + k}});
        pb::Entry& w = withdrawals.emplace_back();
        w.mutable_withdrawal()->set_signal_sequence(ref.sequence);
        w.mutable_withdrawal()->set_reason("salt_rotation");
      }
      if (n > 0) b.AddAudit(actor.name, "salt.rotate", absl::StrCat(n, " signals from ", scope.first_sequence(), " on"));
      for (pb::Entry& w : withdrawals) signals.push_back(std::move(w));
      return signals;
    });
    if (!appended.ok()) return appended.status();
    IndexAppended(*appended);
    for (const auto& [ref, old] : withdrawn) index_.Remove(ref, old);
    republished += withdrawn.size();
  }
}

absl::StatusOr<std::map<uint64_t, uint64_t>> Bank::ResaltedOwnSignals() const {
  std::map<uint64_t, uint64_t> moved;
  absl::Status s = store_->ScanEntries(options_.node_id, 1, own_log_.durable_size() + 1,
                                       [&](uint64_t seq, std::string_view bytes) -> absl::Status {
                                         pb::Entry entry;
                                         if (!bytes.empty() && entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
                                             entry.has_signal() && entry.signal().resalted_from() != 0) {
                                           moved[entry.signal().resalted_from()] = seq;
                                         }
                                         return absl::OkStatus();
                                       });
  if (!s.ok()) return s;
  return moved;
}

absl::Status Bank::CommitSaltSwitch(const Salter& to, const std::vector<std::pair<std::string, std::string>>& puts,
                                    const std::vector<std::string>& deletes) {
  StoreBatch batch;
  for (const auto& [name, value] : puts) batch.PutState(name, value);
  for (const std::string& name : deletes) batch.DeleteState(name);
  batch.PutState("salt_id", to.salt_id());
  batch.PutState("salt_check", to.check_value());
  batch.DeleteState(kSaltRotationTargetRow);
  return store_->Commit(std::move(batch), options_.now_ms());
}

absl::Status Bank::PutStateRow(const std::string& name, const std::string& value) {
  StoreBatch batch;
  batch.PutState(name, value);
  return store_->Commit(std::move(batch), options_.now_ms());
}

}  // namespace hashbank
