#include "node/bank.h"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <mutex>
#include <set>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "crypto/sha256.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"

#include <google/protobuf/arena.h>

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

constexpr size_t kMaxLabels = 16;
constexpr size_t kMaxLabelLength = 64;
constexpr size_t kMaxCaseRef = 256;
constexpr size_t kMaxTokenName = 64;

std::string PdqBytes(const Hash256& h) {
  std::string out(32, '\0');
  for (size_t i = 0; i < 32; ++i) out[i] = static_cast<char>((h.limbs[i / 8] >> (8 * (i % 8))) & 0xFF);
  return out;
}

Hash256 PdqFromBytes(std::string_view b) {
  Hash256 h;
  for (size_t i = 0; i < 32; ++i) h.limbs[i / 8] |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * (i % 8));
  return h;
}

Digest32 DigestFromBytes(std::string_view b) {
  Digest32 d{};
  std::memcpy(d.data(), b.data(), 32);
  return d;
}

std::string DigestBytes(const SaltedExactDigest& d) { return std::string(d.begin(), d.end()); }

bool ValidLabel(std::string_view l) {
  if (l.empty() || l.size() > kMaxLabelLength) return false;
  return std::all_of(l.begin(), l.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool IsLowerHex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string Sha256Raw(std::string_view data) {
  const Sha256Hash h = Sha256(data);
  return std::string(h.begin(), h.end());
}

std::string HashBytes(const MerkleHash& h) { return std::string(h.begin(), h.end()); }

std::span<const uint8_t> AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Perfect subtrees of one origin's log, read from the `nodes` column family.
class StoreSubtreeSource : public SubtreeSource {
 public:
  StoreSubtreeSource(const SignalStore* store, std::string origin) : store_(store), origin_(std::move(origin)) {}
  absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t level, uint64_t index) const override {
    // Level 0 is the leaf itself, kept once, in `leaves`.
    auto v = level == 0 ? store_->GetLeaf(SignalRef{origin_, index + 1}) : store_->GetNode(origin_, level, index);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->size() != 32) {
      return absl::DataLossError(absl::StrCat("log ", origin_, ": subtree ", level, "/", index, " is missing"));
    }
    MerkleHash h;
    std::memcpy(h.data(), (*v)->data(), 32);
    return h;
  }

 private:
  const SignalStore* store_;
  std::string origin_;
};

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSubmit: return "submit";
    case Role::kQuery: return "query";
    case Role::kAdmin: return "admin";
  }
  return "query";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "submit") return Role::kSubmit;
  if (name == "query") return Role::kQuery;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

Bank::Bank(BankOptions options, std::unique_ptr<Salter> salter, std::unique_ptr<SignalStore> store)
    : options_(std::move(options)), salter_(std::move(salter)), store_(std::move(store)) {}
Bank::~Bank() = default;

absl::StatusOr<std::unique_ptr<Bank>> Bank::Open(BankOptions options, std::unique_ptr<Salter> salter) {
  if (!options.now_ms) options.now_ms = SystemNowMs;
  if (!options.signing_key) return absl::InvalidArgumentError("a signing key is required to keep a signed log");
  auto store = SignalStore::Open(options.data_dir + "/db");
  if (!store.ok()) return store.status();
  std::unique_ptr<Bank> bank(new Bank(std::move(options), std::move(salter), std::move(*store)));
  auto salt_id = bank->store_->GetState("salt_id");
  if (!salt_id.ok()) return salt_id.status();
  if (salt_id->has_value() && **salt_id != bank->salter_->salt_id()) {
    return absl::FailedPreconditionError(absl::StrCat("the database was salted with salt id \"", **salt_id,
                                                      "\" but the configured salt is \"", bank->salter_->salt_id(),
                                                      "\"; refusing to mix salts"));
  }
  if (!salt_id->has_value()) {
    StoreBatch init;
    init.PutState("salt_id", bank->salter_->salt_id());
    init.PutState("node_id", bank->options_.node_id);
    if (absl::Status s = bank->store_->Commit(std::move(init), bank->options_.now_ms()); !s.ok()) return s;
  }
  auto own = bank->LoadTree(bank->options_.node_id);
  if (!own.ok()) return own.status();
  bank->own_tree_ = std::move(*own);
  if (absl::Status s = bank->store_->ForEachState("suspended/", [&](std::string_view name, std::string_view value) {
        Suspension sus;
        sus.exclude = value.rfind("exclude", 0) == 0;
        const size_t space = value.find(' ');
        if (space != std::string_view::npos) {
          std::from_chars(value.data() + space + 1, value.data() + value.size(), sus.from);
        }
        bank->suspended_[std::string(name.substr(10))] = sus;
      });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = bank->Rebuild(); !s.ok()) return s;
  bank->next_sequence_ = bank->own_tree_.size() + 1;
  return bank;
}

absl::Status Bank::IndexEntry(const SignalRef& ref, std::string_view entry_bytes) {
  pb::Entry entry;
  if (!entry.ParseFromArray(entry_bytes.data(), static_cast<int>(entry_bytes.size()))) {
    return absl::DataLossError(absl::StrCat("stored entry ", FormatSignalId(ref), " does not parse"));
  }
  return IndexParsed(ref, entry, nullptr);
}

