#include "storage/signal_store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <charconv>
#include <deque>
#include <optional>
#include <algorithm>
#include <iostream>
#include <thread>
#include <cstring>
#include <filesystem>

#include <boost/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "base/node_id.h"
#include "crypto/sha256.h"

namespace hashbank {
namespace {

enum Cf : size_t {
  kEntries = 0, kExact, kLabels, kOpinions, kTombstones, kTokens, kState, kAudit, kLeaves, kNodes, kCheckpoints,
  kEvidence, kNumCf
};
constexpr const char* kCfNames[kNumCf] = {"entries", "exact",  "labels", "opinions",    "tombstones", "tokens",
                                           "state",   "audit",  "leaves", "nodes", "checkpoints", "evidence"};
constexpr char kAuditSeqState[] = "audit.last";

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xFF));
}

uint64_t ReadBigEndian64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

void AppendOkey(std::string* out, const SignalRef& ref) {
  out->push_back(static_cast<char>(ref.origin.size()));
  out->append(ref.origin);
  AppendBigEndian64(out, ref.sequence);
}

std::string Okey(const SignalRef& ref) {
  std::string k;
  AppendOkey(&k, ref);
  return k;
}

// Parses an okey at the start of `s`; returns its length, or 0 if malformed.
size_t ParseOkey(std::string_view s, SignalRef* ref) {
  if (s.empty()) return 0;
  const size_t n = static_cast<uint8_t>(s[0]);
  if (s.size() < 1 + n + 8) return 0;
  ref->origin.assign(s.substr(1, n));
  ref->sequence = ReadBigEndian64(s.substr(1 + n, 8));
  return 1 + n + 8;
}

void AppendNodeKey(std::string* out, std::string_view origin, uint32_t level, uint64_t index) {
  out->push_back(static_cast<char>(origin.size()));
  out->append(origin);
  out->push_back(static_cast<char>(level));
  AppendBigEndian64(out, index);
}

std::string NodeKey(std::string_view origin, uint32_t level, uint64_t index) {
  std::string k;
  AppendNodeKey(&k, origin, level, index);
  return k;
}

void AppendShort(std::string* out, std::string_view s) {
  out->push_back(static_cast<char>(std::min<size_t>(s.size(), 255)));
  out->append(s.substr(0, 255));
}

std::string ShortString(std::string_view s) {
  std::string k;
  AppendShort(&k, s);
  return k;
}

