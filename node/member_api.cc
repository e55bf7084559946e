#include "node/member_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "hashing/image_hasher.h"

namespace hashbank {
namespace {

namespace json = boost::json;

HttpResponse Json(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorBody(code, message);
  return r;
}

// Maps a Status from the bank to the API's status and code.
HttpResponse FromStatus(const absl::Status& s) {
  const std::string m(s.message());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return Error(400, "invalid_argument", m);
    case absl::StatusCode::kNotFound: return Error(404, "not_found", m);
    case absl::StatusCode::kAlreadyExists: return Error(409, "conflict", m);
    case absl::StatusCode::kFailedPrecondition: return Error(422, "failed_precondition", m);
    case absl::StatusCode::kPermissionDenied: return Error(403, "permission_denied", m);
    case absl::StatusCode::kResourceExhausted: return Error(413, "too_large", m);
    case absl::StatusCode::kUnimplemented: return Error(415, "unsupported_media_type", m);
    case absl::StatusCode::kUnavailable: return Error(503, "unavailable", "storage unavailable");
    default: return Error(500, "internal", "internal error");  // details stay out of responses
  }
}

// Parse errors and early answers unwind to Handle, which turns them into responses; nothing escapes it.
struct BadRequest {
  std::string message;
};
struct EarlyResponse {
  HttpResponse response;
};

// Strict JSON reading: every field is typed, unknown fields are errors.
class Reader {
 public:
  explicit Reader(const json::object& o, std::string prefix = "") : o_(o), prefix_(std::move(prefix)) {}

  void AllowOnly(std::initializer_list<std::string_view> names) const {
    for (const auto& kv : o_) {
      if (std::find(names.begin(), names.end(), std::string_view(kv.key())) == names.end()) {
        throw BadRequest{absl::StrCat("unknown field \"", prefix_, std::string(kv.key()), "\"")};
      }
    }
  }
  const json::value* Find(std::string_view name) const { return o_.if_contains(name); }
  std::string Name(std::string_view n) const { return prefix_ + std::string(n); }
  std::optional<std::string> String(std::string_view name, size_t max_len = 4096) const {
    const json::value* v = Find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_string()) throw BadRequest{Name(name) + ": expected a string"};
    if (v->as_string().size() > max_len) throw BadRequest{absl::StrCat(Name(name), ": longer than ", max_len)};
    return std::string(v->as_string());
  }
  std::optional<int64_t> Int(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= INT64_MAX) return static_cast<int64_t>(v->as_uint64());
    throw BadRequest{Name(name) + ": expected an integer"};
  }
  std::optional<double> Number(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    throw BadRequest{Name(name) + ": expected a number"};
  }
  std::optional<bool> Bool(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_bool()) throw BadRequest{Name(name) + ": expected true or false"};
    return v->as_bool();
  }

 private:
  const json::object& o_;
  std::string prefix_;
};