absl::Status Bank::IndexParsed(const SignalRef& ref, const pb::Entry& entry,
                               std::vector<std::pair<Hash256, uint64_t>>* pdq_out) {
  if (ref.origin == options_.node_id) next_sequence_ = std::max(next_sequence_, ref.sequence + 1);
  if (entry.has_model()) RegisterModel(entry.model().model_id(), entry.model().dimension());
  if (!entry.has_signal()) return absl::OkStatus();
  const pb::Signal& sig = entry.signal();
  if (sig.pdq().empty() && sig.md5().empty() && sig.sha256().empty() && !sig.has_embedding()) {
    return absl::OkStatus();  // withdrawn: values purged
  }
  uint64_t local;
  ++live_signals_;
  {
    std::unique_lock lock(meta_mu_);
    local = RegisterLocal(ref, sig.labels());
  }
  if (sig.pdq().size() == 32) {
    if (pdq_out != nullptr) {
      pdq_out->push_back({PdqFromBytes(sig.pdq()), local});
    } else if (absl::Status s = pdq_.Insert(PdqFromBytes(sig.pdq()), local); !s.ok()) {
      return s;
    }
  }
  if (sig.md5().size() == 32) {
    if (absl::Status s = md5_.Insert(DigestFromBytes(sig.md5()), local); !s.ok()) return s;
  }
  if (sig.sha256().size() == 32) {
    if (absl::Status s = sha256_.Insert(DigestFromBytes(sig.sha256()), local); !s.ok()) return s;
  }
  if (sig.has_embedding()) {
    const auto& e = sig.embedding();
    if (absl::Status s = vectors_.AddModel(e.model_id(), e.vector_size()); !s.ok() && !absl::IsAlreadyExists(s)) return s;
    std::vector<float> v(e.vector().begin(), e.vector().end());
    if (absl::Status s = vectors_.Insert(e.model_id(), local, v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Bank::Rebuild() {
  const auto start = std::chrono::steady_clock::now();
  // PDQ hashes are collected first and bulk-loaded: the fast path for millions of entries.
  std::vector<std::pair<Hash256, uint64_t>> pdq_entries;
  size_t unindexable = 0;
  absl::Status s = store_->ForEachEntry([&](const SignalRef& ref, std::string_view bytes) -> absl::Status {
    pb::Entry entry;
    if (!entry.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat("stored entry ", FormatSignalId(ref), " does not parse"));
    }
    if (entry.has_signal() && ref.origin != options_.node_id) {
      auto sus = suspended_.find(ref.origin);  // loaded before the rebuild; single-threaded here
      if (sus != suspended_.end() && ref.sequence > sus->second.from) return absl::OkStatus();  // refused
    }
    // PDQ hashes are collected for the bulk load. A member's entry this node cannot index (say, an
    // embedding whose dimension disagrees with its model) must not keep the node from starting: it is
    // counted and left out of the indexes.
    if (!IndexParsed(ref, entry, &pdq_entries).ok()) ++unindexable;
    return absl::OkStatus();
  });
  if (unindexable > 0) std::cerr << "hashbank: " << unindexable << " stored entries could not be indexed\n";
  if (!s.ok()) return s;
  if (absl::Status b = pdq_.BulkLoad(pdq_entries); !b.ok()) return b;
  s = store_->ForEachToken([&](std::string_view hash, std::string_view record) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(record, ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.as_object();
    const auto* name = o.if_contains("name");
    const auto* role = o.if_contains("role");
    if (name == nullptr || role == nullptr || !name->is_string() || !role->is_string()) return;
    auto parsed = ParseRole(std::string(role->as_string()));
    if (!parsed) return;
    tokens_[std::string(hash)] = Actor{std::string(name->as_string()), *parsed};
  });
  if (!s.ok()) return s;
  rebuild_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return absl::OkStatus();
}

namespace {

// Validates and salts one submission into a Signal message. Field names in errors are the API's.
absl::StatusOr<pb::Signal> BuildSignal(const SignalInput& in, const Salter& salter, int quality_floor,
                                        const Actor& actor) {
  pb::Signal sig;
  if (!in.pdq && !in.md5 && !in.sha256 && !in.embedding) {
    return absl::InvalidArgumentError("at least one of pdq, md5, sha256, embedding is required");
  }
  sig.set_salt_id(salter.salt_id());
  if (in.pdq) {
    if (!in.quality) return absl::InvalidArgumentError("quality: required with pdq (0-100)");
    if (*in.quality < 0 || *in.quality > 100) return absl::InvalidArgumentError("quality: must be 0-100");
    if (*in.quality < quality_floor) {
      return absl::FailedPreconditionError(
          absl::StrCat("quality: ", *in.quality, " is below this node's floor of ", quality_floor,
                       "; such PDQ hashes match unrelated images"));
    }
    Hash256 salted;
    salted.limbs = salter.SaltPdq(in.pdq->limbs);
    sig.set_pdq(PdqBytes(salted));
    sig.set_pdq_quality(static_cast<uint32_t>(*in.quality));
  } else if (in.quality) {
    return absl::InvalidArgumentError("quality: only meaningful with pdq");
  }
  if (in.md5) {
    auto s = salter.SaltExact(ExactKind::kMd5, *in.md5);
    if (!s.ok()) return s.status();
    sig.set_md5(DigestBytes(*s));
  }
  if (in.sha256) {
    auto s = salter.SaltExact(ExactKind::kSha256, *in.sha256);
    if (!s.ok()) return s.status();
    sig.set_sha256(DigestBytes(*s));
  }
  if (in.embedding) {
    if (!IsLowerHex(in.embedding->model_id, 64)) {
      return absl::InvalidArgumentError("embedding.model_id: the SHA-256 of the model's weights, 64 lowercase hex");
    }
    auto salted = salter.SaltEmbedding(in.embedding->vector);
    if (!salted.ok()) return absl::InvalidArgumentError(absl::StrCat("embedding.vector: ", std::string(salted.status().message())));
    double norm = 0;
    for (float x : *salted) norm += static_cast<double>(x) * x;
    if (!(norm > 0)) return absl::InvalidArgumentError("embedding.vector: must not be all zeros");
    auto* e = sig.mutable_embedding();
    e->set_model_id(in.embedding->model_id);
    e->mutable_vector()->Add(salted->begin(), salted->end());
  }
  if (in.labels.size() > kMaxLabels) return absl::InvalidArgumentError(absl::StrCat("labels: at most ", kMaxLabels));
  for (const std::string& l : in.labels) {
    if (!ValidLabel(l)) return absl::InvalidArgumentError("labels: each label is 1-64 characters of a-z, 0-9, _");
    sig.add_labels(l);
  }
  if (in.case_ref.size() > kMaxCaseRef) return absl::InvalidArgumentError("case_ref: at most 256 bytes");
  sig.set_case_ref(in.case_ref);
  sig.set_submitted_by(actor.name);
  return sig;
}

void AddIndexRows(StoreBatch* batch, const pb::Signal& sig, const SignalRef& ref) {
  if (!sig.md5().empty()) batch->PutExact(ExactKind8::kMd5, sig.md5(), ref);
  if (!sig.sha256().empty()) batch->PutExact(ExactKind8::kSha256, sig.sha256(), ref);
  for (const std::string& l : sig.labels()) batch->PutLabel(l, ref);
}

}  // namespace

absl::StatusOr<SignalRef> Bank::Submit(const SignalInput& input, const Actor& actor) {
  std::vector<absl::StatusOr<SignalRef>> r = SubmitBatch(std::span<const SignalInput>(&input, 1), actor);
  return std::move(r[0]);
}

std::vector<absl::StatusOr<SignalRef>> Bank::SubmitBatch(std::span<const SignalInput> inputs, const Actor& actor) {
  std::vector<absl::StatusOr<SignalRef>> results(inputs.size(), absl::UnknownError("not processed"));
  std::vector<std::pair<size_t, pb::Signal>> valid;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto sig = BuildSignal(inputs[i], *salter_, options_.pdq_quality_floor, actor);
    if (sig.ok() && sig->has_embedding()) {
      // Embeddings are accepted only for a model whose fingerprint this node knows (published here or
      // received from a member), with exactly its dimension.
      const std::optional<uint32_t> dimension = ModelDimension(sig->embedding().model_id());
      if (!dimension) {
        sig = absl::InvalidArgumentError("embedding.model_id: unknown model; its fingerprint must be published first "
                                         "(POST /v1/models)");
      } else if (static_cast<uint32_t>(sig->embedding().vector_size()) != *dimension) {
        sig = absl::InvalidArgumentError(absl::StrCat("embedding.vector: model ", sig->embedding().model_id(),
                                                      " has dimension ", *dimension, ", got ",
                                                      sig->embedding().vector_size()));
      }
    }
    if (!sig.ok()) {
      results[i] = sig.status();
    } else {
      valid.push_back({i, std::move(*sig)});
    }
  }
  if (valid.empty()) return results;
  std::lock_guard<std::mutex> lock(write_mu_);
  const int64_t now = options_.now_ms();
  StoreBatch batch;
  std::vector<std::pair<SignalRef, std::string>> written;
  uint64_t seq = next_sequence_;
  for (auto& [i, sig] : valid) {
    pb::Entry entry = NewOwnEntry(seq, now);
    *entry.mutable_signal() = sig;
    const SignalRef ref{options_.node_id, seq++};
    std::string bytes = entry.SerializeAsString();
    batch.PutEntry(ref, bytes);
    AddIndexRows(&batch, sig, ref);
    batch.AddAudit(actor.name, "submit", FormatSignalId(ref));
    written.push_back({ref, std::move(bytes)});
  }
  if (absl::Status s = CommitOwnEntries(std::move(batch), written, now); !s.ok()) {
    for (auto& [i, sig] : valid) results[i] = s;
    return results;
  }
  for (size_t k = 0; k < valid.size(); ++k) {
    // Durable already; an index failure here would be a bug, repaired by the rebuild at the next start.
    (void)IndexEntry(written[k].first, written[k].second);
    results[valid[k].first] = written[k].first;
  }
  return results;
}

absl::StatusOr<SignalInfo> Bank::Get(const SignalRef& ref) const {
  auto bytes = store_->GetEntry(ref);
  if (!bytes.ok()) return bytes.status();
  pb::Entry entry;
  if (!bytes->has_value()) {
    // Withdrawn: the entry's bytes are purged, the tombstone says when.
    auto tomb = store_->GetTombstone(ref);
    if (!tomb.ok()) return tomb.status();
    if (!tomb->has_value()) return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
    SignalInfo info;
    info.ref = ref;
    info.withdrawn = true;
    boost::system::error_code ec;
    auto v = boost::json::parse(**tomb, ec);
    if (!ec && v.is_object() && v.as_object().contains("time_ms") && v.as_object().at("time_ms").is_int64()) {
      info.withdrawn_at_ms = v.as_object().at("time_ms").as_int64();
    }
    return info;
  }
  if (!entry.ParseFromString(**bytes) || !entry.has_signal()) {
    return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
  }
  SignalInfo info;
  info.ref = ref;
  info.created_at_ms = entry.created_at_unix_ms();
  const pb::Signal& sig = entry.signal();
  if (!sig.pdq().empty()) info.signal_types.push_back("pdq");
  if (!sig.md5().empty()) info.signal_types.push_back("md5");
  if (!sig.sha256().empty()) info.signal_types.push_back("sha256");
  if (sig.has_embedding()) info.signal_types.push_back("embedding");
  info.labels.assign(sig.labels().begin(), sig.labels().end());
  info.submitted_by = sig.submitted_by();
  auto tomb = store_->GetTombstone(ref);
  if (!tomb.ok()) return tomb.status();
  if (tomb->has_value()) {
    info.withdrawn = true;
    boost::system::error_code ec;
    auto v = boost::json::parse(**tomb, ec);
    if (!ec && v.is_object() && v.as_object().contains("time_ms") && v.as_object().at("time_ms").is_int64()) {
      info.withdrawn_at_ms = v.as_object().at("time_ms").as_int64();
    }
  }
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
  std::lock_guard<std::mutex> lock(write_mu_);
  auto bytes = store_->GetEntry(ref);
  if (!bytes.ok()) return bytes.status();
  pb::Entry entry;
  if (!bytes->has_value()) {
    auto tomb = store_->GetTombstone(ref);
    if (!tomb.ok()) return tomb.status();
    if (tomb->has_value()) return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is already withdrawn"));
    return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
  }
  if (!entry.ParseFromString(**bytes) || !entry.has_signal()) {
    return absl::NotFoundError(absl::StrCat("no signal ", FormatSignalId(ref)));
  }
  if (ref.origin != options_.node_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("only the origin node (", ref.origin, ") can withdraw ", FormatSignalId(ref)));
  }
  auto tomb = store_->GetTombstone(ref);
  if (!tomb.ok()) return tomb.status();
  if (tomb->has_value()) return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is already withdrawn"));
  const pb::Signal old = entry.signal();
  const int64_t now = options_.now_ms();
  pb::Entry withdrawal = NewOwnEntry(next_sequence_, now);
  withdrawal.mutable_withdrawal()->set_signal_sequence(ref.sequence);
  withdrawal.mutable_withdrawal()->set_reason(reason);
  const SignalRef wref{options_.node_id, next_sequence_};
  StoreBatch batch;
  batch.DeleteEntry(ref);  // the whole entry's bytes are purged; its leaf hash stays in the log
  const std::string wbytes = withdrawal.SerializeAsString();
  batch.PutEntry(wref, wbytes);
  if (!old.md5().empty()) batch.DeleteExact(ExactKind8::kMd5, old.md5(), ref);
  if (!old.sha256().empty()) batch.DeleteExact(ExactKind8::kSha256, old.sha256(), ref);
  for (const std::string& l : old.labels()) batch.DeleteLabel(l, ref);
  boost::json::object t;
  t["time_ms"] = now;
  t["by"] = actor.name;
  t["reason"] = reason;
  t["withdrawal"] = FormatSignalId(wref);
  batch.PutTombstone(ref, boost::json::serialize(t));
  batch.AddAudit(actor.name, "withdraw", FormatSignalId(ref));
  if (absl::Status s = CommitOwnEntries(std::move(batch), {{wref, wbytes}}, now); !s.ok()) return s;
  // The indexes forget the values at once.
  uint64_t local = 0;
  {
    std::shared_lock mlock(meta_mu_);
    const std::optional<uint64_t> found = LocalOf(ref);
    if (!found) return absl::OkStatus();
    local = *found;
  }
  if (old.pdq().size() == 32) (void)pdq_.Remove(PdqFromBytes(old.pdq()), local);
  if (old.md5().size() == 32) (void)md5_.Remove(DigestFromBytes(old.md5()), local);
  if (old.sha256().size() == 32) (void)sha256_.Remove(DigestFromBytes(old.sha256()), local);
  if (old.has_embedding()) (void)vectors_.Remove(old.embedding().model_id(), local);
  --live_signals_;
  return absl::OkStatus();
}

absl::StatusOr<SignalRef> Bank::AddOpinion(const SignalRef& ref, bool confirmed, const Actor& actor) {
  auto info = Get(ref);
  if (!info.ok()) return info.status();
  if (info->withdrawn) return absl::AlreadyExistsError(absl::StrCat(FormatSignalId(ref), " is withdrawn"));
  std::lock_guard<std::mutex> lock(write_mu_);
  const int64_t now = options_.now_ms();
  pb::Entry entry = NewOwnEntry(next_sequence_, now);
  auto* op = entry.mutable_opinion();
  op->set_signal_origin(ref.origin);
  op->set_signal_sequence(ref.sequence);
  op->set_verdict(confirmed ? pb::Opinion::VERDICT_CONFIRMED : pb::Opinion::VERDICT_DISPUTED);
  op->set_submitted_by(actor.name);
  const SignalRef oref{options_.node_id, next_sequence_};
  StoreBatch batch;
  const std::string obytes = entry.SerializeAsString();
  batch.PutEntry(oref, obytes);
  batch.PutOpinion(ref, oref);
  batch.AddAudit(actor.name, confirmed ? "opinion.confirmed" : "opinion.disputed", FormatSignalId(ref));
  if (absl::Status s = CommitOwnEntries(std::move(batch), {{oref, obytes}}, now); !s.ok()) return s;
  return oref;
}

std::vector<Match> Bank::Resolve(std::vector<Match> matches) const {
  std::shared_lock lock(meta_mu_);
  for (Match& m : matches) {
    const LocalSignal& l = locals_[m.ref.sequence];  // the sequence field holds the local number until here
    m.ref = SignalRef{origins_[l.origin], l.sequence};
    m.labels = label_sets_[l.label_set];
  }
  if (!suspended_.empty()) {
    std::erase_if(matches, [this](const Match& m) {
      auto it = suspended_.find(m.ref.origin);
      return it != suspended_.end() && it->second.exclude;
    });
  }
  return matches;
}

absl::StatusOr<std::vector<Match>> Bank::MatchPdq(std::span<const Hash256> raw, int max_distance) const {
  std::vector<Match> out;
  for (size_t q = 0; q < raw.size(); ++q) {
    Hash256 salted;
    salted.limbs = salter_->SaltPdq(raw[q].limbs);
    for (const PdqMatch& m : pdq_.Query(salted, max_distance)) {
      Match x;
      x.ref.sequence = m.id;
      x.signal_type = "pdq";
      x.distance = m.distance;
      x.query_index = q;
      out.push_back(std::move(x));
    }
  }
  return Resolve(std::move(out));
}

absl::StatusOr<std::vector<Match>> Bank::MatchDihedralSet(const std::array<Hash256, kNumDihedral>& raw,
                                                          int max_distance) const {
  std::array<Hash256, kNumDihedral> salted;
  for (size_t i = 0; i < kNumDihedral; ++i) salted[i].limbs = salter_->SaltPdq(raw[i].limbs);
  std::vector<Match> out;
  for (const PdqDihedralMatch& m : pdq_.QueryDihedral(salted, max_distance)) {
    Match x;
    x.ref.sequence = m.id;
    x.signal_type = "pdq";
    x.distance = m.distance;
    x.transform = m.transform;
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

absl::StatusOr<std::vector<Match>> Bank::MatchExact(ExactKind kind, std::span<const uint8_t> raw) const {
  auto salted = salter_->SaltExact(kind, raw);
  if (!salted.ok()) return salted.status();
  std::vector<Match> out;
  for (uint64_t id : (kind == ExactKind::kMd5 ? md5_ : sha256_).Find(*salted)) {
    Match x;
    x.ref.sequence = id;
    x.signal_type = kind == ExactKind::kMd5 ? "md5" : "sha256";
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

absl::StatusOr<std::vector<Match>> Bank::MatchMd5(const Md5Digest& raw) const { return MatchExact(ExactKind::kMd5, raw); }

absl::StatusOr<std::vector<Match>> Bank::MatchSha256(const Sha256Digest& raw) const {
  return MatchExact(ExactKind::kSha256, raw);
}

absl::StatusOr<std::vector<Match>> Bank::MatchEmbedding(const EmbeddingInput& raw, float min_similarity,
                                                        size_t limit) const {
  if (!IsLowerHex(raw.model_id, 64)) return absl::InvalidArgumentError("embedding.model_id: 64 lowercase hex");
  // Before salting: an unknown model has nothing to match, and salting a new dimension builds a rotation.
  if (vectors_.size(raw.model_id) == 0) return std::vector<Match>{};
  auto salted = salter_->SaltEmbedding(raw.vector);
  if (!salted.ok()) return absl::InvalidArgumentError(absl::StrCat("embedding.vector: ", std::string(salted.status().message())));
  auto found = vectors_.SearchThreshold(raw.model_id, *salted, min_similarity);
  if (!found.ok()) {
    if (absl::IsInvalidArgument(found.status())) {
      return absl::InvalidArgumentError(absl::StrCat("embedding.vector: ", std::string(found.status().message())));
    }
    return found.status();
  }
  std::vector<Match> out;
  for (const VectorMatch& m : *found) {
    if (out.size() >= limit) break;
    Match x;
    x.ref.sequence = m.id;
    x.signal_type = "embedding";
    x.similarity = m.similarity;
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

absl::StatusOr<std::string> Bank::CreateToken(Role role, const std::string& name, const Actor& actor) {
  if (name.empty() || name.size() > kMaxTokenName ||
      !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
      })) {
    return absl::InvalidArgumentError("name: 1-64 characters of A-Z, a-z, 0-9, '-', '_', '.'");
  }
  {
    std::shared_lock lock(meta_mu_);
    for (const auto& [hash, existing] : tokens_) {
      if (existing.name == name) {
        return absl::AlreadyExistsError(absl::StrCat("a token named \"", name, "\" exists; names identify members in the audit log"));
      }
    }
  }
  std::array<unsigned char, 32> secret{};
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return absl::InternalError("no randomness for a token");
  }
  std::string token = "hbt_" + BytesToHex(secret.data(), secret.size());
  const std::string hash = Sha256Raw(token);
  boost::json::object record;
  record["name"] = name;
  record["role"] = std::string(RoleName(role));
  const int64_t now = options_.now_ms();
  record["created_ms"] = now;
  StoreBatch batch;
  batch.PutToken(hash, boost::json::serialize(record));
  batch.AddAudit(actor.name, "token.create", absl::StrCat(name, " (", std::string(RoleName(role)), ")"));
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  std::unique_lock lock(meta_mu_);
  tokens_[hash] = Actor{name, role};
  return token;
}

std::optional<Actor> Bank::Authenticate(std::string_view token) const {
  const std::string hash = Sha256Raw(token);
  std::shared_lock lock(meta_mu_);
  auto it = tokens_.find(hash);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

size_t Bank::token_count() const {
  std::shared_lock lock(meta_mu_);
  return tokens_.size();
}

absl::StatusOr<std::vector<AuditRecord>> Bank::Audit(uint64_t after, size_t limit) const {
  return store_->ListAudit(after, limit);
}

absl::Status Bank::Backup(const std::string& dir) const { return store_->Checkpoint(dir); }

BankStats Bank::Stats() const {
  BankStats s;
  s.pdq = pdq_.size();
  s.exact = md5_.size() + sha256_.size();
  s.pdq_index_bytes = pdq_.MemoryBytes();
  s.rebuild_seconds = rebuild_seconds_;
  s.signals = live_signals_.load();
  return s;
}


// ---------------------------------------------------------------------------------------------------------
// Signed logs

absl::StatusOr<CompactTree> Bank::LoadTree(const std::string& origin) const {
  auto state = store_->GetState(absl::StrCat("tree/", origin));
  if (!state.ok()) return state.status();
  if (!state->has_value()) return CompactTree();
  auto tree = CompactTree::Deserialize(**state);
  if (!tree.ok()) return absl::DataLossError(absl::StrCat("log ", origin, ": stored tree state: ", std::string(tree.status().message())));
  return tree;
}

pb::Entry Bank::NewOwnEntry(uint64_t sequence, int64_t now) const {
  pb::Entry entry;
  entry.set_schema_version(1);
  entry.set_origin(options_.node_id);
  entry.set_sequence(sequence);
  entry.set_created_at_unix_ms(now);
  return entry;
}

absl::Status Bank::CommitOwnEntries(StoreBatch batch, const std::vector<std::pair<SignalRef, std::string>>& entries,
                                    int64_t now) {
  CompactTree tree = AppendOwnEntries(&batch, entries, now);
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  next_sequence_ += entries.size();
  own_tree_ = std::move(tree);
  NotifyCommit();
  return absl::OkStatus();
}

CompactTree Bank::AppendOwnEntries(StoreBatch* batch, const std::vector<std::pair<SignalRef, std::string>>& entries,
                                   int64_t now) const {
  CompactTree tree = own_tree_;
  for (const auto& [ref, bytes] : entries) {
    const MerkleHash leaf = LeafHash(AsBytes(bytes));
    batch->PutLeaf(ref, HashBytes(leaf));
    tree.Append(leaf);
    for (const auto& done : tree.completed_by_last_append()) {
      if (done.level > 0) batch->PutNode(options_.node_id, done.level, done.index, HashBytes(done.hash));
    }
  }
  batch->PutState(absl::StrCat("tree/", options_.node_id), tree.Serialize());
  const CheckpointView cp = SignCheckpoint(options_.node_id, tree.size(), tree.Root(), now, *options_.signing_key);
  batch->PutCheckpoint(options_.node_id, tree.size(), cp.signed_bytes);
  return tree;
}

absl::StatusOr<std::optional<CheckpointView>> Bank::LatestCheckpoint(const std::string& origin) const {
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

absl::StatusOr<std::string> Bank::ExportSegment(const std::string& origin, uint64_t from_size, uint64_t max_leaves) const {
  if (max_leaves == 0) return absl::InvalidArgumentError("max_leaves must be positive");
  std::string checkpoint_bytes;
  uint64_t end = 0;
  if (origin == options_.node_id) {
    // Own log: sign a checkpoint at exactly the end this segment needs.
    std::lock_guard<std::mutex> lock(write_mu_);
    const uint64_t size = own_tree_.size();
    if (from_size > size) return absl::OutOfRangeError(absl::StrCat("the log of ", origin, " has ", size, " entries"));
    end = std::min(size, from_size + max_leaves);
    StoreSubtreeSource source(store_.get(), origin);
    auto prefix = CompactTree::FromSource(end, source);
    if (!prefix.ok()) return prefix.status();
    checkpoint_bytes = SignCheckpoint(origin, end, prefix->Root(), options_.now_ms(), *options_.signing_key).signed_bytes;
  } else {
    auto at = store_->GetCheckpointAtOrBelow(origin, from_size + max_leaves);
    if (!at.ok()) return at.status();
    auto latest = store_->GetCheckpoint(origin);
    if (!latest.ok()) return latest.status();
    if (!latest->has_value()) return absl::NotFoundError(absl::StrCat("no log of ", origin, " here"));
    std::optional<std::string> chosen = *at;
    pb::SignedCheckpoint sc;
    pb::Checkpoint c;
    auto size_of = [&](const std::string& b) -> uint64_t {
      return sc.ParseFromString(b) && c.ParseFromString(sc.checkpoint()) ? c.tree_size() : 0;
    };
    if (!chosen || size_of(*chosen) <= from_size) chosen = *latest;  // no stored end in range: the newest
    end = size_of(*chosen);
    if (from_size > end) return absl::OutOfRangeError(absl::StrCat("the log of ", origin, " has ", end, " entries here"));
    checkpoint_bytes = *chosen;
  }
  // A purged leaf travels as its hash only together with the withdrawal that purged it (VerifySegment
  // insists), so a segment whose range holds a purged leaf must reach that withdrawal: extend the end.
  auto withdrawal_of = [&](uint64_t sequence) -> uint64_t {
    auto tomb = store_->GetTombstone(SignalRef{origin, sequence});
    if (!tomb.ok() || !tomb->has_value()) return 0;
    boost::system::error_code ec;
    auto v = boost::json::parse(**tomb, ec);
    if (ec || !v.is_object() || !v.as_object().contains("withdrawal") || !v.as_object().at("withdrawal").is_string()) return 0;
    auto ref = ParseSignalId(std::string(v.as_object().at("withdrawal").as_string()));
    return ref.ok() ? ref->sequence : 0;
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
      if (origin == options_.node_id) {
        std::lock_guard<std::mutex> lock(write_mu_);
        end = std::min(needed_end, own_tree_.size());
        StoreSubtreeSource source(store_.get(), origin);
        auto prefix = CompactTree::FromSource(end, source);
        if (!prefix.ok()) return prefix.status();
        checkpoint_bytes = SignCheckpoint(origin, end, prefix->Root(), options_.now_ms(), *options_.signing_key).signed_bytes;
      } else {
        auto latest = store_->GetCheckpoint(origin);  // holds the withdrawal: it was applied to purge the leaf
        if (!latest.ok()) return latest.status();
        pb::SignedCheckpoint sc;
        pb::Checkpoint c;
        if (!latest->has_value() || !sc.ParseFromString(**latest) || !c.ParseFromString(sc.checkpoint())) {
          return absl::DataLossError("stored checkpoint does not parse");
        }
        checkpoint_bytes = **latest;
        end = c.tree_size();
      }
      continue;
    }
    if (from_size > 0 && end > from_size) {
      StoreSubtreeSource source(store_.get(), origin);
      auto proof = ConsistencyProof(from_size, end, source);
      if (!proof.ok()) return proof.status();
      for (const MerkleHash& h : *proof) segment.add_consistency_proof(HashBytes(h));
    }
    return segment.SerializeAsString();
  }
}

void Bank::UnindexSignal(const SignalRef& ref, std::string_view entry_bytes) {
  pb::Entry entry;
  if (!entry.ParseFromArray(entry_bytes.data(), static_cast<int>(entry_bytes.size())) || !entry.has_signal()) return;
  uint64_t local = 0;
  {
    std::shared_lock lock(meta_mu_);
    const std::optional<uint64_t> found = LocalOf(ref);
    if (!found) return;
    local = *found;
  }
  const pb::Signal& sig = entry.signal();
  if (sig.pdq().size() == 32) (void)pdq_.Remove(PdqFromBytes(sig.pdq()), local);
  if (sig.md5().size() == 32) (void)md5_.Remove(DigestFromBytes(sig.md5()), local);
  if (sig.sha256().size() == 32) (void)sha256_.Remove(DigestFromBytes(sig.sha256()), local);
  if (sig.has_embedding()) (void)vectors_.Remove(sig.embedding().model_id(), local);
  --live_signals_;
}

bool Bank::IsEquivocating(const std::string& origin) const {
  auto flag = store_->GetState(absl::StrCat("equivocated/", origin));
  return flag.ok() && flag->has_value();
}

absl::StatusOr<std::vector<std::string>> Bank::Evidence(const std::string& origin) const { return store_->ListEvidence(origin); }

absl::StatusOr<TrustedLog> Bank::TrustedState(const std::string& origin) const {
  // Under the write lock: the tree and the checkpoint are two rows, and a commit between the two reads
  // would pair a tree with a checkpoint of another size.
  std::lock_guard<std::mutex> lock(write_mu_);
  TrustedLog trusted;
  auto tree = LoadTree(origin);
  if (!tree.ok()) return tree.status();
  trusted.tree = std::move(*tree);
  auto latest = LatestCheckpoint(origin);
  if (!latest.ok()) return latest.status();
  trusted.checkpoint = std::move(*latest);
  return trusted;
}

absl::StatusOr<AppliedSegment> Bank::ApplySegment(const std::string& origin, const Ed25519PublicKey& origin_key,
                                                  std::string_view segment_bytes) {
  // Verified outside the write lock; if another thread advanced the origin meanwhile, verify again
  // against the new state (the segment may now be partly or wholly known: a rollback or gap then).
  for (int attempt = 0;; ++attempt) {
    auto base = TrustedState(origin);
    if (!base.ok()) return base.status();
    SegmentResult result = VerifySegment(origin, origin_key, *base, segment_bytes);
    auto applied = ApplyVerified(origin, origin_key, *base, std::move(result));
    if (!absl::IsAborted(applied.status()) || attempt == 3) return applied;
  }
}

absl::StatusOr<AppliedSegment> Bank::ApplyVerified(const std::string& origin, const Ed25519PublicKey& origin_key,
                                                   const TrustedLog& base, SegmentResult result) {
  if (origin == options_.node_id) return absl::FailedPreconditionError("a node never applies a segment of its own log");
  std::lock_guard<std::mutex> lock(write_mu_);
  if (IsEquivocating(origin)) {  // checked under the lock: another sync thread may have just flagged it
    return absl::FailedPreconditionError(absl::StrCat("origin ", origin, " equivocated; its logs are refused"));
  }
  // A stored key must not change under us: the first trusted key of an origin is recorded.
  auto known_key = store_->GetState(absl::StrCat("origin_key/", origin));
  if (!known_key.ok()) return known_key.status();
  if (known_key->has_value() && **known_key != PublicKeyHex(origin_key)) {
    return absl::PermissionDeniedError(absl::StrCat("bad signature: ", origin, "'s key differs from the one its log was trusted with"));
  }
  if (base.checkpoint && (base.checkpoint->tree_size != base.tree.size() || base.checkpoint->root != base.tree.Root())) {
    return absl::InvalidArgumentError("a trusted state whose checkpoint is not for its tree");
  }
  const int64_t now = options_.now_ms();
  // Evidence is two checkpoints of one size, both signed by the origin (the base's checkpoint is for its
  // tree, checked above): it proves equivocation whatever the current state.
  if (!result.segment.ok() && result.equivocation_evidence) {
    StoreBatch evidence;
    evidence.PutEvidence(origin, now, *result.equivocation_evidence);
    evidence.PutState(absl::StrCat("equivocated/", origin), "1");
    evidence.AddAudit("system", "equivocation", origin);
    if (absl::Status s = store_->Commit(std::move(evidence), now); !s.ok()) return s;
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
  const TrustedLog& trusted = base;
  // A suspended origin's log is still verified and applied, so its withdrawals are obeyed; its new
  // signals are stored (the log stays whole for relaying) but not indexed: they never match here.
  const std::optional<uint64_t> suspended_from = SuspendedFrom(origin);
  VerifiedSegment& seg = *result.segment;
  AppliedSegment applied;
  applied.leaves = seg.leaves.size();
  applied.tree_size = seg.checkpoint.tree_size;
  // Withdrawals inside this segment: their targets are never stored with a body.
  const std::set<uint64_t>& withdrawn_here = seg.withdrawn;
  StoreBatch batch;
  CompactTree replay = trusted.tree;
  std::vector<std::pair<SignalRef, const pb::Entry*>> to_index;
  std::vector<std::pair<SignalRef, std::string>> to_unindex;  // earlier signals purged by this segment
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
      if (suspended_from && ref.sequence > *suspended_from) continue;  // refused: stored, never indexed
      AddIndexRows(&batch, e.signal(), ref);
      to_index.push_back({ref, &e});
    } else if (e.has_withdrawal()) {
      ++applied.withdrawals;
      batch.PutEntry(ref, leaf.entry);
      const SignalRef target{origin, e.withdrawal().signal_sequence()};
      boost::json::object t;
      t["time_ms"] = e.created_at_unix_ms();
      t["by"] = origin;
      t["reason"] = e.withdrawal().reason();
      t["withdrawal"] = FormatSignalId(ref);
      batch.PutTombstone(target, boost::json::serialize(t));
      if (withdrawn_here.count(target.sequence) == 0 || target.sequence <= trusted.tree.size()) {
        auto old = store_->GetEntry(target);
        if (!old.ok()) return old.status();
        pb::Entry old_entry;
        if (old->has_value() && old_entry.ParseFromString(**old) && old_entry.has_signal()) {
          const pb::Signal& os = old_entry.signal();
          if (!os.md5().empty()) batch.DeleteExact(ExactKind8::kMd5, os.md5(), target);
          if (!os.sha256().empty()) batch.DeleteExact(ExactKind8::kSha256, os.sha256(), target);
          for (const std::string& l : os.labels()) batch.DeleteLabel(l, target);
          batch.DeleteEntry(target);
          to_unindex.push_back({target, **old});
        }
      }
    } else if (e.has_opinion()) {
      ++applied.opinions;
      batch.PutEntry(ref, leaf.entry);
      batch.PutOpinion(SignalRef{e.opinion().signal_origin(), e.opinion().signal_sequence()}, ref);
    } else {
      ++applied.models;
      batch.PutEntry(ref, leaf.entry);
      to_index.push_back({ref, &e});  // registers the model's dimension
    }
  }
  batch.PutState(absl::StrCat("tree/", origin), replay.Serialize());
  batch.PutCheckpoint(origin, seg.checkpoint.tree_size, seg.checkpoint.signed_bytes);
  if (!known_key->has_value()) batch.PutState(absl::StrCat("origin_key/", origin), PublicKeyHex(origin_key));
  if (applied.leaves > 0) {
    batch.AddAudit("system", "log.apply", absl::StrCat(origin, " to ", seg.checkpoint.tree_size));
  }
  if (absl::Status s = store_->Commit(std::move(batch), now); !s.ok()) return s;
  for (const auto& [ref, bytes] : to_unindex) UnindexSignal(ref, bytes);
  // Indexed after the durable write; the segment's PDQ hashes in one batched insert.
  std::vector<std::pair<Hash256, uint64_t>> pdq_batch;
  pdq_batch.reserve(to_index.size());
  for (const auto& [ref, entry] : to_index) (void)IndexParsed(ref, *entry, &pdq_batch);
  if (auto inserted = pdq_.InsertBatch(pdq_batch); !inserted.ok()) {
    std::cerr << "hashbank: PDQ index insert failed for " << pdq_batch.size() << " signals of " << origin << ": "
              << inserted.status().message() << "\n";
  }
  if (applied.leaves > 0) NotifyCommit();
  return applied;
}

absl::Status Bank::VerifyStoredLogs(std::ostream& report) const {
  std::vector<std::pair<std::string, std::string>> checkpoints;
  if (absl::Status s = store_->ForEachCheckpoint([&](std::string_view origin, std::string_view bytes) {
        checkpoints.push_back({std::string(origin), std::string(bytes)});
      });
      !s.ok()) {
    return s;
  }
  absl::Status first_error = absl::OkStatus();
  for (const auto& [origin, bytes] : checkpoints) {
    Ed25519PublicKey key{};
    if (origin == options_.node_id) {
      key = options_.signing_key->public_key();
    } else {
      auto hex = store_->GetState(absl::StrCat("origin_key/", origin));
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

absl::Status Bank::Compact() { return store_->CompactAll(); }


void Bank::SetCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  commit_listener_ = std::move(listener);
}

void Bank::NotifyCommit() const {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener = commit_listener_;
  }
  if (listener) listener();
}

absl::Status Bank::Suspend(const std::string& origin, bool exclude_from_matching, const Actor& actor) {
  if (origin == options_.node_id) return absl::InvalidArgumentError("origin: a node cannot suspend itself");
  // Entries beyond the origin's current trusted size are refused (stored, never indexed).
  uint64_t from = 0;
  if (auto cp = LatestCheckpoint(origin); cp.ok() && cp->has_value()) from = (*cp)->tree_size;
  StoreBatch batch;
  batch.PutState(absl::StrCat("suspended/", origin), absl::StrCat(exclude_from_matching ? "exclude " : "keep ", from));
  batch.AddAudit(actor.name, exclude_from_matching ? "origin.suspend+exclude" : "origin.suspend", origin);
  if (absl::Status s = store_->Commit(std::move(batch), options_.now_ms()); !s.ok()) return s;
  std::unique_lock lock(meta_mu_);
  suspended_[origin] = Suspension{exclude_from_matching, from};
  return absl::OkStatus();
}

absl::Status Bank::Unsuspend(const std::string& origin, const Actor& actor) {
  if (!IsSuspended(origin)) return absl::NotFoundError(absl::StrCat("origin ", origin, " is not suspended"));
  StoreBatch batch;
  batch.DeleteState(absl::StrCat("suspended/", origin));
  batch.AddAudit(actor.name, "origin.unsuspend", origin);
  if (absl::Status s = store_->Commit(std::move(batch), options_.now_ms()); !s.ok()) return s;
  std::unique_lock lock(meta_mu_);
  suspended_.erase(origin);
  return absl::OkStatus();
}

bool Bank::IsSuspended(const std::string& origin) const {
  std::shared_lock lock(meta_mu_);
  return suspended_.contains(origin);
}

std::optional<uint64_t> Bank::SuspendedFrom(const std::string& origin) const {
  std::shared_lock lock(meta_mu_);
  auto it = suspended_.find(origin);
  if (it == suspended_.end()) return std::nullopt;
  return it->second.from;
}

absl::StatusOr<std::vector<std::string>> Bank::Origins() const {
  std::vector<std::string> out;
  absl::Status s = store_->ForEachCheckpoint([&](std::string_view origin, std::string_view) { out.emplace_back(origin); });
  if (!s.ok()) return s;
  return out;
}

void Bank::RegisterModel(const std::string& model_id, uint32_t dimension) {
  {
    std::unique_lock lock(meta_mu_);
    models_.try_emplace(model_id, dimension);  // the first fingerprint of a model id wins
  }
  (void)vectors_.AddModel(model_id, static_cast<int>(dimension));
}

std::optional<uint32_t> Bank::ModelDimension(const std::string& model_id) const {
  std::shared_lock lock(meta_mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<SignalRef> Bank::PublishModel(const ModelInput& m, const Actor& actor) {
  if (auto known = ModelDimension(m.model_id); known && *known != m.dimension) {
    return absl::AlreadyExistsError(absl::StrCat("model ", m.model_id, " is already known with dimension ", *known));
  }
  if (!IsLowerHex(m.model_id, 64)) return absl::InvalidArgumentError("model_id: the SHA-256 of the weights, 64 lowercase hex");
  if (m.dimension == 0 || m.dimension > 4096) return absl::InvalidArgumentError("dimension: 1 to 4096");
  if (m.name.empty() || m.name.size() > 128) return absl::InvalidArgumentError("name: 1 to 128 bytes");
  if (!(m.threshold >= -1.0f && m.threshold <= 1.0f)) return absl::InvalidArgumentError("threshold: -1 to 1");
  std::lock_guard<std::mutex> lock(write_mu_);
  const int64_t now = options_.now_ms();
  pb::Entry entry = NewOwnEntry(next_sequence_, now);
  auto* f = entry.mutable_model();
  f->set_model_id(m.model_id);
  f->set_name(m.name);
  f->set_version(m.version);
  f->set_dimension(m.dimension);
  f->set_input_width(m.input_width);
  f->set_input_height(m.input_height);
  f->set_colour_order(m.colour_order);
  f->mutable_mean()->Add(m.mean.begin(), m.mean.end());
  f->mutable_std()->Add(m.std.begin(), m.std.end());
  f->set_metric(m.metric);
  f->set_threshold(m.threshold);
  const SignalRef ref{options_.node_id, next_sequence_};
  const std::string bytes = entry.SerializeAsString();
  StoreBatch batch;
  batch.PutEntry(ref, bytes);
  batch.AddAudit(actor.name, "model.publish", FormatSignalId(ref));
  if (absl::Status s = CommitOwnEntries(std::move(batch), {{ref, bytes}}, now); !s.ok()) return s;
  RegisterModel(m.model_id, m.dimension);
  return ref;
}

uint64_t Bank::RegisterLocal(const SignalRef& ref, const google::protobuf::RepeatedPtrField<std::string>& labels) {
  auto [oit, new_origin] = origin_index_.try_emplace(ref.origin, static_cast<uint32_t>(origins_.size()));
  if (new_origin) {
    origins_.push_back(ref.origin);
    local_by_sequence_.emplace_back();
  }
  std::string key;
  for (const std::string& l : labels) {
    key += l;
    key += '\n';
  }
  auto [lit, new_set] = label_set_index_.try_emplace(key, static_cast<uint32_t>(label_sets_.size()));
  if (new_set) label_sets_.emplace_back(labels.begin(), labels.end());
  const uint64_t local = locals_.size();
  locals_.push_back(LocalSignal{oit->second, lit->second, ref.sequence});
  std::vector<uint64_t>& by_sequence = local_by_sequence_[oit->second];
  if (by_sequence.size() < ref.sequence) by_sequence.resize(std::max<uint64_t>(ref.sequence, by_sequence.size() * 3 / 2), 0);
  by_sequence[ref.sequence - 1] = local + 1;
  return local;
}

std::optional<uint64_t> Bank::LocalOf(const SignalRef& ref) const {
  auto it = origin_index_.find(ref.origin);
  if (it == origin_index_.end() || ref.sequence == 0) return std::nullopt;
  const std::vector<uint64_t>& by_sequence = local_by_sequence_[it->second];
  if (ref.sequence > by_sequence.size() || by_sequence[ref.sequence - 1] == 0) return std::nullopt;
  return by_sequence[ref.sequence - 1] - 1;
}
}  // namespace hashbank
