#include "node/bank_catalog.h"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "crypto/sha256.h"
#include "node/signal_intake.h"

namespace hashbank {
namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "bank/";
constexpr size_t kMaxDescription = 1024;
constexpr size_t kMaxBankLabels = 16;

std::string Encode(const BankConfig& c) {
  json::object o;
  o["matching_enabled_ratio"] = c.matching_enabled_ratio;
  o["description"] = c.description;
  json::array labels;
  for (const std::string& l : c.labels) labels.emplace_back(l);
  o["labels"] = std::move(labels);
  o["created_ms"] = c.created_ms;
  return json::serialize(o);
}

absl::StatusOr<BankConfig> Decode(std::string_view name, std::string_view value) {
  boost::system::error_code ec;
  json::value v = json::parse(value, ec);
  if (ec || !v.is_object()) return absl::DataLossError(absl::StrCat("bank row ", std::string(name), " does not parse"));
  const json::object& o = v.as_object();
  BankConfig c;
  c.name = std::string(name);
  if (const json::value* r = o.if_contains("matching_enabled_ratio"); r != nullptr && r->is_number()) {
    c.matching_enabled_ratio = r->to_number<double>();
  }
  if (const json::value* d = o.if_contains("description"); d != nullptr && d->is_string()) {
    c.description = std::string(d->as_string());
  }
  if (const json::value* l = o.if_contains("labels"); l != nullptr && l->is_array()) {
    for (const json::value& x : l->as_array()) {
      if (x.is_string()) c.labels.emplace_back(x.as_string());
    }
  }
  if (const json::value* t = o.if_contains("created_ms"); t != nullptr && t->is_int64()) c.created_ms = t->as_int64();
  return c;
}

}  // namespace

double RatioPoint(std::string_view signal_id) {
  const Sha256Hash h = Sha256(signal_id);
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | h[static_cast<size_t>(i)];
  return static_cast<double>(x >> 11) / static_cast<double>(uint64_t{1} << 53);
}

BankCatalog::BankCatalog(SignalStore* store, std::function<int64_t()> now_ms) : store_(store), now_ms_(std::move(now_ms)) {}

absl::Status BankCatalog::Load() {
  std::map<std::string, BankConfig, std::less<>> loaded;
  absl::Status s = store_->ForEachState(kPrefix, [&](std::string_view name, std::string_view value) -> absl::Status {
    absl::StatusOr<BankConfig> c = Decode(name, value);
    if (!c.ok()) return c.status();
    loaded.emplace(c->name, std::move(*c));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  banks_ = std::move(loaded);
  return absl::OkStatus();
}

BankConfig BankCatalog::Get(std::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = banks_.find(name);
  if (it != banks_.end()) return it->second;
  BankConfig c;
  c.name = std::string(name);
  return c;
}

bool BankCatalog::IsConfigured(std::string_view name) const {
  if (name == kDefaultBank) return true;
  absl::ReaderMutexLock lock(&mu_);
  return banks_.contains(name);
}

std::vector<BankConfig> BankCatalog::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<BankConfig> out;
  if (!banks_.contains(kDefaultBank)) {
    BankConfig d;
    d.name = std::string(kDefaultBank);
    out.push_back(std::move(d));
  }
  for (const auto& [name, c] : banks_) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const BankConfig& a, const BankConfig& b) { return a.name < b.name; });
  return out;
}

absl::Status BankCatalog::Validate(const BankConfig& c) const {
  if (!IsValidBankName(c.name)) {
    return absl::InvalidArgumentError("name: 1-64 characters of A-Z, 0-9, _, not starting with a digit");
  }
  if (!(c.matching_enabled_ratio >= 0.0 && c.matching_enabled_ratio <= 1.0)) {
    return absl::InvalidArgumentError("matching_enabled_ratio: a number from 0 to 1");
  }
  if (c.description.size() > kMaxDescription) return absl::InvalidArgumentError("description: at most 1024 bytes");
  if (c.labels.size() > kMaxBankLabels) return absl::InvalidArgumentError("labels: at most 16");
  for (const std::string& l : c.labels) {
    if (!IsValidLabel(l)) return absl::InvalidArgumentError("labels: each label is 1-64 characters of a-z, 0-9, _");
  }
  return absl::OkStatus();
}