// The prefix of a key made of `strings` length-prefixed strings (an origin, a label) followed by `extra`
// bytes. Used as the memtable's insert hint: the rows of one origin's log arrive in key order, so each insert
// starts where the last one with its prefix ended instead of searching the skiplist from the top.
class ShortStringsPrefix : public rocksdb::SliceTransform {
 public:
  ShortStringsPrefix(int strings, size_t extra) : strings_(strings), extra_(extra) {}
  const char* Name() const override { return "hashbank.ShortStringsPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return rocksdb::Slice(key.data(), Length(key)); }
  bool InDomain(const rocksdb::Slice& key) const override { return Length(key) != 0; }

 private:
  size_t Length(const rocksdb::Slice& key) const {  // 0 when the key is too short
    size_t n = 0;
    for (int i = 0; i < strings_; ++i) {
      if (n >= key.size()) return 0;
      n += size_t{1} + static_cast<uint8_t>(key[n]);
    }
    n += extra_;
    return n <= key.size() ? n : 0;
  }
  int strings_;
  size_t extra_;
};

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

std::string Sha256Hex(std::string_view data) {
  const Sha256Hash d = Sha256(data);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

// The bytes an audit record's hash covers: its fields in a fixed order, without the hash itself.
std::string AuditCanonical(const AuditRecord& r) {
  boost::json::object o;
  o["seq"] = r.sequence;
  o["time_ms"] = r.time_ms;
  o["actor"] = r.actor;
  o["action"] = r.action;
  o["target"] = r.target;
  o["prev"] = r.prev_hash_hex;
  return boost::json::serialize(o);
}

std::string AuditJson(const AuditRecord& r) {
  boost::json::object o;
  o["seq"] = r.sequence;
  o["time_ms"] = r.time_ms;
  o["actor"] = r.actor;
  o["action"] = r.action;
  o["target"] = r.target;
  o["prev"] = r.prev_hash_hex;
  o["hash"] = r.hash_hex;
  return boost::json::serialize(o);
}

absl::StatusOr<AuditRecord> ParseAudit(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return absl::DataLossError("unreadable audit record");
  const boost::json::object& o = v.as_object();
  AuditRecord r;
  try {
    r.sequence = boost::json::value_to<uint64_t>(o.at("seq"));
    r.time_ms = boost::json::value_to<int64_t>(o.at("time_ms"));
    r.actor = boost::json::value_to<std::string>(o.at("actor"));
    r.action = boost::json::value_to<std::string>(o.at("action"));
    r.target = boost::json::value_to<std::string>(o.at("target"));
    r.prev_hash_hex = boost::json::value_to<std::string>(o.at("prev"));
    r.hash_hex = boost::json::value_to<std::string>(o.at("hash"));
  } catch (const std::exception&) {  // boundary: Boost.JSON reports missing/mistyped fields by exception
    return absl::DataLossError("audit record with missing or mistyped fields");
  }
  return r;
}


std::string TombstoneJson(const Tombstone& t) {
  boost::json::object o;
  o["time_ms"] = t.time_ms;
  o["by"] = t.by;
  o["reason"] = t.reason;
  if (t.withdrawal.sequence != 0) o["withdrawal"] = absl::StrCat(t.withdrawal.origin, ":", t.withdrawal.sequence);
  return boost::json::serialize(o);
}

absl::StatusOr<Tombstone> ParseTombstone(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return absl::DataLossError("unreadable tombstone");
  const boost::json::object& o = v.as_object();
  Tombstone t;
  if (const auto* x = o.if_contains("time_ms"); x != nullptr && x->is_int64()) t.time_ms = x->as_int64();
  if (const auto* x = o.if_contains("by"); x != nullptr && x->is_string()) t.by = std::string(x->as_string());
  if (const auto* x = o.if_contains("reason"); x != nullptr && x->is_string()) t.reason = std::string(x->as_string());
  if (const auto* x = o.if_contains("withdrawal"); x != nullptr && x->is_string()) {
    auto ref = ParseSignalId(std::string_view(x->as_string().data(), x->as_string().size()));
    if (!ref.ok()) return absl::DataLossError("tombstone with a malformed withdrawal id");
    t.withdrawal = std::move(*ref);
  }
  return t;
}

std::string TokenJson(const TokenRecord& r) {
  boost::json::object o;
  o["name"] = r.name;
  o["role"] = r.role;
  o["created_ms"] = r.created_ms;
  if (r.expires_ms != 0) o["expires_ms"] = r.expires_ms;
  return boost::json::serialize(o);
}

absl::StatusOr<TokenRecord> ParseToken(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return absl::DataLossError("unreadable token record");
  const boost::json::object& o = v.as_object();
  const auto* name = o.if_contains("name");
  const auto* role = o.if_contains("role");
  if (name == nullptr || role == nullptr || !name->is_string() || !role->is_string()) {
    return absl::DataLossError("token record without name or role");
  }
  TokenRecord r;
  r.name = std::string(name->as_string());
  r.role = std::string(role->as_string());
  if (const auto* c = o.if_contains("created_ms"); c != nullptr && c->is_int64()) r.created_ms = c->as_int64();
  if (const auto* e = o.if_contains("expires_ms"); e != nullptr && e->is_int64()) r.expires_ms = e->as_int64();
  return r;
}

std::string SuspensionValue(const Suspension& s) { return absl::StrCat(s.exclude ? "exclude " : "keep ", s.from); }

Suspension ParseSuspension(std::string_view value) {
  Suspension s;
  s.exclude = value.rfind("exclude", 0) == 0;
  const size_t space = value.find(' ');
  if (space != std::string_view::npos) std::from_chars(value.data() + space + 1, value.data() + value.size(), s.from);
  return s;
}

constexpr std::string_view kTreePrefix = "tree/";
constexpr std::string_view kOriginKeyPrefix = "origin_key/";
constexpr std::string_view kEquivocatedPrefix = "equivocated/";
constexpr std::string_view kSuspendedPrefix = "suspended/";

std::string StateName(std::string_view prefix, std::string_view origin) { return std::string(prefix).append(origin); }

}  // namespace

std::string FormatSignalId(const SignalRef& ref) { return absl::StrCat(ref.origin, ":", ref.sequence); }

absl::StatusOr<SignalRef> ParseSignalId(std::string_view id) {
  const size_t colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == id.size()) {
    return absl::InvalidArgumentError("a signal id is \"<origin>:<sequence>\"");
  }
  SignalRef ref;
  ref.origin.assign(id.substr(0, colon));
  const std::string_view digits = id.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ref.sequence);
  // One spelling per signal: no sign, no leading zero ("local:01" is not "local:1").
  if (ec != std::errc() || ptr != digits.data() + digits.size() || ref.sequence == 0 || digits[0] == '+' ||
      digits[0] == '0') {
    return absl::InvalidArgumentError("a signal id's sequence is a decimal number >= 1 without leading zeros");
  }
  // The origin is a node id, in its one spelling (lower case: "LOCAL:1" is not "local:1").
  if (absl::Status s = ValidateNodeId(ref.origin); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("a signal id's origin: ", std::string(s.message())));
  }
  return ref;
}

// ---------------------------------------------------------------------------------------------------------

// Puts and deletes are staged as records in two flat buffers (cf (1), key length (4), key, value length (4),
// value) — no allocation per row — and copied into one rocksdb::WriteBatch at Commit, which knows the column
// family handles. All puts are applied before all deletes.
struct StoreBatch::Impl {
  std::vector<std::array<std::string, 3>> audits;  // actor, action, target
  std::string puts;
  std::string deletes;

  static void AppendLength(std::string* buf, size_t n) {
    const uint32_t v = static_cast<uint32_t>(n);
    buf->append(reinterpret_cast<const char*>(&v), 4);
  }
  // Starts a record; returns where its key length goes (patched by EndKey).
  static size_t BeginKey(std::string* buf, Cf cf) {
    buf->push_back(static_cast<char>(cf));
    const size_t at = buf->size();
    buf->append(4, '\0');
    return at;
  }
  static void EndKey(std::string* buf, size_t at) {
    const uint32_t v = static_cast<uint32_t>(buf->size() - at - 4);
    std::memcpy(buf->data() + at, &v, 4);
  }
  static void Value(std::string* buf, std::string_view value) {
    AppendLength(buf, value.size());
    buf->append(value);
  }
  // key(std::string*) appends the row's key.
  template <typename Key>
  void Put(Cf cf, Key&& key, std::string_view value) {
    const size_t at = BeginKey(&puts, cf);
    key(&puts);
    EndKey(&puts, at);
    Value(&puts, value);
  }
  template <typename Key>
  void Delete(Cf cf, Key&& key) {
    const size_t at = BeginKey(&deletes, cf);
    key(&deletes);
    EndKey(&deletes, at);
  }
  // Calls fn(cf, key, value) for each record of `buf`.
  template <typename Fn>
  static void ForEach(const std::string& buf, bool with_values, Fn&& fn) {
    size_t i = 0;
    auto length = [&] {
      uint32_t v;
      std::memcpy(&v, buf.data() + i, 4);
      i += 4;
      return v;
    };
    while (i < buf.size()) {
      const Cf cf = static_cast<Cf>(static_cast<uint8_t>(buf[i++]));
      const uint32_t kn = length();
      const std::string_view key(buf.data() + i, kn);
      i += kn;
      std::string_view value;
      if (with_values) {
        const uint32_t vn = length();
        value = std::string_view(buf.data() + i, vn);
        i += vn;
      }
      fn(cf, key, value);
    }
  }
};

