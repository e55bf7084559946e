#include "node/case_desk.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>

#include <boost/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hashing/hash256.h"
#include "hashing/portable_digest.h"
#include "node/status_macros.h"
#include "storage/signal_store.h"

namespace hashbank {
namespace json = boost::json;
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr char kRetryPayload[] = "type.hashbank/node.RetryAfter";
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

absl::Status Limited(std::string message, int64_t retry_ms) {
  absl::Status s = absl::ResourceExhaustedError(std::move(message));
  s.SetPayload(kRetryPayload, absl::Cord(std::to_string(std::max<int64_t>(1, (retry_ms + 999) / 1000))));
  return s;
}

std::string CaseKey(const std::string& normalized) {
  const auto d = PortableSha256({reinterpret_cast<const uint8_t*>(normalized.data()), normalized.size()});
  return "case/" + BytesToHex(d.data(), d.size());
}

std::string FormatCaseNumber(const std::string& normalized) {
  std::string out;
  for (size_t i = 0; i < normalized.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += '-';
    out += normalized[i];
  }
  return out;
}

std::string EncodeRecord(const std::string& pin_hash, int64_t created, const std::vector<SignalRef>& refs,
                         const std::string& message) {
  json::object o;
  o["v"] = 1;
  o["pin"] = pin_hash;
  o["created_ms"] = created;
  json::array ids;
  for (const SignalRef& r : refs) ids.emplace_back(FormatSignalId(r));
  o["signals"] = std::move(ids);
  if (!message.empty()) o["message"] = message;
  return json::serialize(o);
}

// A case record's fields (EncodeRecord's), or DataLoss.
struct ParsedRecord {
  std::string pin_hash, message;
  int64_t created_ms = 0;
  std::vector<SignalRef> signals;
};
absl::StatusOr<ParsedRecord> ParseRecord(std::string_view row) {
  const absl::Status bad = absl::DataLossError("a case record does not parse");
  boost::system::error_code ec;
  json::value v = json::parse(row, ec);
  if (ec || !v.is_object()) return bad;
  const json::object& o = v.as_object();
  ParsedRecord r;
  const json::value* pin = o.if_contains("pin");
  if (pin == nullptr || !pin->is_string()) return bad;
  r.pin_hash = std::string(pin->as_string());
  if (const json::value* c = o.if_contains("created_ms"); c && c->is_int64()) r.created_ms = c->as_int64();
  if (const json::value* m = o.if_contains("message"); m && m->is_string()) r.message = std::string(m->as_string());
  if (const json::value* s = o.if_contains("signals"); s && s->is_array()) {
    for (const json::value& id : s->as_array()) {
      if (!id.is_string()) return bad;
      absl::StatusOr<SignalRef> ref = ParseSignalId(std::string(id.as_string()));
      if (!ref.ok()) return bad;
      r.signals.push_back(*ref);
    }
  }
  return r;
}

}  // namespace

std::optional<std::string> NormalizeCaseNumber(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (std::string_view(kCrockford).find(c) == std::string_view::npos || c == '\0') return std::nullopt;
    out += c;
    if (out.size() > 16) return std::nullopt;
  }
  if (out.size() != 16) return std::nullopt;
  return out;
}

CaseDesk::CaseDesk(Bank* bank, CaseOptions options)
    : bank_(bank), now_ms_(options.now_ms), options_(std::move(options)) {}

CaseOptions CaseDesk::options() const {
  absl::MutexLock lock(&mu_);
  return options_;
}

void CaseDesk::SetOptions(CaseOptions options) {
  absl::MutexLock lock(&mu_);
  options.now_ms = now_ms_;
  options_ = std::move(options);
}

void CaseDesk::SetHoldersHook(std::function<int(const std::string&, uint64_t)> hook) { holders_ = std::move(hook); }