absl::Status BankCatalog::Write(const BankConfig& c, const std::string& actor, std::string_view action) {
  StoreBatch batch;
  batch.PutState(absl::StrCat(std::string(kPrefix), c.name), Encode(c));
  batch.AddAudit(actor, std::string(action), c.name);
  return store_->Commit(std::move(batch), now_ms_());
}

absl::StatusOr<BankConfig> BankCatalog::Create(BankConfig config, const std::string& actor) {
  if (absl::Status s = Validate(config); !s.ok()) return s;
  absl::MutexLock writer(&write_mu_);
  if (IsConfigured(config.name)) return absl::AlreadyExistsError(absl::StrCat("bank ", config.name, " already exists"));
  config.created_ms = now_ms_();
  if (absl::Status s = Write(config, actor, "bank.create"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  banks_[config.name] = config;
  return config;
}

absl::StatusOr<BankConfig> BankCatalog::Update(std::string_view name, const BankUpdate& update, const std::string& actor) {
  absl::MutexLock writer(&write_mu_);
  if (!IsConfigured(name)) return absl::NotFoundError(absl::StrCat("no bank ", std::string(name)));
  BankConfig c = Get(name);
  if (update.matching_enabled_ratio) c.matching_enabled_ratio = *update.matching_enabled_ratio;
  if (update.description) c.description = *update.description;
  if (update.labels) c.labels = *update.labels;
  if (c.created_ms == 0) c.created_ms = now_ms_();  // the default bank, configured for the first time
  if (absl::Status s = Validate(c); !s.ok()) return s;
  if (absl::Status s = Write(c, actor, "bank.update"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  banks_[c.name] = c;
  return c;
}

absl::Status BankCatalog::Rename(std::string_view from, std::string_view to, const std::string& actor) {
  absl::MutexLock writer(&write_mu_);
  BankConfig c;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = banks_.find(from);
    if (it == banks_.end()) return absl::NotFoundError(absl::StrCat("no bank ", std::string(from)));
    if (banks_.contains(to)) return absl::AlreadyExistsError(absl::StrCat("bank ", std::string(to), " already exists"));
    c = it->second;
  }
  c.name = std::string(to);
  if (absl::Status s = Validate(c); !s.ok()) return s;
  StoreBatch batch;
  batch.DeleteState(absl::StrCat(std::string(kPrefix), std::string(from)));
  batch.PutState(absl::StrCat(std::string(kPrefix), c.name), Encode(c));
  batch.AddAudit(actor, "bank.rename", absl::StrCat(std::string(from), " -> ", c.name));
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  banks_.erase(banks_.find(from));
  banks_[c.name] = std::move(c);
  return absl::OkStatus();
}

absl::Status BankCatalog::Remove(std::string_view name, const std::string& actor) {
  absl::MutexLock writer(&write_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!banks_.contains(name)) return absl::NotFoundError(absl::StrCat("no bank ", std::string(name)));
  }
  StoreBatch batch;
  batch.DeleteState(absl::StrCat(std::string(kPrefix), std::string(name)));
  batch.AddAudit(actor, "bank.delete", std::string(name));
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  banks_.erase(banks_.find(name));
  return absl::OkStatus();
}

bool BankCatalog::MatchEnabled(std::string_view name, std::string_view signal_id) const {
  double ratio = 1.0;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = banks_.find(name);
    if (it == banks_.end()) return true;
    ratio = it->second.matching_enabled_ratio;
  }
  if (ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  return RatioPoint(signal_id) < ratio;
}

}  // namespace hashbank