StoreBatch::StoreBatch() : impl_(std::make_unique<Impl>()) {}
StoreBatch::~StoreBatch() = default;
StoreBatch::StoreBatch(StoreBatch&&) noexcept = default;
StoreBatch& StoreBatch::operator=(StoreBatch&&) noexcept = default;

void StoreBatch::PutEntry(const SignalRef& ref, std::string_view entry_bytes) {
  impl_->Put(kEntries, [&](std::string* k) { AppendOkey(k, ref); }, entry_bytes);
}
void StoreBatch::DeleteEntry(const SignalRef& ref) {
  impl_->Delete(kEntries, [&](std::string* k) { AppendOkey(k, ref); });
}
void StoreBatch::PutLeaf(const SignalRef& ref, std::string_view leaf_hash) {
  impl_->Put(kLeaves, [&](std::string* k) { AppendOkey(k, ref); }, leaf_hash);
}
void StoreBatch::PutNode(std::string_view origin, uint32_t level, uint64_t index, std::string_view hash) {
  impl_->Put(kNodes, [&](std::string* k) { AppendNodeKey(k, origin, level, index); }, hash);
}
void StoreBatch::PutCheckpoint(std::string_view origin, uint64_t tree_size, std::string_view signed_checkpoint) {
  const auto key = [&](std::string* k) {
    AppendShort(k, origin);
    AppendBigEndian64(k, tree_size);
  };
  impl_->Put(kCheckpoints, key, signed_checkpoint);
}
void StoreBatch::PutEvidence(std::string_view origin, int64_t time_ms, std::string_view evidence) {
  const auto key = [&](std::string* k) {
    AppendShort(k, origin);
    AppendBigEndian64(k, static_cast<uint64_t>(time_ms));
  };
  impl_->Put(kEvidence, key, evidence);
}
namespace {
// okey + kind: the digest is the row's value, not part of its key. RocksDB keeps keys in places compaction
// does not clean (the MANIFEST records every table file's smallest and largest key until it rolls over), so
// a withdrawn signal's digest must never be a key.
auto ExactKey(ExactKind8 kind, const SignalRef& ref) {
  return [=, &ref](std::string* k) {
    AppendOkey(k, ref);
    k->push_back(static_cast<char>(kind));
  };
}
auto LabelKey(std::string_view label, const SignalRef& ref) {
  return [=, &ref](std::string* k) {
    AppendShort(k, label);
    AppendOkey(k, ref);
  };
}
}  // namespace
void StoreBatch::PutExact(ExactKind8 kind, std::string_view salted_digest, const SignalRef& ref) {
  impl_->Put(kExact, ExactKey(kind, ref), salted_digest);
}
void StoreBatch::DeleteExact(ExactKind8 kind, std::string_view /*salted_digest*/, const SignalRef& ref) {
  impl_->Delete(kExact, ExactKey(kind, ref));
}
void StoreBatch::PutLabel(std::string_view label, const SignalRef& ref) {
  impl_->Put(kLabels, LabelKey(label, ref), "");
}
void StoreBatch::DeleteLabel(std::string_view label, const SignalRef& ref) {
  impl_->Delete(kLabels, LabelKey(label, ref));
}
void StoreBatch::PutOpinion(const SignalRef& signal, const SignalRef& opinion_entry) {
  impl_->Put(kOpinions, [&](std::string* k) {
    AppendOkey(k, signal);
    AppendOkey(k, opinion_entry);
  }, "");
}
void StoreBatch::PutTombstone(const SignalRef& ref, const Tombstone& tombstone) {
  impl_->Put(kTombstones, [&](std::string* k) { AppendOkey(k, ref); }, TombstoneJson(tombstone));
}
void StoreBatch::PutToken(std::string_view token_sha256, const TokenRecord& record) {
  impl_->Put(kTokens, [&](std::string* k) { k->append(token_sha256); }, TokenJson(record));
}
void StoreBatch::DeleteToken(std::string_view token_sha256) {
  impl_->Delete(kTokens, [&](std::string* k) { k->append(token_sha256); });
}
void StoreBatch::PutLogTree(std::string_view origin, std::string_view serialized_tree) {
  PutState(StateName(kTreePrefix, origin), serialized_tree);
}
void StoreBatch::PutOriginKey(std::string_view origin, std::string_view public_key_hex) {
  PutState(StateName(kOriginKeyPrefix, origin), public_key_hex);
}
void StoreBatch::MarkEquivocating(std::string_view origin) { PutState(StateName(kEquivocatedPrefix, origin), "1"); }
void StoreBatch::PutSuspension(std::string_view origin, const Suspension& suspension) {
  PutState(StateName(kSuspendedPrefix, origin), SuspensionValue(suspension));
}
void StoreBatch::DeleteSuspension(std::string_view origin) { DeleteState(StateName(kSuspendedPrefix, origin)); }
void StoreBatch::PutState(std::string_view name, std::string_view value) {
  impl_->Put(kState, [&](std::string* k) { k->append(name); }, value);
}
void StoreBatch::DeleteState(std::string_view name) {
  impl_->Delete(kState, [&](std::string* k) { k->append(name); });
}
void StoreBatch::AddAudit(std::string actor, std::string action, std::string target) {
  impl_->audits.push_back({std::move(actor), std::move(action), std::move(target)});
}
bool StoreBatch::empty() const { return impl_->puts.empty() && impl_->deletes.empty() && impl_->audits.empty(); }

