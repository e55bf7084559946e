// The case API (/v1/cases; node/case_desk.h) and the embedded web files (/, /admin, /sdk/...; web/), as
// MemberApi handlers. The case routes take no token from the public page; a submit or admin token may create a
// case even when public submission is off (an NGO's staff entering a case for a victim).
#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "node/api_support.h"
#include "node/case_desk.h"
#include "node/member_api.h"
#include "node/status_macros.h"
#include "storage/signal_store.h"
#include "web/web_assets.h"

namespace hashbank {
namespace json = boost::json;
using api::Bad;

namespace {

// Every page and script: only this node's own files, no inline script or style, WebAssembly allowed (the
// SDK), images and videos only from blob: URLs (the local thumbnails) and this node, no framing, no referrer.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; media-src blob:; style-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

void AddPageHeaders(HttpResponse* r) {
  r->headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("X-Frame-Options", "DENY");
  r->headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r->headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  r->headers.emplace_back("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
}

HttpResponse CaseError(const absl::Status& s) {
  if (absl::IsResourceExhausted(s)) {
    HttpResponse r = api::Error(429, "rate_limited", std::string(s.message()));
    r.retry_after = std::to_string(CaseDesk::RetryAfterSeconds(s));
    return r;
  }
  if (absl::IsUnauthenticated(s)) return api::Error(403, "wrong_case_or_pin", std::string(s.message()));
  return api::FromStatus(s);
}

json::object CaseStatusJson(const CaseStatus& st) {
  json::object o;
  o["created_at_ms"] = st.created_at_ms;
  json::array signals;
  size_t withdrawn = 0;
  int holding = 0;
  for (const CaseSignalStatus& s : st.signals) {
    json::object x;
    x["id"] = FormatSignalId(s.ref);
    x["status"] = s.withdrawn ? "withdrawn" : "active";
    if (s.withdrawn) x["withdrawn_at_ms"] = s.withdrawn_at_ms;
    json::array types;
    for (const std::string& t : s.signal_types) types.emplace_back(t);
    x["signal_types"] = std::move(types);
    x["confirmations"] = s.confirmed;
    x["disputes"] = s.disputed;
    x["members_holding"] = s.members_holding;
    holding = std::max(holding, s.members_holding);
    withdrawn += s.withdrawn ? 1 : 0;
    signals.push_back(std::move(x));
  }
  o["status"] = withdrawn == 0 ? "active" : withdrawn == st.signals.size() ? "withdrawn" : "partly_withdrawn";
  o["members_holding"] = holding;
  o["signals"] = std::move(signals);
  return o;
}

// {"case_number", "pin"} of a status or withdrawal body.
absl::Status CaseCredentials(const json::object& o, std::string* number, std::string* pin) {
  const json::value* n = o.if_contains("case_number");
  const json::value* p = o.if_contains("pin");
  if (n == nullptr || !n->is_string() || n->as_string().size() > 64) return Bad("case_number: expected a string");
  if (p == nullptr || !p->is_string() || p->as_string().size() > 64) return Bad("pin: expected a string");
  *number = std::string(n->as_string());
  *pin = std::string(p->as_string());
  return absl::OkStatus();
}

}  // namespace

void MemberApi::SetCaseDesk(CaseDesk* desk) { cases_ = desk; }

absl::StatusOr<HttpResponse> MemberApi::ServeWeb(const Call& call) {
  const WebAsset* asset = FindWebAsset(call.path);
  if (asset == nullptr) return api::Error(404, "not_found", "no such file");
  HttpResponse r;
  r.content_type = asset->content_type;
  r.body = std::string(asset->bytes());
  AddPageHeaders(&r);
  // The SDK may be imported by a member's own pages on another origin (its worker must be same-origin there:
  // members host the four files themselves; docs/browser-sdk.md).
  if (call.path.starts_with("/sdk/")) {
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    for (auto& h : r.headers) {
      if (h.first == "Cross-Origin-Resource-Policy") h.second = "cross-origin";
    }
  }
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

absl::StatusOr<HttpResponse> MemberApi::CreateCase(const Call& call) {
  if (cases_ == nullptr) return api::Error(503, "unavailable", "cases are not served by this node");
  bool from_public_page = true;
  if (!api::BearerToken(call.request.authorization).empty()) {
    std::optional<Actor> actor = bank_->Authenticate(api::BearerToken(call.request.authorization));
    if (!actor) return api::Error(401, "unauthenticated", "unknown token");
    if (actor->role == Role::kQuery) return api::Error(403, "permission_denied", "the query role cannot create cases");
    from_public_page = false;
  }
  HB_ASSIGN_OR_RETURN(json::object o, api::ParseObject(call.request.body));
  for (const auto& [k, v] : o) {
    if (k != "hashes" && k != "message") return Bad(absl::StrCat("unknown field \"", std::string(k), "\""));
  }
  const json::value* hashes = o.if_contains("hashes");
  if (hashes == nullptr || !hashes->is_array()) return Bad("hashes: expected an array of the SDK's hash() results");
  std::string message;
  if (const json::value* m = o.if_contains("message")) {
    if (!m->is_string()) return Bad("message: expected a string");
    message = std::string(m->as_string());
  }
  std::vector<SignalInput> inputs;
  size_t i = 0;
  for (const json::value& h : hashes->as_array()) {
    const std::string prefix = absl::StrCat("hashes[", i++, "].");
    if (!h.is_object()) return Bad(prefix.substr(0, prefix.size() - 1) + ": expected an object");
    json::object item;
    for (const auto& [k, v] : h.as_object()) {
      // What the SDK's hash() returns besides the fingerprints is dropped: nothing of it is banked.
      if (k == "path" || k == "width" || k == "height" || k == "format" || k == "dihedral" || k == "type" ||
          k == "codec" || k == "frame_rate" || k == "seconds_per_frame") {
        continue;
      }
      if (k != "pdq" && k != "quality" && k != "md5" && k != "sha256" && k != "robust" && k != "vpdq" &&
          k != "duration") {
        return Bad(absl::StrCat(prefix, std::string(k), ": not a fingerprint a case takes"));
      }
      item[k] = v;
    }
    HB_ASSIGN_OR_RETURN(SignalInput in, api::ParseSignal(item, prefix));
    inputs.push_back(std::move(in));
  }
  absl::StatusOr<CreatedCase> created =
      cases_->Create(std::move(inputs), message, from_public_page, call.request.remote_address);
  if (!created.ok()) return CaseError(created.status());
  json::object out;
  out["case_number"] = created->case_number;
  out["pin"] = created->pin;
  json::array ids;
  for (const SignalRef& r : created->signals) ids.emplace_back(FormatSignalId(r));
  out["signals"] = std::move(ids);
  return api::Json(201, out);
}

absl::StatusOr<HttpResponse> MemberApi::CaseStatusRoute(const Call& call) {
  if (cases_ == nullptr) return api::Error(503, "unavailable", "cases are not served by this node");
  HB_ASSIGN_OR_RETURN(json::object o, api::ParseObject(call.request.body));
  std::string number, pin;
  HB_RETURN_IF_ERROR(CaseCredentials(o, &number, &pin));
  absl::StatusOr<CaseStatus> st = cases_->Status(number, pin, call.request.remote_address);
  if (!st.ok()) return CaseError(st.status());
  return api::Json(200, CaseStatusJson(*st));
}

// ?limit=N (1..1000, default 100) of a listing.
static absl::StatusOr<size_t> ListLimit(std::string_view target) {
  size_t limit = 100;
  if (const std::string l = api::QueryParam(target, "limit"); !l.empty()) {
    if (!api::ParseWhole(l, &limit) || limit == 0 || limit > 1000) return Bad("limit: 1 to 1000");
  }
  return limit;
}

absl::StatusOr<HttpResponse> MemberApi::ListCases(const Call& call) {
  if (cases_ == nullptr) return api::Error(503, "unavailable", "cases are not served by this node");
  HB_ASSIGN_OR_RETURN(const size_t limit, ListLimit(call.request.target));
  HB_ASSIGN_OR_RETURN(std::vector<CaseDesk::Listed> listed, cases_->List(limit));
  json::array out;
  for (const CaseDesk::Listed& c : listed) {
    json::array ids;
    size_t withdrawn = 0;
    for (const SignalRef& r : c.signals) {
      ids.emplace_back(FormatSignalId(r));
      if (absl::StatusOr<SignalInfo> info = bank_->Get(r); info.ok() && info->withdrawn) ++withdrawn;
    }
    out.push_back(json::object{{"created_at_ms", c.created_at_ms}, {"signals", std::move(ids)},
                               {"withdrawn", withdrawn}, {"message", c.message}});
  }
  return api::Json(200, json::object{{"cases", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::ListDisputes(const Call& call) {
  HB_ASSIGN_OR_RETURN(const size_t limit, ListLimit(call.request.target));
  HB_ASSIGN_OR_RETURN(std::vector<Notifications::DisputeRow> rows, bank_->notifications()->RecentDisputes(limit));
  json::array out;
  for (const Notifications::DisputeRow& d : rows) {
    out.push_back(json::object{{"signal_id", d.signal_id}, {"disputed_by", d.disputed_by},
                               {"opinion_id", d.opinion_id}, {"seen_at_ms", d.seen_at_ms}});
  }
  return api::Json(200, json::object{{"disputes", std::move(out)}});
}

absl::StatusOr<HttpResponse> MemberApi::CaseWithdraw(const Call& call) {
  if (cases_ == nullptr) return api::Error(503, "unavailable", "cases are not served by this node");
  HB_ASSIGN_OR_RETURN(json::object o, api::ParseObject(call.request.body));
  std::string number, pin;
  HB_RETURN_IF_ERROR(CaseCredentials(o, &number, &pin));
  std::optional<SignalRef> signal;
  if (const json::value* s = o.if_contains("signal")) {
    if (!s->is_string()) return Bad("signal: expected a signal id of the case");
    absl::StatusOr<SignalRef> ref = ParseSignalId(std::string(s->as_string()));
    if (!ref.ok()) return Bad("signal: expected a signal id of the case");
    signal = *ref;
  }
  absl::StatusOr<CaseStatus> st = cases_->Withdraw(number, pin, signal, call.request.remote_address);
  if (!st.ok()) return CaseError(st.status());
  return api::Json(200, CaseStatusJson(*st));
}

}  // namespace hashbank