int64_t CaseDesk::Now() const {
  if (now_ms_) return now_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int CaseDesk::RetryAfterSeconds(const absl::Status& status) {
  if (auto p = status.GetPayload(kRetryPayload)) {
    int v = 0;
    if (absl::SimpleAtoi(std::string(*p), &v)) return v;
  }
  return 60;
}

absl::Status CaseDesk::Take(Window* w, int64_t now, int64_t window_ms, uint32_t limit, std::string_view what) {
  if (now - w->start_ms >= window_ms || now < w->start_ms) {
    // Fixed windows; the day window is aligned to UTC midnight.
    w->start_ms = window_ms == kDayMs ? now - now % kDayMs : now;
    w->count = 0;
  }
  if (w->count >= limit) {
    return Limited(absl::StrCat(std::string(what), ": limit reached, try again later"), w->start_ms + window_ms - now);
  }
  ++w->count;
  return absl::OkStatus();
}

absl::StatusOr<CreatedCase> CaseDesk::Create(std::vector<SignalInput> inputs, const std::string& message,
                                             bool from_public_page, const std::string& remote_address) {
  const CaseOptions opts = options();
  if (from_public_page && !opts.public_submission) {
    return absl::PermissionDeniedError("this node does not take cases from the public page (cases.public_submission)");
  }
  if (inputs.empty()) return absl::InvalidArgumentError("hashes: at least one file's hashes are required");
  if (inputs.size() > opts.max_hashes) {
    return absl::InvalidArgumentError(absl::StrCat("hashes: at most ", opts.max_hashes, " files in one case"));
  }
  if (message.size() > opts.max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("message: at most ", opts.max_message_bytes, " bytes"));
  }
  for (SignalInput& in : inputs) {
    if (!in.labels.empty() || !in.bank.empty() || !in.case_ref.empty()) {
      return absl::InvalidArgumentError("hashes: labels, bank and case_ref are set by the node");
    }
    in.labels = {kVictimSubmittedLabel};
  }
  if (from_public_page) {
    const int64_t now = Now();
    absl::MutexLock lock(&mu_);
    // Checked in this order so that a refused request does not use up the wider limits.
    Window ip = create_by_ip_[remote_address], hour = create_hour_, day = create_day_;
    if (absl::Status s = Take(&ip, now, kHourMs, options_.per_ip_per_hour, "cases from this address"); !s.ok()) return s;
    if (absl::Status s = Take(&hour, now, kHourMs, options_.global_per_hour, "cases this hour"); !s.ok()) return s;
    if (absl::Status s = Take(&day, now, kDayMs, options_.daily_cap, "cases today"); !s.ok()) return s;
    create_by_ip_[remote_address] = ip;
    create_hour_ = hour;
    create_day_ = day;
    if (create_by_ip_.size() > 100'000) create_by_ip_.clear();  // bounded memory under an address sweep
  }

  CreatedCase created;
  uint8_t raw[10];
  randombytes_buf(raw, sizeof(raw));
  std::string normalized;
  for (int i = 0; i < 16; ++i) {  // 16 x 5 bits of the 80
    const int bit = i * 5;
    const int v = ((raw[bit / 8] << 8 | (bit / 8 + 1 < 10 ? raw[bit / 8 + 1] : 0)) >> (11 - bit % 8)) & 31;
    normalized += kCrockford[v];
  }
  sodium_memzero(raw, sizeof(raw));
  created.case_number = FormatCaseNumber(normalized);
  for (int i = 0; i < 8; ++i) created.pin += static_cast<char>('0' + randombytes_uniform(10));
  char hashed[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hashed, created.pin.data(), created.pin.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return absl::ResourceExhaustedError("cannot hash the PIN (out of memory)");
  }
  const int64_t created_ms = Now();
  // The signals and the record that names them in one durable batch, all or nothing.
  absl::StatusOr<std::vector<SignalRef>> refs = bank_->SubmitAll(
      inputs, Actor{"case-page", Role::kSubmit}, [&](std::span<const SignalRef> assigned) {
        return std::pair{CaseKey(normalized),
                         EncodeRecord(hashed, created_ms, std::vector<SignalRef>(assigned.begin(), assigned.end()), message)};
      });
  if (!refs.ok()) {
    const absl::Status& s = refs.status();
    // "item N: ..." as the API names it.
    if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s)) {
      return absl::Status(s.code(), absl::StrCat("hashes: ", std::string(s.message())));
    }
    return s;
  }
  created.signals = std::move(*refs);
  return created;
}