// ---------------------------------------------------------------------------------------------------------

// One queued batch. Fields other than `batch` and `time_ms` are written by the group's leader under
// Impl::queue_mu and read by the waiter under it.
struct PendingCommit::Writer {
  StoreBatch batch;
  int64_t time_ms = 0;
  bool done = false;
  absl::Status status;
};

struct SignalStore::Impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  std::unique_ptr<rocksdb::Env> env;  // wraps an injected file system; null for the default

  // The commit queue: the front writer is the group's leader while it writes.
  absl::Mutex queue_mu;
  std::deque<std::shared_ptr<PendingCommit::Writer>> queue ABSL_GUARDED_BY(queue_mu);
  absl::Status failed ABSL_GUARDED_BY(queue_mu);  // the first failed write; every later one is refused
  bool leader_active ABSL_GUARDED_BY(queue_mu) = false;  // a group is being written

  // Held by the leader while it chains audit records and writes (one leader at a time, so uncontended).
  absl::Mutex write_mu ABSL_ACQUIRED_AFTER(queue_mu);
  uint64_t audit_last ABSL_GUARDED_BY(write_mu) = 0;
  std::string audit_last_hash ABSL_GUARDED_BY(write_mu);

  // The background purge: keys deleted by committed batches, purged `purge_delay` after the first of them.
  absl::Mutex purge_mu ABSL_ACQUIRED_AFTER(queue_mu);
  std::vector<std::pair<Cf, std::string>> deleted ABSL_GUARDED_BY(purge_mu);
  std::optional<std::chrono::steady_clock::time_point> purge_due ABSL_GUARDED_BY(purge_mu);
  bool purge_stopping ABSL_GUARDED_BY(purge_mu) = false;
  std::chrono::milliseconds purge_delay{0};
  std::thread purger;

  ~Impl() {
    if (purger.joinable()) {
      {
        absl::MutexLock lock(&purge_mu);
        purge_stopping = true;
      }
      purger.join();
    }
    for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
    if (db) db->Close();
  }

  void PurgeLoop() ABSL_LOCKS_EXCLUDED(purge_mu);
  absl::Status Purge(std::vector<std::pair<Cf, std::string>> keys);

  // Writes `group` (queue order) as one synced WriteBatch.
  absl::Status WriteGroup(const std::vector<PendingCommit::Writer*>& group) ABSL_LOCKS_EXCLUDED(queue_mu);

  absl::StatusOr<std::optional<std::string>> Get(Cf cf, std::string_view key) const {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cfs[cf], rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "read");
    return std::optional<std::string>(std::move(value));
  }

  template <typename Fn>
  absl::Status ScanPrefix(Cf cf, std::string_view prefix, Fn&& fn) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cfs[cf]));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
      if (absl::Status s = fn(std::string_view(k.data(), k.size()), std::string_view(it->value().data(), it->value().size()));
          !s.ok()) {
        return s;
      }
    }
    return FromRocks(it->status(), "scan");
  }
};

SignalStore::SignalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SignalStore::~SignalStore() = default;

absl::StatusOr<std::unique_ptr<SignalStore>> SignalStore::Open(const std::string& dir, SignalStoreOptions store_options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);  // RocksDB creates the last level only
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.paranoid_checks = true;
  options.max_background_jobs = 2;
  auto impl = std::make_unique<Impl>();
  if (store_options.file_system) {
    impl->env = rocksdb::NewCompositeEnv(store_options.file_system);
    options.env = impl->env.get();
  }
  rocksdb::ColumnFamilyOptions cf_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  // Insert hints where a batch writes runs of consecutive keys (a log segment, a bulk submission).
  const auto origin_prefix = std::make_shared<ShortStringsPrefix>(1, 0);
  for (size_t cf = 0; cf < kNumCf; ++cf) {
    rocksdb::ColumnFamilyOptions o = cf_options;
    switch (cf) {
      case kEntries: case kLeaves: case kTombstones: case kCheckpoints:
        o.memtable_insert_with_hint_prefix_extractor = origin_prefix;
        break;
      case kNodes:  // origin, level
        o.memtable_insert_with_hint_prefix_extractor = std::make_shared<ShortStringsPrefix>(1, 1);
        break;
      case kLabels:  // label, origin
        o.memtable_insert_with_hint_prefix_extractor = std::make_shared<ShortStringsPrefix>(2, 0);
        break;
      default: break;
    }
    descriptors.emplace_back(kCfNames[cf], o);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("cannot open the database in ", dir));
  impl->db.reset(raw);
  raw->DestroyColumnFamilyHandle(handles[0]);  // default: unused
  impl->cfs.assign(handles.begin() + 1, handles.end());
  auto last = impl->Get(kState, kAuditSeqState);
  if (!last.ok()) return last.status();
  absl::MutexLock lock(&impl->write_mu);
  if (last->has_value()) {
    if ((*last)->size() != 8) return absl::DataLossError("corrupt audit position");
    impl->audit_last = ReadBigEndian64(**last);
    std::string key;
    AppendBigEndian64(&key, impl->audit_last);
    auto rec = impl->Get(kAudit, key);
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) return absl::DataLossError("the last audit record is missing");
    auto parsed = ParseAudit(**rec);
    if (!parsed.ok()) return parsed.status();
    impl->audit_last_hash = parsed->hash_hex;
  }
  impl->purge_delay = store_options.purge_delay;
  if (store_options.purge_delay.count() > 0) {
    Impl* m = impl.get();
    impl->purger = std::thread([m] { m->PurgeLoop(); });
  }
  return std::unique_ptr<SignalStore>(new SignalStore(std::move(impl)));
}