json::object ParseObject(std::string_view body) {
  json::parse_options opts;
  opts.max_depth = 16;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) throw BadRequest{"malformed JSON: " + ec.message()};
  if (!v.is_object()) throw BadRequest{"the body must be a JSON object"};
  return std::move(v.as_object());
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <size_t N>
std::array<uint8_t, N> ParseDigest(const std::string& hex, std::string_view field) {
  if (hex.size() != 2 * N) throw BadRequest{absl::StrCat(std::string(field), ": expected ", 2 * N, " hex digits, got ", hex.size())};
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw BadRequest{absl::StrCat(std::string(field), ": non-hex character at position ", hi < 0 ? 2 * i : 2 * i + 1)};
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

Hash256 ParsePdq(const json::value& v, std::string_view field) {
  if (!v.is_string()) throw BadRequest{std::string(field) + ": expected a 64-hex string"};
  auto h = Hash256::FromHex(std::string(v.as_string()));
  if (!h.ok()) throw BadRequest{absl::StrCat(std::string(field), ": ", std::string(h.status().message()))};
  return *h;
}

EmbeddingInput ParseEmbedding(const json::value& v) {
  if (!v.is_object()) throw BadRequest{"embedding: expected an object with model_id and vector"};
  Reader r(v.as_object(), "embedding.");
  r.AllowOnly({"model_id", "vector"});
  EmbeddingInput e;
  auto model = r.String("model_id", 64);
  if (!model) throw BadRequest{"embedding.model_id: required"};
  e.model_id = *model;
  const json::value* vec = r.Find("vector");
  if (vec == nullptr || !vec->is_array()) throw BadRequest{"embedding.vector: expected an array of numbers"};
  if (vec->as_array().empty() || vec->as_array().size() > 4096) throw BadRequest{"embedding.vector: 1 to 4096 numbers"};
  for (const json::value& x : vec->as_array()) {
    double d;
    if (x.is_double()) d = x.as_double();
    else if (x.is_int64()) d = static_cast<double>(x.as_int64());
    else if (x.is_uint64()) d = static_cast<double>(x.as_uint64());
    else throw BadRequest{"embedding.vector: expected numbers"};
    if (!std::isfinite(d) || std::fabs(d) > 3.0e38) throw BadRequest{"embedding.vector: numbers must be finite floats"};
    e.vector.push_back(static_cast<float>(d));
  }
  return e;
}

SignalInput ParseSignal(const json::object& o, std::string prefix) {
  Reader r(o, prefix);
  r.AllowOnly({"pdq", "quality", "md5", "sha256", "embedding", "labels", "case_ref"});
  SignalInput in;
  if (const json::value* v = r.Find("pdq"); v != nullptr && !v->is_null()) in.pdq = ParsePdq(*v, r.Name("pdq"));
  if (auto q = r.Int("quality")) {
    if (*q < 0 || *q > 100) throw BadRequest{r.Name("quality") + ": must be 0-100"};
    in.quality = static_cast<int>(*q);
  }
  if (auto m = r.String("md5", 64)) in.md5 = ParseDigest<16>(*m, r.Name("md5"));
  if (auto s = r.String("sha256", 128)) in.sha256 = ParseDigest<32>(*s, r.Name("sha256"));
  if (const json::value* e = r.Find("embedding"); e != nullptr && !e->is_null()) in.embedding = ParseEmbedding(*e);
  if (const json::value* l = r.Find("labels"); l != nullptr && !l->is_null()) {
    if (!l->is_array()) throw BadRequest{r.Name("labels") + ": expected an array of strings"};
    for (const json::value& x : l->as_array()) {
      if (!x.is_string()) throw BadRequest{r.Name("labels") + ": expected an array of strings"};
      in.labels.emplace_back(x.as_string());
    }
  }
  if (auto c = r.String("case_ref", 256)) in.case_ref = *c;
  return in;
}

json::object MatchJson(const Match& m, bool with_query) {
  json::object o;
  o["id"] = FormatSignalId(m.ref);
  o["origin"] = m.ref.origin;
  o["signal_type"] = m.signal_type;
  if (m.signal_type == "embedding") {
    o["similarity"] = m.similarity;
  } else {
    o["distance"] = m.distance;
  }
  json::array labels;
  for (const auto& l : m.labels) labels.emplace_back(l);
  o["labels"] = std::move(labels);
  if (m.transform) o["transform"] = std::string(DihedralName(*m.transform));
  if (with_query && m.signal_type == "pdq") o["query"] = m.query_index;
  return o;
}

json::object HashesJson(const ImageHashes& h) {
  json::object o;
  o["pdq"] = h.pdq.ToHex();
  o["quality"] = h.quality;
  o["md5"] = BytesToHex(h.exact.md5.data(), h.exact.md5.size());
  o["sha256"] = BytesToHex(h.exact.sha256.data(), h.exact.sha256.size());
  o["width"] = h.width;
  o["height"] = h.height;
  o["format"] = std::string(ImageFormatName(h.format));
  if (h.dihedral) {
    json::object d;
    for (int i = 0; i < kNumDihedral; ++i) d[DihedralName(static_cast<Dihedral>(i))] = (*h.dihedral)[static_cast<size_t>(i)].ToHex();
    o["dihedral"] = std::move(d);
  }
  return o;
}

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The token of an "Authorization: Bearer <token>" header (the scheme is case-insensitive), or "".
std::string_view BearerToken(std::string_view authorization) {
  if (authorization.size() < 7) return {};
  const std::string_view scheme = authorization.substr(0, 7);
  static constexpr std::string_view kBearer = "bearer ";
  for (size_t i = 0; i < 7; ++i) {
    if (std::tolower(static_cast<unsigned char>(scheme[i])) != kBearer[i]) return {};
  }
  return authorization.substr(7);
}

// Value of `name` in the query string, or "".
std::string QueryParam(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

// The whole string is a decimal number that fits.
template <typename T>
bool ParseWhole(const std::string& text, T* value) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// "application/json", any case, optionally with parameters ("; charset=utf-8"). A missing header is
// accepted: the body is parsed strictly anyway.
bool IsJson(std::string_view content_type) {
  if (content_type.empty()) return true;
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  std::string lower;
  for (char c : type) {
    if (c != ' ' && c != '\t') lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return lower == "application/json";
}

}  // namespace

std::string ErrorBody(std::string_view code, std::string_view message) {
  json::object inner;
  inner["code"] = code;
  inner["message"] = message;
  json::object o;
  o["error"] = std::move(inner);
  return json::serialize(o);
}

bool IsImageRoute(std::string_view method, std::string_view target) {
  const std::string_view path = PathOf(target);
  return method == "POST" && (path == "/v1/match/image" || path == "/v1/hash");
}

MemberApi::MemberApi(Bank* bank, ApiLimits limits, Metrics* metrics)
    : bank_(bank), limits_(limits), metrics_(metrics) {}

std::optional<HttpResponse> MemberApi::Precheck(std::string_view method, std::string_view target,
                                               std::string_view authorization) {
  const std::string_view path = PathOf(target);
  if (method == "GET" && path == "/v1/health") return std::nullopt;
  if (BearerToken(authorization).empty()) {
    HttpResponse r = Error(401, "unauthenticated", "an Authorization: Bearer <token> header is required");
    metrics_->Record(Route::kOther, r.status, 0);
    return r;
  }
  if (!bank_->Authenticate(BearerToken(authorization))) {
    HttpResponse r = Error(401, "unauthenticated", "unknown token");
    metrics_->Record(Route::kOther, r.status, 0);
    return r;
  }
  return std::nullopt;
}

void MemberApi::SetFederationHooks(
    std::function<std::string()> status,
    std::function<void(const std::function<void(std::string_view, std::string_view, double)>&)> gauges) {
  federation_status_ = std::move(status);
  federation_gauges_ = std::move(gauges);
}

bool MemberApi::Allow(const std::string& token_name) {
  if (limits_.requests_per_second_per_token <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(rate_mu_);
  auto [it, inserted] = buckets_.try_emplace(token_name, Bucket{limits_.burst_per_token, now});
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(limits_.burst_per_token, b.tokens + elapsed * limits_.requests_per_second_per_token);
  b.last = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

HttpResponse MemberApi::Handle(const HttpRequest& req) {
  const auto start = std::chrono::steady_clock::now();
  Route route = Route::kOther;
  HttpResponse resp;
  const std::string_view path = PathOf(req.target);
  const std::string& m = req.method;
  try {
    // Routing.
    std::string signal_id;
    bool opinions = false;
    if (path == "/v1/health") route = Route::kHealth;
    else if (path == "/metrics") route = Route::kMetrics;
    else if (path == "/v1/signals") route = Route::kSubmit;
    else if (path == "/v1/signals:batch") route = Route::kSubmitBatch;
    else if (path == "/v1/match") route = Route::kMatch;
    else if (path == "/v1/match/image") route = Route::kMatchImage;
    else if (path == "/v1/hash") route = Route::kHash;
    else if (path == "/v1/tokens") route = Route::kTokens;
    else if (path == "/v1/audit") route = Route::kAudit;
    else if (path == "/v1/backup") route = Route::kBackup;
    else if (path == "/v1/models") route = Route::kModels;
    else if (path == "/v1/federation/status" || path == "/v1/federation/suspend" || path == "/v1/federation/unsuspend") {
      route = Route::kFederation;
    }
    else if (path.substr(0, 12) == "/v1/signals/") {
      std::string_view rest = path.substr(12);
      if (rest.size() > 9 && rest.substr(rest.size() - 9) == "/opinions") {
        opinions = true;
        rest.remove_suffix(9);
      }
      signal_id = std::string(rest);
      route = opinions ? Route::kOpinion : (m == "DELETE" ? Route::kWithdraw : Route::kGetSignal);
    }
    const std::map<Route, std::pair<const char*, std::vector<Role>>> rules = {
        {Route::kHealth, {"GET", {}}},
        {Route::kMetrics, {"GET", {Role::kAdmin}}},
        {Route::kSubmit, {"POST", {Role::kSubmit, Role::kAdmin}}},
        {Route::kSubmitBatch, {"POST", {Role::kSubmit, Role::kAdmin}}},
        {Route::kGetSignal, {"GET", {Role::kQuery, Role::kSubmit, Role::kAdmin}}},
        {Route::kWithdraw, {"DELETE", {Role::kSubmit, Role::kAdmin}}},
        {Route::kOpinion, {"POST", {Role::kSubmit, Role::kQuery, Role::kAdmin}}},
        {Route::kMatch, {"POST", {Role::kQuery, Role::kAdmin}}},
        {Route::kMatchImage, {"POST", {Role::kQuery, Role::kAdmin}}},
        {Route::kHash, {"POST", {Role::kQuery, Role::kSubmit, Role::kAdmin}}},
        {Route::kTokens, {"POST", {Role::kAdmin}}},
        {Route::kAudit, {"GET", {Role::kAdmin}}},
        {Route::kBackup, {"POST", {Role::kAdmin}}},
        {Route::kModels, {"POST", {Role::kSubmit, Role::kAdmin}}},
        {Route::kFederation, {path == "/v1/federation/status" ? "GET" : "POST", {Role::kAdmin}}},
    };
    auto rule = rules.find(route);
    if (rule == rules.end()) {
      resp = Error(404, "not_found", "no such endpoint");
    } else if ((route == Route::kGetSignal || route == Route::kWithdraw) && m != "GET" && m != "DELETE") {
      resp = Error(405, "method_not_allowed", "use GET or DELETE");
    } else if (m != rule->second.first) {
      resp = Error(405, "method_not_allowed", absl::StrCat("use ", rule->second.first));
    } else {
      std::optional<Actor> actor;
      if (!rule->second.second.empty()) {
        if (BearerToken(req.authorization).empty()) {
          resp = Error(401, "unauthenticated", "an Authorization: Bearer <token> header is required");
        } else if (!(actor = bank_->Authenticate(BearerToken(req.authorization)))) {
          resp = Error(401, "unauthenticated", "unknown token");
        } else if (std::find(rule->second.second.begin(), rule->second.second.end(), actor->role) ==
                   rule->second.second.end()) {
          resp = Error(403, "permission_denied",
                       absl::StrCat("the ", std::string(RoleName(actor->role)), " role cannot use this endpoint"));
        } else if (!Allow(actor->name)) {
          resp = Error(429, "rate_limited", "too many requests for this token");
          resp.retry_after = "1";
        }
      }
      if (resp.status == 200 && resp.body.empty()) {
        const bool image_route = route == Route::kMatchImage || route == Route::kHash;
        const bool needs_json = !image_route && m == "POST";
        if (needs_json && !IsJson(req.content_type)) {
          resp = Error(415, "unsupported_media_type", "send Content-Type: application/json");
        } else {
          switch (route) {
            case Route::kHealth: {
              json::object o;
              o["status"] = "ok";
              o["node_id"] = bank_->node_id();
              resp = Json(200, o);
              break;
            }
            case Route::kMetrics: {
              const BankStats st = bank_->Stats();
              resp.content_type = "text/plain; version=0.0.4";
              resp.body = metrics_->Render([&](const auto& gauge) {
                gauge("hashbank_signals", "Signals known to the index (all origins).", static_cast<double>(st.signals));
                gauge("hashbank_pdq_index_entries", "Entries in the PDQ index.", static_cast<double>(st.pdq));
                gauge("hashbank_pdq_index_bytes", "Memory of the PDQ index.", static_cast<double>(st.pdq_index_bytes));
                gauge("hashbank_exact_index_entries", "Entries in the MD5 and SHA-256 indexes.", static_cast<double>(st.exact));
                gauge("hashbank_index_rebuild_seconds", "Time the indexes took to rebuild at start.", st.rebuild_seconds);
                if (federation_gauges_) federation_gauges_(gauge);
              });
              break;
            }
            case Route::kSubmit: {
              const json::object o = ParseObject(req.body);
              auto ref = bank_->Submit(ParseSignal(o, ""), *actor);
              if (!ref.ok()) {
                resp = FromStatus(ref.status());
              } else {
                json::object out;
                out["id"] = FormatSignalId(*ref);
                resp = Json(201, out);
              }
              break;
            }
            case Route::kSubmitBatch: {
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"signals"});
              const json::value* items = r.Find("signals");
              if (items == nullptr || !items->is_array()) throw BadRequest{"signals: expected an array"};
              if (items->as_array().empty() || items->as_array().size() > limits_.max_batch_items) {
                throw BadRequest{absl::StrCat("signals: 1 to ", limits_.max_batch_items, " items")};
              }
              std::vector<SignalInput> inputs;
              std::vector<std::optional<std::string>> parse_errors;
              for (size_t i = 0; i < items->as_array().size(); ++i) {
                const json::value& item = items->as_array()[i];
                try {
                  if (!item.is_object()) throw BadRequest{absl::StrCat("signals[", i, "]: expected an object")};
                  inputs.push_back(ParseSignal(item.as_object(), absl::StrCat("signals[", i, "].")));
                  parse_errors.push_back(std::nullopt);
                } catch (const BadRequest& e) {
                  parse_errors.push_back(e.message);
                }
              }
              auto results = bank_->SubmitBatch(inputs, *actor);
              json::array out;
              size_t k = 0;
              for (const auto& pe : parse_errors) {
                json::object item;
                if (pe) {
                  item["status"] = 400;
                  item["error"] = json::parse(ErrorBody("invalid_argument", *pe)).as_object()["error"];
                } else {
                  const auto& res = results[k++];
                  if (res.ok()) {
                    item["status"] = 201;
                    item["id"] = FormatSignalId(*res);
                  } else {
                    const HttpResponse e = FromStatus(res.status());
                    item["status"] = e.status;
                    item["error"] = json::parse(e.body).as_object()["error"];
                  }
                }
                out.push_back(std::move(item));
              }
              json::object body;
              body["results"] = std::move(out);
              resp = Json(200, body);
              break;
            }
            case Route::kGetSignal:
            case Route::kWithdraw:
            case Route::kOpinion: {
              auto ref = ParseSignalId(signal_id);
              if (!ref.ok()) throw BadRequest{std::string(ref.status().message())};
              if (route == Route::kGetSignal) {
                auto info = bank_->Get(*ref);
                if (!info.ok()) {
                  resp = FromStatus(info.status());
                  break;
                }
                json::object o;
                o["id"] = FormatSignalId(info->ref);
                o["origin"] = info->ref.origin;
                o["created_at_ms"] = info->created_at_ms;
                json::array types, labels;
                for (const auto& t : info->signal_types) types.emplace_back(t);
                for (const auto& l : info->labels) labels.emplace_back(l);
                o["signal_types"] = std::move(types);
                o["labels"] = std::move(labels);
                o["submitted_by"] = info->submitted_by;
                o["withdrawn"] = info->withdrawn;
                if (info->withdrawn) o["withdrawn_at_ms"] = info->withdrawn_at_ms;
                o["opinions"] = json::object{{"confirmed", info->confirmed}, {"disputed", info->disputed}};
                resp = Json(200, o);
              } else if (route == Route::kWithdraw) {
                absl::Status s = bank_->Withdraw(*ref, *actor, "consent_withdrawn");
                if (!s.ok()) {
                  resp = FromStatus(s);
                } else {
                  resp = Json(200, json::object{{"id", FormatSignalId(*ref)}, {"withdrawn", true}});
                }
              } else {
                const json::object o = ParseObject(req.body);
                Reader r(o);
                r.AllowOnly({"verdict"});
                auto verdict = r.String("verdict", 32);
                if (!verdict || (*verdict != "confirmed" && *verdict != "disputed")) {
                  throw BadRequest{"verdict: \"confirmed\" or \"disputed\""};
                }
                auto oref = bank_->AddOpinion(*ref, *verdict == "confirmed", *actor);
                if (!oref.ok()) {
                  resp = FromStatus(oref.status());
                } else {
                  resp = Json(201, json::object{{"id", FormatSignalId(*oref)}});
                }
              }
              break;
            }
            case Route::kMatch: {
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"pdq", "dihedral", "max_distance", "md5", "sha256", "embedding", "min_similarity", "limit"});
              const int64_t requested_distance = r.Int("max_distance").value_or(limits_.pdq_default_max_distance);
              if (requested_distance < 0 || requested_distance > limits_.pdq_max_distance_limit) {
                throw BadRequest{absl::StrCat("max_distance: 0 to ", limits_.pdq_max_distance_limit, " on this node")};
              }
              const int max_distance = static_cast<int>(requested_distance);
              const bool dihedral = r.Bool("dihedral").value_or(false);
              std::vector<Match> matches;
              bool list = false;
              int kinds = 0;
              if (const json::value* p = r.Find("pdq"); p != nullptr && !p->is_null()) {
                ++kinds;
                std::vector<Hash256> hashes;
                if (p->is_array()) {
                  list = true;
                  if (p->as_array().empty() || p->as_array().size() > limits_.max_batch_items) {
                    throw BadRequest{absl::StrCat("pdq: 1 to ", limits_.max_batch_items, " hashes")};
                  }
                  for (size_t i = 0; i < p->as_array().size(); ++i) hashes.push_back(ParsePdq(p->as_array()[i], absl::StrCat("pdq[", i, "]")));
                } else {
                  hashes.push_back(ParsePdq(*p, "pdq"));
                }
                if (dihedral) {
                  if (hashes.size() != kNumDihedral) {
                    throw BadRequest{"dihedral: send the image's 8 dihedral hashes as pdq, in the order orig, rot90, rot180, rot270, flipx, flipy, flipp, flipm (POST /v1/match/image computes them)"};
                  }
                  std::array<Hash256, kNumDihedral> set;
                  std::copy(hashes.begin(), hashes.end(), set.begin());
                  auto got = bank_->MatchDihedralSet(set, max_distance);
                  if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                  matches = std::move(*got);
                  list = false;
                } else {
                  auto got = bank_->MatchPdq(hashes, max_distance);
                  if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                  matches = std::move(*got);
                }
              } else if (dihedral) {
                throw BadRequest{"dihedral: only with pdq"};
              }
              if (auto md5 = r.String("md5", 64)) {
                ++kinds;
                auto got = bank_->MatchMd5(ParseDigest<16>(*md5, "md5"));
                if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                matches.insert(matches.end(), got->begin(), got->end());
              }
              if (auto sha = r.String("sha256", 128)) {
                ++kinds;
                auto got = bank_->MatchSha256(ParseDigest<32>(*sha, "sha256"));
                if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                matches.insert(matches.end(), got->begin(), got->end());
              }
              if (const json::value* e = r.Find("embedding"); e != nullptr && !e->is_null()) {
                ++kinds;
                const double min_sim = r.Number("min_similarity").value_or(0.9);
                if (!(min_sim >= -1.0 && min_sim <= 1.0)) throw BadRequest{"min_similarity: -1 to 1"};
                const int64_t limit = r.Int("limit").value_or(100);
                if (limit < 1 || limit > 10000) throw BadRequest{"limit: 1 to 10000"};
                auto got = bank_->MatchEmbedding(ParseEmbedding(*e), static_cast<float>(min_sim), static_cast<size_t>(limit));
                if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                matches.insert(matches.end(), got->begin(), got->end());
              }
              if (kinds == 0) throw BadRequest{"give at least one of pdq, md5, sha256, embedding"};
              json::array out;
              for (const Match& x : matches) out.push_back(MatchJson(x, list));
              resp = Json(200, json::object{{"matches", std::move(out)}});
              break;
            }
            case Route::kMatchImage:
            case Route::kHash: {
              if (req.body.empty()) throw BadRequest{"send the image file as the request body"};
              int max_distance = limits_.pdq_default_max_distance;
              if (const std::string md = QueryParam(req.target, "max_distance"); !md.empty()) {
                if (!ParseWhole(md, &max_distance) || max_distance < 0 || max_distance > limits_.pdq_max_distance_limit) {
                  throw BadRequest{absl::StrCat("max_distance: 0 to ", limits_.pdq_max_distance_limit, " on this node")};
                }
              }
              thread_local std::unique_ptr<ImageHasher> hasher;
              if (!hasher || hasher->limits().max_pixels != limits_.image.max_pixels ||
                  hasher->limits().max_file_bytes != limits_.image.max_file_bytes) {
                hasher = std::make_unique<ImageHasher>(limits_.image);
              }
              const bool dihedral = route == Route::kMatchImage || QueryParam(req.target, "dihedral") == "true";
              auto h = hasher->HashBytes({reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()}, dihedral);
              if (!h.ok()) {
                resp = FromStatus(h.status());
                if (h.status().code() == absl::StatusCode::kInvalidArgument) resp.status = 400;
                break;
              }
              json::object out;
              out["hashes"] = HashesJson(*h);
              if (route == Route::kMatchImage) {
                std::vector<Match> matches;
                // A PDQ hash below the quality floor (flat or tiny images) matches unrelated images.
                if (h->quality >= limits_.pdq_quality_floor) {
                  auto got = bank_->MatchDihedralSet(*h->dihedral, max_distance);
                  if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                  matches = std::move(*got);
                }
                auto md5 = bank_->MatchMd5(h->exact.md5);
                if (!md5.ok()) throw EarlyResponse{FromStatus(md5.status())};
                matches.insert(matches.end(), md5->begin(), md5->end());
                auto got = bank_->MatchSha256(h->exact.sha256);
                if (!got.ok()) throw EarlyResponse{FromStatus(got.status())};
                matches.insert(matches.end(), got->begin(), got->end());
                json::array arr;
                for (const Match& x : matches) arr.push_back(MatchJson(x, false));
                out["matches"] = std::move(arr);
              }
              resp = Json(200, out);
              break;
            }
            case Route::kTokens: {
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"role", "name"});
              auto role_name = r.String("role", 16);
              auto name = r.String("name", 64);
              if (!role_name || !ParseRole(*role_name)) throw BadRequest{"role: \"submit\", \"query\" or \"admin\""};
              if (!name) throw BadRequest{"name: required"};
              auto token = bank_->CreateToken(*ParseRole(*role_name), *name, *actor);
              if (!token.ok()) {
                resp = FromStatus(token.status());
              } else {
                resp = Json(201, json::object{{"token", *token}, {"name", *name}, {"role", *role_name}});
              }
              break;
            }
            case Route::kAudit: {
              uint64_t after = 0, limit = 100;
              const std::string a = QueryParam(req.target, "after"), l = QueryParam(req.target, "limit");
              if (!a.empty() && !ParseWhole(a, &after)) throw BadRequest{"after: a decimal number"};
              if (!l.empty() && (!ParseWhole(l, &limit) || limit == 0 || limit > 1000)) throw BadRequest{"limit: 1 to 1000"};
              auto records = bank_->Audit(after, limit);
              if (!records.ok()) {
                resp = FromStatus(records.status());
                break;
              }
              json::array arr;
              for (const AuditRecord& rec : *records) {
                arr.push_back(json::object{{"seq", rec.sequence}, {"time_ms", rec.time_ms}, {"actor", rec.actor},
                                           {"action", rec.action}, {"target", rec.target}, {"prev", rec.prev_hash_hex},
                                           {"hash", rec.hash_hex}});
              }
              resp = Json(200, json::object{{"records", std::move(arr)}});
              break;
            }
            case Route::kFederation: {
              if (path == "/v1/federation/status") {
                if (!federation_status_) {
                  resp = Error(404, "not_found", "federation is not configured on this node");
                } else {
                  resp.body = federation_status_();
                }
                break;
              }
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"origin", "exclude_from_matching"});
              auto origin = r.String("origin", 64);
              if (!origin || origin->empty()) throw BadRequest{"origin: required"};
              absl::Status s = path == "/v1/federation/suspend"
                                   ? bank_->Suspend(*origin, r.Bool("exclude_from_matching").value_or(false), *actor)
                                   : bank_->Unsuspend(*origin, *actor);
              if (!s.ok()) {
                resp = FromStatus(s);
              } else {
                resp = Json(200, json::object{{"origin", *origin}, {"suspended", path == "/v1/federation/suspend"}});
              }
              break;
            }
            case Route::kModels: {
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"model_id", "name", "version", "dimension", "input_width", "input_height", "colour_order",
                           "mean", "std", "metric", "threshold"});
              ModelInput model;
              model.model_id = r.String("model_id", 64).value_or("");
              model.name = r.String("name", 128).value_or("");
              model.version = r.String("version", 64).value_or("");
              const int64_t dim = r.Int("dimension").value_or(0);
              if (dim < 1 || dim > 4096) throw BadRequest{"dimension: 1 to 4096"};
              model.dimension = static_cast<uint32_t>(dim);
              model.input_width = static_cast<uint32_t>(std::clamp<int64_t>(r.Int("input_width").value_or(0), 0, 65535));
              model.input_height = static_cast<uint32_t>(std::clamp<int64_t>(r.Int("input_height").value_or(0), 0, 65535));
              model.colour_order = r.String("colour_order", 8).value_or("RGB");
              if (model.colour_order != "RGB" && model.colour_order != "BGR") throw BadRequest{"colour_order: RGB or BGR"};
              for (const char* field : {"mean", "std"}) {
                if (const json::value* v = r.Find(field); v != nullptr && !v->is_null()) {
                  if (!v->is_array() || v->as_array().size() > 4) throw BadRequest{std::string(field) + ": up to 4 numbers"};
                  for (const json::value& x : v->as_array()) {
                    if (!x.is_number()) throw BadRequest{std::string(field) + ": numbers"};
                    (std::string(field) == "mean" ? model.mean : model.std).push_back(static_cast<float>(x.to_number<double>()));
                  }
                }
              }
              model.metric = r.String("metric", 16).value_or("cosine");
              if (model.metric != "cosine") throw BadRequest{"metric: only \"cosine\""};
              model.threshold = static_cast<float>(r.Number("threshold").value_or(0.9));
              auto ref = bank_->PublishModel(model, *actor);
              if (!ref.ok()) {
                resp = FromStatus(ref.status());
              } else {
                resp = Json(201, json::object{{"id", FormatSignalId(*ref)}, {"model_id", model.model_id}});
              }
              break;
            }
            case Route::kBackup: {
              const json::object o = ParseObject(req.body);
              Reader r(o);
              r.AllowOnly({"dir"});
              auto dir = r.String("dir", 4096);
              if (!dir || dir->empty()) throw BadRequest{"dir: a directory on the node's host that does not exist yet"};
              absl::Status s = bank_->Backup(*dir);
              if (!s.ok()) {
                // Admin-only: the storage message (a missing parent directory, an existing target) is the answer.
                resp = Error(absl::IsInvalidArgument(s) || absl::IsUnavailable(s) ? 400 : 500, "backup_failed",
                             std::string(s.message()));
              } else {
                resp = Json(201, json::object{{"dir", *dir}});
              }
              break;
            }
            default:
              resp = Error(404, "not_found", "no such endpoint");
          }
        }
      }
    }
  } catch (const BadRequest& e) {
    resp = Error(400, "invalid_argument", e.message);
  } catch (const EarlyResponse& e) {
    resp = e.response;
  } catch (const std::exception&) {
    resp = Error(500, "internal", "internal error");
  }
  metrics_->Record(route, resp.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return resp;
}

}  // namespace hashbank