absl::StatusOr<CaseDesk::Listed> CaseDesk::Open(std::string_view case_number, std::string_view pin,
                                                const std::string& remote_address) {
  const int64_t now = Now();
  const std::optional<std::string> normalized = NormalizeCaseNumber(case_number);
  const std::string key = normalized ? CaseKey(*normalized) : std::string();
  {
    absl::MutexLock lock(&mu_);
    Window& w = lookups_by_ip_[remote_address];
    if (absl::Status s = Take(&w, now, kHourMs, options_.lookups_per_ip_per_hour, "case lookups from this address");
        !s.ok()) {
      return s;
    }
    if (lookups_by_ip_.size() > 100'000) lookups_by_ip_.clear();
    if (normalized) {
      auto it = attempts_.find(key);
      if (it != attempts_.end() && it->second.locked_until_ms > now) {
        return Limited("too many wrong PINs for this case: it is locked for a while", it->second.locked_until_ms - now);
      }
    }
  }
  const absl::Status wrong = absl::UnauthenticatedError("the case number or the PIN is wrong");
  if (!normalized || pin.size() != 8 || !std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return wrong;
  }
  HB_ASSIGN_OR_RETURN(std::optional<std::string> row, bank_->GetStateRow(key));
  if (!row) return wrong;
  HB_ASSIGN_OR_RETURN(ParsedRecord parsed, ParseRecord(*row));
  const std::string pin_copy(pin);
  if (crypto_pwhash_str_verify(parsed.pin_hash.c_str(), pin_copy.data(), pin_copy.size()) != 0) {
    absl::MutexLock lock(&mu_);
    Attempts& a = attempts_[key];
    if (++a.wrong >= options_.pin_attempts) {
      a.wrong = 0;
      a.locked_until_ms = now + int64_t{options_.lockout_minutes} * 60'000;
    }
    return wrong;
  }
  {
    absl::MutexLock lock(&mu_);
    attempts_.erase(key);
  }
  return Listed{parsed.created_ms, std::move(parsed.signals), std::move(parsed.message)};
}

absl::StatusOr<std::vector<CaseDesk::Listed>> CaseDesk::List(size_t limit) const {
  std::vector<Listed> out;
  absl::Status s = bank_->ForEachStateRow("case/", [&](std::string_view, std::string_view value) {
    absl::StatusOr<ParsedRecord> r = ParseRecord(value);
    if (!r.ok()) return absl::OkStatus();  // a damaged record is skipped here (Status reports it)
    out.push_back(Listed{r->created_ms, std::move(r->signals), std::move(r->message)});
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Keyed by a hash, so in no useful order: newest first by creation time.
  std::sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) { return a.created_at_ms > b.created_at_ms; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::StatusOr<CaseStatus> CaseDesk::StatusOf(const Listed& record) const {
  CaseStatus out;
  out.created_at_ms = record.created_at_ms;
  for (const SignalRef& ref : record.signals) {
    HB_ASSIGN_OR_RETURN(SignalInfo info, bank_->Get(ref));
    CaseSignalStatus s;
    s.ref = ref;
    s.signal_types = info.signal_types;
    s.withdrawn = info.withdrawn;
    s.withdrawn_at_ms = info.withdrawn_at_ms;
    s.confirmed = info.confirmed;
    s.disputed = info.disputed;
    s.members_holding = holders_ ? holders_(ref.origin, ref.sequence) : 0;
    out.signals.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<CaseStatus> CaseDesk::Status(std::string_view case_number, std::string_view pin,
                                            const std::string& remote_address) {
  HB_ASSIGN_OR_RETURN(Listed r, Open(case_number, pin, remote_address));
  return StatusOf(r);
}

absl::StatusOr<CaseStatus> CaseDesk::Withdraw(std::string_view case_number, std::string_view pin,
                                              const std::optional<SignalRef>& signal, const std::string& remote_address) {
  HB_ASSIGN_OR_RETURN(Listed r, Open(case_number, pin, remote_address));
  if (signal && std::find(r.signals.begin(), r.signals.end(), *signal) == r.signals.end()) {
    return absl::NotFoundError("signal: not a signal of this case");
  }
  for (const SignalRef& ref : r.signals) {
    if (signal && !(ref == *signal)) continue;
    absl::Status s = bank_->Withdraw(ref, Actor{"case-page", Role::kSubmit}, "consent withdrawn by the victim");
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;  // already withdrawn: nothing to do
  }
  return StatusOf(r);
}

absl::StatusOr<std::optional<std::string>> RemapCaseRecord(std::string_view row, const std::string& node_id,
                                                           const std::map<uint64_t, uint64_t>& moved) {
  HB_ASSIGN_OR_RETURN(ParsedRecord r, ParseRecord(row));
  bool changed = false;
  for (SignalRef& ref : r.signals) {
    if (ref.origin != node_id) continue;
    if (auto it = moved.find(ref.sequence); it != moved.end()) {
      ref.sequence = it->second;
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return EncodeRecord(r.pin_hash, r.created_ms, r.signals, r.message);
}

}  // namespace hashbank
