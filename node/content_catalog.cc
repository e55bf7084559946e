#include "node/content_catalog.h"

#include <boost/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

namespace json = boost::json;

constexpr std::string_view kNumberPrefix = "origin_number/";
constexpr int64_t kMaxOriginNumber = (int64_t{1} << (53 - kContentIdOriginShift)) - 1;
constexpr uint64_t kMaxSequence = (uint64_t{1} << kContentIdOriginShift) - 1;

}  // namespace

ContentCatalog::ContentCatalog(SignalStore* store, std::string node_id, std::function<int64_t()> now_ms)
    : store_(store), node_id_(std::move(node_id)), now_ms_(std::move(now_ms)) {}

absl::Status ContentCatalog::Load() {
  absl::flat_hash_map<std::string, int64_t> numbers;
  absl::flat_hash_map<int64_t, std::string> origins;
  absl::Status s = store_->ForEachState(kNumberPrefix, [&](std::string_view origin, std::string_view value) -> absl::Status {
    int64_t n = 0;
    if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &n) || n < 1 || n > kMaxOriginNumber) {
      return absl::DataLossError(absl::StrCat("origin number row of ", std::string(origin), " is corrupt"));
    }
    numbers[std::string(origin)] = n;
    origins[n] = std::string(origin);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  std::map<std::pair<std::string, uint64_t>, ContentState> states;
  s = store_->ForEachState(kContentRowPrefix, [&](std::string_view key, std::string_view value) -> absl::Status {
    const size_t slash = key.rfind('/');
    uint64_t seq = 0;
    boost::system::error_code ec;
    json::value v = json::parse(value, ec);
    if (slash == std::string_view::npos || !absl::SimpleAtoi(absl::string_view(key.data() + slash + 1, key.size() - slash - 1), &seq) ||
        ec || !v.is_object()) {
      return absl::DataLossError("a content state row is corrupt");
    }
    ContentState st;
    const json::object& o = v.as_object();
    if (const json::value* d = o.if_contains("disable_until_ts"); d != nullptr && d->is_int64()) st.disable_until_ts = d->as_int64();
    if (const json::value* n = o.if_contains("note"); n != nullptr && n->is_string()) st.note = std::string(n->as_string());
    states[{std::string(key.substr(0, slash)), seq}] = std::move(st);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  numbers_ = std::move(numbers);
  origins_ = std::move(origins);
  states_ = std::move(states);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ContentCatalog::IdOf(const SignalRef& ref) {
  if (ref.sequence == 0 || ref.sequence > kMaxSequence) {
    return absl::OutOfRangeError("a sequence beyond integer content ids (2^40)");
  }
  if (ref.origin == node_id_) return static_cast<int64_t>(ref.sequence);
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = numbers_.find(ref.origin); it != numbers_.end()) {
      return (it->second << kContentIdOriginShift) | static_cast<int64_t>(ref.sequence);
    }
  }
  absl::MutexLock writer(&write_mu_);
  int64_t next = 1;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = numbers_.find(ref.origin); it != numbers_.end()) {
      return (it->second << kContentIdOriginShift) | static_cast<int64_t>(ref.sequence);
    }
    next = static_cast<int64_t>(numbers_.size()) + 1;
  }
  if (next > kMaxOriginNumber) return absl::ResourceExhaustedError("no integer content id left for another origin");
  StoreBatch batch;
  batch.PutState(absl::StrCat(std::string(kNumberPrefix), ref.origin), absl::StrCat(next));
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  numbers_[ref.origin] = next;
  origins_[next] = ref.origin;
  return (next << kContentIdOriginShift) | static_cast<int64_t>(ref.sequence);
}

absl::StatusOr<SignalRef> ContentCatalog::RefOf(int64_t id) const {
  if (id <= 0) return absl::NotFoundError(absl::StrCat("content '", id, "' not found"));
  const int64_t number = id >> kContentIdOriginShift;
  const uint64_t seq = static_cast<uint64_t>(id) & kMaxSequence;
  if (seq == 0) return absl::NotFoundError(absl::StrCat("content '", id, "' not found"));
  if (number == 0) return SignalRef{node_id_, seq};
  absl::ReaderMutexLock lock(&mu_);
  auto it = origins_.find(number);
  if (it == origins_.end()) return absl::NotFoundError(absl::StrCat("content '", id, "' not found"));
  return SignalRef{it->second, seq};
}

ContentState ContentCatalog::Get(const SignalRef& ref) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = states_.find({ref.origin, ref.sequence});
  return it == states_.end() ? ContentState{} : it->second;
}

absl::Status ContentCatalog::Set(const SignalRef& ref, const ContentState& state, const std::string& actor) {
  absl::MutexLock writer(&write_mu_);
  json::object o;
  o["disable_until_ts"] = state.disable_until_ts;
  if (state.note) o["note"] = *state.note;
  StoreBatch batch;
  batch.PutState(ContentRow(ref), json::serialize(o));
  batch.AddAudit(actor, "content.update", FormatSignalId(ref));
  if (absl::Status s = store_->Commit(std::move(batch), now_ms_()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  states_[{ref.origin, ref.sequence}] = state;
  return absl::OkStatus();
}

bool ContentCatalog::Enabled(const SignalRef& ref) const {
  int64_t until = 1;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (states_.empty()) return true;
    auto it = states_.find({ref.origin, ref.sequence});
    if (it == states_.end()) return true;
    until = it->second.disable_until_ts;
  }
  if (until == 1) return true;
  if (until == 0) return false;
  return until <= now_ms_() / 1000;
}

}  // namespace hashbank