absl::Status SignalStore::Impl::WriteGroup(const std::vector<PendingCommit::Writer*>& group) {
  size_t rows = 0;
  for (const PendingCommit::Writer* w : group) rows += w->batch.impl_->puts.size() + w->batch.impl_->deletes.size();
  rocksdb::WriteBatch wb(rows + 4096);
  absl::MutexLock lock(&write_mu);
  uint64_t seq = audit_last;
  std::string prev = audit_last_hash;
  for (const PendingCommit::Writer* w : group) {
    const StoreBatch::Impl& b = *w->batch.impl_;
    StoreBatch::Impl::ForEach(b.puts, true, [&](Cf cf, std::string_view key, std::string_view value) {
      wb.Put(cfs[cf], rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
    });
    StoreBatch::Impl::ForEach(b.deletes, false, [&](Cf cf, std::string_view key, std::string_view) {
      wb.Delete(cfs[cf], rocksdb::Slice(key.data(), key.size()));
    });
    for (const auto& [actor, action, target] : b.audits) {
      AuditRecord r;
      r.sequence = ++seq;
      r.time_ms = w->time_ms;
      r.actor = actor;
      r.action = action;
      r.target = target;
      r.prev_hash_hex = prev;
      r.hash_hex = Sha256Hex(prev + AuditCanonical(r));
      prev = r.hash_hex;
      std::string key;
      AppendBigEndian64(&key, r.sequence);
      wb.Put(cfs[kAudit], key, AuditJson(r));
    }
  }
  if (seq != audit_last) {
    std::string v;
    AppendBigEndian64(&v, seq);
    wb.Put(cfs[kState], kAuditSeqState, v);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (absl::Status s = FromRocks(db->Write(wo, &wb), "write"); !s.ok()) return s;
  audit_last = seq;
  audit_last_hash = prev;
  // Deleted rows are remembered for the purge that removes their bytes from the files.
  std::vector<std::pair<Cf, std::string>> deleted_now;
  for (const PendingCommit::Writer* w : group) {
    StoreBatch::Impl::ForEach(w->batch.impl_->deletes, false, [&](Cf cf, std::string_view key, std::string_view) {
      deleted_now.emplace_back(cf, std::string(key));
    });
  }
  if (!deleted_now.empty()) {
    absl::MutexLock purge_lock(&purge_mu);
    deleted.insert(deleted.end(), std::make_move_iterator(deleted_now.begin()), std::make_move_iterator(deleted_now.end()));
    if (!purge_due) purge_due = std::chrono::steady_clock::now() + purge_delay;
  }
  return absl::OkStatus();
}

absl::Status SignalStore::Impl::Purge(std::vector<std::pair<Cf, std::string>> keys) {
  // Every column family flushed: the memtables' rows go to table files and every WAL file written so far
  // becomes obsolete; RocksDB deletes obsolete WAL files when the flush completes.
  rocksdb::FlushOptions flush;
  flush.wait = true;
  if (absl::Status s = FromRocks(db->Flush(flush, cfs), "flush"); !s.ok()) return s;
  // Then each deleted key's range is compacted through every level: the files that held its bytes are
  // rewritten without them. Beyond a bound, whole column families (cheaper than thousands of calls).
  constexpr size_t kMaxRanges = 256;
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::array<size_t, kNumCf> per_cf{};
  for (const auto& [cf, key] : keys) ++per_cf[cf];
  for (size_t cf = 0; cf < kNumCf; ++cf) {
    if (per_cf[cf] > kMaxRanges) {
      if (absl::Status s = FromRocks(db->CompactRange(options, cfs[cf], nullptr, nullptr), "purge compaction"); !s.ok()) {
        return s;
      }
    }
  }
  for (const auto& [cf, key] : keys) {
    if (per_cf[cf] > kMaxRanges) continue;
    const std::string end = key + std::string(1, '\0');
    const rocksdb::Slice b(key), e(end);
    if (absl::Status s = FromRocks(db->CompactRange(options, cfs[cf], &b, &e), "purge compaction"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void SignalStore::Impl::PurgeLoop() {
  while (true) {
    std::vector<std::pair<Cf, std::string>> keys;
    {
      absl::MutexLock lock(&purge_mu);
      // Wake when stopping, or when a purge is due (re-checked at least every 100 ms).
      purge_mu.AwaitWithTimeout(absl::Condition(+[](Impl* m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                  return m->purge_stopping ||
                                         (m->purge_due && std::chrono::steady_clock::now() >= *m->purge_due);
                                }, this),
                                absl::Milliseconds(100));
      if (purge_stopping) return;
      if (!purge_due || std::chrono::steady_clock::now() < *purge_due) continue;
      keys.swap(deleted);
      purge_due.reset();
    }
    if (absl::Status s = Purge(std::move(keys)); !s.ok()) {
      // Keys are not re-queued: the next purge's flush and a later compaction still remove them; the error
      // (a storage fault) is what the next write reports too.
      std::cerr << "hashbank: purge of deleted rows failed: " << s.message() << "\n";
    }
  }
}

PendingCommit::PendingCommit() = default;
PendingCommit::PendingCommit(SignalStore* store, std::shared_ptr<Writer> writer)
    : store_(store), writer_(std::move(writer)) {}
PendingCommit::~PendingCommit() {
  if (writer_) (void)Wait();  // a queued batch is written (or failed) before its handle goes
}
PendingCommit::PendingCommit(PendingCommit&& o) noexcept : store_(o.store_), writer_(std::move(o.writer_)) {}
PendingCommit& PendingCommit::operator=(PendingCommit&& o) noexcept {
  if (this != &o) {
    if (writer_) (void)Wait();
    store_ = o.store_;
    writer_ = std::move(o.writer_);
  }
  return *this;
}
absl::Status PendingCommit::Wait() {
  if (!writer_) return absl::FailedPreconditionError("no commit pending");
  absl::Status s = store_->WaitFor(writer_);
  writer_.reset();
  return s;
}

PendingCommit SignalStore::Enqueue(StoreBatch batch, int64_t time_ms) {
  auto w = std::make_shared<PendingCommit::Writer>();
  w->batch = std::move(batch);
  w->time_ms = time_ms;
  {
    absl::MutexLock lock(&impl_->queue_mu);
    impl_->queue.push_back(w);
  }
  return PendingCommit(this, std::move(w));
}

absl::Status SignalStore::WaitFor(const std::shared_ptr<PendingCommit::Writer>& writer) {
  Impl& m = *impl_;
  PendingCommit::Writer* const self = writer.get();
  std::pair<Impl*, PendingCommit::Writer*> wait_args(&m, self);
  const absl::Condition done_or_no_leader(
      +[](std::pair<Impl*, PendingCommit::Writer*>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->second->done || !a->first->leader_active;
      },
      &wait_args);
  m.queue_mu.LockWhen(done_or_no_leader);
  // Until this writer's batch is done: whoever waits while no group is being written leads the next one,
  // from the front of the queue (so waiting out of enqueue order cannot stall the queue).
  while (!self->done) {
    m.leader_active = true;
    // The group: the queue's front and what is queued behind it, bounded so that one huge group cannot delay
    // a small write for long; written with one fsync, then each writer gets its result.
    constexpr size_t kMaxGroupBytes = size_t{8} << 20;
    std::vector<PendingCommit::Writer*> group;
    size_t bytes = 0;
    for (const auto& w : m.queue) {
      const size_t b = w->batch.impl_->puts.size() + w->batch.impl_->deletes.size();
      if (!group.empty() && bytes + b > kMaxGroupBytes) break;
      group.push_back(w.get());
      bytes += b;
    }
    const absl::Status refused = m.failed;
    m.queue_mu.Unlock();
    const absl::Status status =
        refused.ok() ? m.WriteGroup(group)
                     : absl::UnavailableError(absl::StrCat("the store refuses writes after a failed one (",
                                                           std::string(refused.message()), "); restart the node"));
    m.queue_mu.Lock();
    if (!status.ok() && m.failed.ok()) m.failed = status;
    for (PendingCommit::Writer* w : group) {
      w->status = status;
      w->done = true;
      m.queue.pop_front();
    }
    m.leader_active = false;
    if (!self->done) m.queue_mu.Await(done_or_no_leader);
  }
  absl::Status s = self->status;
  m.queue_mu.Unlock();
  return s;
}

absl::Status SignalStore::Commit(StoreBatch batch, int64_t time_ms) { return Enqueue(std::move(batch), time_ms).Wait(); }

absl::StatusOr<std::optional<std::string>> SignalStore::GetEntry(const SignalRef& ref) const {
  return impl_->Get(kEntries, Okey(ref));
}
absl::StatusOr<std::optional<Tombstone>> SignalStore::GetTombstone(const SignalRef& ref) const {
  auto raw = impl_->Get(kTombstones, Okey(ref));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<Tombstone>();
  auto t = ParseTombstone(**raw);
  if (!t.ok()) return absl::DataLossError(absl::StrCat(FormatSignalId(ref), ": ", std::string(t.status().message())));
  return std::optional<Tombstone>(std::move(*t));
}
absl::StatusOr<std::optional<TokenRecord>> SignalStore::GetToken(std::string_view token_sha256) const {
  auto raw = impl_->Get(kTokens, token_sha256);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<TokenRecord>();
  auto t = ParseToken(**raw);
  if (!t.ok()) return t.status();
  return std::optional<TokenRecord>(std::move(*t));
}
absl::StatusOr<std::optional<std::string>> SignalStore::GetLogTree(std::string_view origin) const {
  return impl_->Get(kState, StateName(kTreePrefix, origin));
}
absl::StatusOr<std::optional<std::string>> SignalStore::GetOriginKey(std::string_view origin) const {
  return impl_->Get(kState, StateName(kOriginKeyPrefix, origin));
}
absl::StatusOr<bool> SignalStore::IsEquivocating(std::string_view origin) const {
  auto raw = impl_->Get(kState, StateName(kEquivocatedPrefix, origin));
  if (!raw.ok()) return raw.status();
  return raw->has_value();
}
absl::Status SignalStore::ForEachSuspension(const std::function<void(std::string_view, const Suspension&)>& fn) const {
  return impl_->ScanPrefix(kState, kSuspendedPrefix, [&](std::string_view key, std::string_view value) {
    fn(key.substr(kSuspendedPrefix.size()), ParseSuspension(value));
    return absl::OkStatus();
  });
}
absl::StatusOr<std::optional<std::string>> SignalStore::GetState(std::string_view name) const {
  return impl_->Get(kState, name);
}
absl::Status SignalStore::ForEachState(std::string_view prefix,
                                       const std::function<absl::Status(std::string_view, std::string_view)>& fn) const {
  return impl_->ScanPrefix(kState, prefix, [&](std::string_view key, std::string_view value) {
    return fn(key.substr(prefix.size()), value);
  });
}

absl::StatusOr<std::optional<std::string>> SignalStore::GetLeaf(const SignalRef& ref) const {
  return impl_->Get(kLeaves, Okey(ref));
}
absl::StatusOr<std::optional<std::string>> SignalStore::GetNode(std::string_view origin, uint32_t level,
                                                                uint64_t index) const {
  return impl_->Get(kNodes, NodeKey(origin, level, index));
}
absl::StatusOr<std::optional<std::string>> SignalStore::GetCheckpointAtOrBelow(std::string_view origin,
                                                                                uint64_t max_size) const {
  const std::string prefix = ShortString(origin);
  std::string key = prefix;
  AppendBigEndian64(&key, max_size);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kCheckpoints]));
  it->SeekForPrev(key);
  if (absl::Status s = FromRocks(it->status(), "checkpoint lookup"); !s.ok()) return s;
  if (!it->Valid() || !it->key().starts_with(prefix)) return std::optional<std::string>();
  return std::optional<std::string>(it->value().ToString());
}

absl::StatusOr<std::optional<std::string>> SignalStore::GetCheckpoint(std::string_view origin) const {
  return GetCheckpointAtOrBelow(origin, UINT64_MAX);
}

absl::Status SignalStore::ForEachCheckpoint(const std::function<void(std::string_view, std::string_view)>& fn) const {
  // The newest checkpoint of each origin: the last key of each origin's range.
  std::string last_origin, last_value;
  bool have = false;
  absl::Status s = impl_->ScanPrefix(kCheckpoints, "", [&](std::string_view key, std::string_view value) {
    if (key.empty() || key.size() != 1u + static_cast<uint8_t>(key[0]) + 8u) return absl::DataLossError("corrupt checkpoint key");
    const std::string_view origin = key.substr(1, static_cast<uint8_t>(key[0]));
    if (have && origin != last_origin) fn(last_origin, last_value);
    last_origin.assign(origin);
    last_value.assign(value);
    have = true;
    return absl::OkStatus();
  });
  if (s.ok() && have) fn(last_origin, last_value);
  return s;
}

absl::StatusOr<std::vector<std::string>> SignalStore::ListEvidence(std::string_view origin) const {
  std::vector<std::string> out;
  absl::Status s = impl_->ScanPrefix(kEvidence, ShortString(origin), [&](std::string_view, std::string_view value) {
    out.emplace_back(value);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status SignalStore::ForEachLeaf(std::string_view origin,
                                      const std::function<absl::Status(uint64_t, std::string_view)>& fn) const {
  return impl_->ScanPrefix(kLeaves, ShortString(origin), [&](std::string_view key, std::string_view value) {
    SignalRef ref;
    if (ParseOkey(key, &ref) != key.size()) return absl::DataLossError("corrupt leaf key");
    return fn(ref.sequence, value);
  });
}

absl::Status SignalStore::PurgeDeletedNow() {
  std::vector<std::pair<Cf, std::string>> keys;
  {
    absl::MutexLock lock(&impl_->purge_mu);
    keys.swap(impl_->deleted);
    impl_->purge_due.reset();
  }
  return impl_->Purge(std::move(keys));
}

absl::Status SignalStore::CompactAll() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* cf : impl_->cfs) {
    if (absl::Status s = FromRocks(impl_->db->CompactRange(options, cf, nullptr, nullptr), "compaction"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SignalRef>> SignalStore::OpinionsOf(const SignalRef& signal) const {
  std::vector<SignalRef> out;
  const std::string prefix = Okey(signal);
  absl::Status s = impl_->ScanPrefix(kOpinions, prefix, [&](std::string_view key, std::string_view) {
    SignalRef ref;
    if (ParseOkey(key.substr(prefix.size()), &ref) == 0) return absl::DataLossError("corrupt opinion key");
    out.push_back(std::move(ref));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<SignalRef>> SignalStore::ListByLabel(std::string_view label, const std::optional<SignalRef>& after,
                                                               size_t limit) const {
  std::vector<SignalRef> out;
  const std::string prefix = ShortString(label);
  std::string start = prefix;
  if (after) start += Okey(*after);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kLabels]));
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix)) break;
    const std::string_view rest(k.data() + prefix.size(), k.size() - prefix.size());
    SignalRef ref;
    if (ParseOkey(rest, &ref) != rest.size()) return absl::DataLossError("corrupt label key");
    if (after && ref == *after) continue;  // the cursor itself
    out.push_back(std::move(ref));
  }
  if (!it->status().ok()) return absl::UnavailableError(it->status().ToString());
  return out;
}

absl::Status SignalStore::ScanEntries(std::string_view origin, uint64_t first, uint64_t end,
                                      const std::function<absl::Status(uint64_t, std::string_view)>& fn) const {
  const std::string prefix = ShortString(origin);
  std::string start = prefix;
  AppendBigEndian64(&start, first);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kEntries]));
  for (it->Seek(start); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!k.starts_with(prefix)) break;
    SignalRef ref;
    if (ParseOkey(std::string_view(k.data(), k.size()), &ref) != k.size()) return absl::DataLossError("corrupt entry key");
    if (ref.sequence >= end) break;
    if (absl::Status s = fn(ref.sequence, std::string_view(it->value().data(), it->value().size())); !s.ok()) return s;
  }
  return FromRocks(it->status(), "entry scan");
}

absl::Status SignalStore::VerifyChecksums() const {
  rocksdb::ReadOptions options;
  options.verify_checksums = true;
  options.fill_cache = false;
  return FromRocks(impl_->db->VerifyChecksum(options), "checksum verification");
}

absl::Status SignalStore::ForEachExactRow(
    const std::function<absl::Status(ExactKind8, std::string_view, const SignalRef&)>& fn) const {
  return impl_->ScanPrefix(kExact, "", [&](std::string_view key, std::string_view value) -> absl::Status {
    SignalRef ref;
    const size_t n = ParseOkey(key, &ref);
    if (n == 0 || key.size() != n + 1 || value.size() != 32) return absl::DataLossError("corrupt exact row");
    return fn(static_cast<ExactKind8>(key[n]), value, ref);
  });
}

absl::StatusOr<uint64_t> SignalStore::MigrateExactRowKeys() {
  constexpr std::string_view kMarker = "format/exact_rows";  // "2": okey + kind -> digest
  auto done = GetState(kMarker);
  if (!done.ok()) return done.status();
  if (done->has_value()) return 0;
  // Before: kind (1) + digest (32) + okey -> "". Read all first (the scan must not see its own writes).
  std::vector<std::pair<std::string, std::string>> old_keys;  // old key, new key
  std::vector<std::string> digests;
  absl::Status s = impl_->ScanPrefix(kExact, "", [&](std::string_view key, std::string_view) -> absl::Status {
    SignalRef ref;
    if (key.size() < 34 || ParseOkey(key.substr(33), &ref) != key.size() - 33) return absl::DataLossError("corrupt exact key");
    std::string fresh;
    ExactKey(static_cast<ExactKind8>(key[0]), ref)(&fresh);
    old_keys.emplace_back(std::string(key), std::move(fresh));
    digests.emplace_back(key.substr(1, 32));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (size_t start = 0; start < old_keys.size() || start == 0; start += 10000) {
    StoreBatch batch;
    for (size_t i = start; i < std::min(old_keys.size(), start + 10000); ++i) {
      batch.impl_->Delete(kExact, [&](std::string* k) { k->append(old_keys[i].first); });
      batch.impl_->Put(kExact, [&](std::string* k) { k->append(old_keys[i].second); }, digests[i]);
    }
    if (start + 10000 >= old_keys.size()) batch.PutState(kMarker, "2");
    if (absl::Status c = Commit(std::move(batch), 0); !c.ok()) return c;
    if (old_keys.empty()) break;
  }
  return old_keys.size();
}

absl::StatusOr<std::optional<std::string>> SignalStore::GetExactRow(ExactKind8 kind, const SignalRef& ref) const {
  std::string key;
  ExactKey(kind, ref)(&key);
  return impl_->Get(kExact, key);
}

absl::StatusOr<bool> SignalStore::HasLabelRow(std::string_view label, const SignalRef& ref) const {
  std::string key;
  LabelKey(label, ref)(&key);
  auto row = impl_->Get(kLabels, key);
  if (!row.ok()) return row.status();
  return row->has_value();
}

absl::Status SignalStore::ForEachLabelRow(const std::function<absl::Status(std::string_view, const SignalRef&)>& fn) const {
  return impl_->ScanPrefix(kLabels, "", [&](std::string_view key, std::string_view) -> absl::Status {
    SignalRef ref;
    const size_t n = key.empty() ? 0 : static_cast<uint8_t>(key[0]);
    if (key.size() < 1 + n || ParseOkey(key.substr(1 + n), &ref) != key.size() - 1 - n) {
      return absl::DataLossError("corrupt label key");
    }
    return fn(key.substr(1, n), ref);
  });
}

absl::Status SignalStore::ForEachEntry(const std::function<absl::Status(const SignalRef&, std::string_view)>& fn) const {
  return impl_->ScanPrefix(kEntries, "", [&](std::string_view key, std::string_view value) {
    SignalRef ref;
    if (ParseOkey(key, &ref) != key.size()) return absl::DataLossError("corrupt entry key");
    return fn(ref, value);
  });
}

absl::Status SignalStore::ForEachToken(const std::function<void(std::string_view, const TokenRecord&)>& fn) const {
  return impl_->ScanPrefix(kTokens, "", [&](std::string_view key, std::string_view value) -> absl::Status {
    auto record = ParseToken(value);
    if (!record.ok()) return record.status();
    fn(key, *record);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<AuditRecord>> SignalStore::ListAudit(uint64_t after, size_t limit) const {
  std::vector<AuditRecord> out;
  if (after == UINT64_MAX) return out;
  std::string start;
  AppendBigEndian64(&start, after + 1);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kAudit]));
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    auto r = ParseAudit(std::string_view(it->value().data(), it->value().size()));
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  if (absl::Status s = FromRocks(it->status(), "audit scan"); !s.ok()) return s;
  return out;
}

absl::Status SignalStore::VerifyAuditChain() const {
  std::string prev;
  uint64_t expected = 1;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cfs[kAudit]));
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
    auto r = ParseAudit(std::string_view(it->value().data(), it->value().size()));
    if (!r.ok()) return r.status();
    if (r->sequence != expected) return absl::DataLossError(absl::StrCat("audit record ", expected, " is missing"));
    if (r->prev_hash_hex != prev || r->hash_hex != Sha256Hex(prev + AuditCanonical(*r))) {
      return absl::DataLossError(absl::StrCat("audit record ", r->sequence, " does not verify"));
    }
    prev = r->hash_hex;
  }
  return FromRocks(it->status(), "audit scan");
}

absl::Status SignalStore::Checkpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s = FromRocks(rocksdb::Checkpoint::Create(impl_->db.get(), &raw), "checkpoint"); !s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  if (absl::Status s = FromRocks(cp->CreateCheckpoint(dir), absl::StrCat("checkpoint into ", dir)); !s.ok()) return s;
  // Like the data directory: the owner only (the files hold salted hashes and who submitted them).
  std::error_code ec;
  namespace fs = std::filesystem;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (ec) break;
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
    if (ec) break;
  }
  if (ec) return absl::InternalError(absl::StrCat("the backup in ", dir, " was written, but its permissions could not be set to the owner only: ", ec.message()));
  return absl::OkStatus();
}

}  // namespace hashbank
