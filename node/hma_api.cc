// HMA 1.1's API on a hashbank node: MemberApi's handlers for HMA's paths (routes in member_api.cc). Each
// answers with HMA's JSON shapes, status codes and messages (read from facebook/ThreatExchange's
// hasher-matcher-actioner at 1.1.7); what differs, and why, is in docs/hma-compatibility.md.
//
// Mapping: an HMA bank is a hashbank bank (BankCatalog); an HMA bank content is a signal (its integer id:
// ContentCatalog); HMA's `pdq` is PDQ, `video_md5` the MD5 of a video file (hashbank's md5). Banked values are
// stored salted and never returned.
#include <algorithm>
#include <cctype>
#include <ctime>

#include <boost/json.hpp>

#include "base/utf8.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hashing/video_decoder.h"
#include "node/api_support.h"
#include "node/hma_json.h"
#include "node/member_api.h"
#include "node/multipart.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

using namespace ::hashbank::api;  // NOLINT(google-build-using-namespace): the API's own helpers

constexpr std::string_view kPdq = "pdq";
constexpr std::string_view kVideoMd5 = "video_md5";
constexpr size_t kMaxHmaNote = 255;  // HMA's limit on a content note, in characters (Python's len)


// HMA's note rule, by characters; a note that is not UTF-8 text is refused too (HMA's form decoding would
// replace its bytes).
std::optional<HttpResponse> CheckHmaNote(std::string_view note) {
  const std::optional<size_t> chars = Utf8Characters(note);
  if (!chars) return HmaError(400, "note must be UTF-8 text");
  if (*chars > kMaxHmaNote) return HmaError(400, "note must be at most 255 characters");
  return std::nullopt;
}

// Python's repr of a str, as HMA's messages quote values: 'value' (or "value" if it holds a ').
std::string PyRepr(std::string_view s) {
  const char q = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == '\\' || c == q) out.push_back('\\');
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}

// A query argument, decoded; nullopt when absent (an undecodable one is taken as sent).
std::optional<std::string> Arg(std::string_view target, std::string_view name) {
  std::optional<std::string> raw = QueryArg(target, name);
  if (!raw) return std::nullopt;
  std::optional<std::string> decoded = PercentDecode(*raw);
  return decoded ? decoded : raw;
}

std::vector<std::string> SplitBanks(const std::optional<std::string>& banks) {
  std::vector<std::string> out;
  if (!banks || banks->empty()) return out;
  for (absl::string_view b : absl::StrSplit(*banks, ',')) out.emplace_back(b);
  return out;
}

// pydantic's lax bool, as HMA's query models read it; nullopt: not a bool.
std::optional<bool> LaxBool(std::string_view v) {
  std::string s(v);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "1" || s == "yes" || s == "on" || s == "t" || s == "y") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off" || s == "f" || s == "n") return false;
  return std::nullopt;
}

HttpResponse InvalidBool(std::string_view field, std::string_view input) {
  HttpResponse r;
  r.status = 422;
  std::string f = HmaJsonText(boost::json::value(boost::json::string(field)));
  std::string in = HmaJsonText(boost::json::value(boost::json::string(input)));
  f.pop_back();
  in.pop_back();
  r.body = absl::StrCat("[{\"type\":\"bool_parsing\",\"loc\":[", f,
                        "],\"msg\":\"Input should be a valid boolean, unable to interpret input\",\"input\":", in,
                        ",\"url\":\"https://errors.pydantic.dev/2.13/v/bool_parsing\"}]");
  return r;
}

// The query arguments HMA's model collects, as pydantic echoes them in a 422's "input".
json::object QueryObject(std::string_view target) {
  json::object o;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return o;
  for (absl::string_view kv : absl::StrSplit(absl::string_view(target.data() + q + 1, target.size() - q - 1), '&', absl::SkipEmpty())) {
    const size_t eq = kv.find('=');
    const std::string key(kv.substr(0, eq));
    if (o.contains(key)) continue;  // the first value wins
    std::string value = eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    o[key] = PercentDecode(value).value_or(value);
  }
  return o;
}

// HMA's signal validation: the normalised value, or InvalidArgument with HMA's text.
absl::StatusOr<std::string> NormaliseSignal(std::string_view type, std::string_view value) {
  auto hex = [](std::string_view s, size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  if (type == kPdq) {
    if (!hex(value, 64)) return absl::InvalidArgumentError("invalid PDQ hash");
    return std::string(value);
  }
  std::string v(value);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  size_t lead = 0;
  while (lead < v.size() && std::isspace(static_cast<unsigned char>(v[lead]))) ++lead;
  v.erase(0, lead);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!hex(v, 32)) return absl::InvalidArgumentError(absl::StrCat(PyRepr(value), " is not a valid MD5 hash"));
  return v;
}

bool KnownSignalType(std::string_view t) { return t == kPdq || t == kVideoMd5; }

json::object BankJson(const BankConfig& c) {
  return json::object{{"matching_enabled_ratio", c.matching_enabled_ratio}, {"name", c.name}};
}

// The one uploaded file of an HMA upload and its content type ("photo" or "video"), with the other form fields.
struct Upload {
  std::string content_type;
  std::string_view data;
  std::vector<MultipartPart> fields;  // parts without a filename
};

absl::StatusOr<Upload> ReadUpload(const HttpRequest& req) {
  if (!MultipartBoundary(req.content_type)) return absl::InvalidArgumentError("Missing multipart/form-data file upload");
  HB_ASSIGN_OR_RETURN(std::vector<MultipartPart> parts, ParseMultipart(req.content_type, req.body));
  Upload u;
  int files = 0;
  for (MultipartPart& p : parts) {
    if (!p.filename) {
      u.fields.push_back(std::move(p));
      continue;
    }
    if (++files > 1) return absl::InvalidArgumentError("Only one file allowed per request");
    u.content_type = p.name;
    u.data = p.data;
  }
  if (files == 0) return absl::InvalidArgumentError("Missing multipart/form-data file upload");
  if (u.content_type != "photo" && u.content_type != "video") {
    return absl::InvalidArgumentError(absl::StrCat("no such content_type: ", PyRepr(u.content_type)));
  }
  return u;
}

// The signal types an upload is hashed to: the content type's (photo: pdq, video: video_md5), narrowed by
// HMA's `types` argument.
absl::StatusOr<std::vector<std::string>> UploadTypes(const std::string& content_type, std::string_view target) {
  const std::string own(content_type == "photo" ? kPdq : kVideoMd5);
  const std::optional<std::string> types = Arg(target, "types");
  if (!types) return std::vector<std::string>{own};
  std::vector<std::string> out;
  for (absl::string_view t : absl::StrSplit(*types, ',')) {
    std::string name(t);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    if (name.empty()) continue;
    if (name != own) return absl::InvalidArgumentError(absl::StrCat("signal type ", PyRepr(name), " doesn't exist or is disabled"));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty()) return absl::InvalidArgumentError("empty signal type selection");
  return out;
}

std::string Md5Hex(const Md5Digest& d) { return BytesToHex(d.data(), d.size()); }

// Flask's request.get_json() in an HMA view, then HMA's check that it is a dict: false with HMA's answer in
// `error` (415 not JSON, 400 malformed, 400 not an object).
bool ReadJsonObject(const HttpRequest& req, json::object* out, HttpResponse* error) {
  if (!IsJson(req.content_type) || req.content_type.empty()) {
    *error = HmaError(415, "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.");
    return false;
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) {
    *error = HmaError(400, "The browser (or proxy) sent a request that this server could not understand.");
    return false;
  }
  if (!v.is_object()) {
    *error = HmaError(400, "Request input was not a dict");
    return false;
  }
  *out = std::move(v.as_object());
  return true;
}

// pydantic's 422 for a body that is not an object, for HMA's request model `model`.
HttpResponse ModelTypeError(std::string_view model) {
  HttpResponse r;
  r.status = 422;
  r.body = absl::StrCat("[{\"type\":\"model_type\",\"loc\":[],\"msg\":\"Input should be a valid dictionary or instance of ",
                        std::string(model), "\",\"input\":null,\"ctx\":{\"class_name\":\"", std::string(model),
                        "\"},\"url\":\"https://errors.pydantic.dev/2.13/v/model_type\"}]");
  return r;
}

}  // namespace

BankConfig MemberApi::BankOrDefault(const std::string& name) const {
  absl::StatusOr<BankView> v = bank_->GetBank(name);
  if (v.ok()) return v->config;
  BankConfig c;
  c.name = name;
  return c;
}

namespace {

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Status and hashing

absl::StatusOr<HttpResponse> MemberApi::HmaStatus(const Call&) {
  // The indexes are live (every durable signal is matchable at once; no index build to wait for).
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = "I-AM-ALIVE";
  return r;
}

absl::StatusOr<HttpResponse> MemberApi::HmaHash(const Call& call) {
  absl::StatusOr<Upload> up = ReadUpload(call.request);
  if (!up.ok()) return HmaError(400, std::string(up.status().message()));
  absl::StatusOr<std::vector<std::string>> types = UploadTypes(up->content_type, call.request.target);
  if (!types.ok()) return HmaError(400, std::string(types.status().message()));
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(up->data.data()), up->data.size());
  json::object out;
  if (up->content_type == "photo") {
    HB_ASSIGN_OR_RETURN(const ImageHashes h, Hasher().HashBytes(bytes, HashOptions{}));
    // HMA gives no PDQ hash below quality 50: the empty string.
    out[kPdq] = h.quality >= 50 ? h.pdq.ToHex() : "";
  } else {
    out[kVideoMd5] = Md5Hex(ComputeExactHashes(bytes).md5);
  }
  return HmaJson(200, out);
}

// ---------------------------------------------------------------------------------------------------------
// Matching

absl::StatusOr<json::object> MemberApi::HmaMatchesByBank(std::string_view signal_type, std::string_view signal,
                                                         const std::vector<std::string>& banks) {
  const ApiLimits lim = limits();
  std::vector<Match> matches;
  if (signal_type == kPdq) {
    HB_ASSIGN_OR_RETURN(const Hash256 h, Hash256::FromHex(signal));
    HB_ASSIGN_OR_RETURN(matches, bank_->MatchPdq(std::span<const Hash256>(&h, 1), lim.pdq_default_max_distance));
  } else {
    HB_ASSIGN_OR_RETURN(const Md5Digest d, ParseDigest<16>(std::string(signal), "signal"));
    HB_ASSIGN_OR_RETURN(matches, bank_->MatchMd5(d));
  }
  ApplyMatchFilter(MatchFilter{banks, {}}, &matches);
  json::object by_bank;
  for (const Match& m : matches) {
    HB_ASSIGN_OR_RETURN(const int64_t id, bank_->ContentId(m.ref));
    json::value& list = by_bank[m.bank];
    if (!list.is_array()) list = json::array();
    list.as_array().push_back(json::object{
        {"bank_content_id", id}, {"distance", signal_type == kPdq ? std::to_string(m.distance) : std::string("-")}});
  }
  return by_bank;
}

absl::StatusOr<HttpResponse> MemberApi::HmaLookup(const Call& call) {
  const std::string& target = call.request.target;
  if (std::optional<std::string> b = Arg(target, "bypass_coinflip"); b && !LaxBool(*b)) return InvalidBool("bypass_coinflip", *b);
  if (std::optional<std::string> url = Arg(target, "url"); url && !url->empty()) {
    return HmaError(400, "this node does not fetch URLs: POST the file to /m/lookup, or give signal and signal_type");
  }
  const std::string signal = Arg(target, "signal").value_or(""), type = Arg(target, "signal_type").value_or("");
  if (signal.empty() || type.empty()) return HmaError(400, "Either url or both signal and signal_type are required");
  if (!KnownSignalType(type)) return HmaError(400, absl::StrCat("No such SignalType ", PyRepr(type)));
  absl::StatusOr<std::string> normalised = NormaliseSignal(type, signal);
  if (!normalised.ok()) return HmaError(400, absl::StrCat("invalid signal: ", normalised.status().message()));
  HB_ASSIGN_OR_RETURN(const json::object found, HmaMatchesByBank(type, *normalised, SplitBanks(Arg(target, "banks"))));
  return HmaJson(200, found);
}

absl::StatusOr<HttpResponse> MemberApi::HmaLookupFile(const Call& call) {
  const ApiLimits lim = limits();
  absl::StatusOr<Upload> up = ReadUpload(call.request);
  if (!up.ok()) return HmaError(400, std::string(up.status().message()));
  absl::StatusOr<std::vector<std::string>> types = UploadTypes(up->content_type, call.request.target);
  if (!types.ok()) return HmaError(400, std::string(types.status().message()));
  const std::vector<std::string> banks = SplitBanks(Arg(call.request.target, "banks"));
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(up->data.data()), up->data.size());
  json::object out;
  if (up->content_type == "photo") {
    HB_ASSIGN_OR_RETURN(const ImageHashes h, Hasher().HashBytes(bytes, HashOptions{}));
    json::object found;
    // Below the node's quality floor a PDQ hash matches unrelated images: nothing is looked up.
    if (h.quality >= lim.pdq_quality_floor) {
      HB_ASSIGN_OR_RETURN(found, HmaMatchesByBank(kPdq, h.pdq.ToHex(), banks));
    }
    out[kPdq] = std::move(found);
  } else {
    HB_ASSIGN_OR_RETURN(out[kVideoMd5], HmaMatchesByBank(kVideoMd5, Md5Hex(ComputeExactHashes(bytes).md5), banks));
  }
  return HmaJson(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::HmaRawLookup(const Call& call) {
  const std::string& target = call.request.target;
  const std::optional<std::string> signal = Arg(target, "signal"), type = Arg(target, "signal_type");
  if (!signal) return HmaMissingField("signal", QueryObject(target));
  if (!type) return HmaMissingField("signal_type", QueryObject(target));
  bool include_distance = false;
  if (std::optional<std::string> d = Arg(target, "include_distance")) {
    const std::optional<bool> b = LaxBool(*d);
    if (!b) return InvalidBool("include_distance", *d);
    include_distance = *b;
  }
  if (!KnownSignalType(*type)) return HmaError(400, absl::StrCat("No such SignalType ", PyRepr(*type)));
  absl::StatusOr<std::string> normalised = NormaliseSignal(*type, *signal);
  if (!normalised.ok()) return HmaError(400, absl::StrCat("invalid signal: ", normalised.status().message()));
  HB_ASSIGN_OR_RETURN(const json::object by_bank, HmaMatchesByBank(*type, *normalised, SplitBanks(Arg(target, "banks"))));
  // One list, in content id order.
  std::vector<std::pair<int64_t, json::value>> all;
  for (const auto& kv : by_bank) {
    for (const json::value& m : kv.value().as_array()) all.emplace_back(m.as_object().at("bank_content_id").as_int64(), m);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json::array matches;
  for (auto& [id, m] : all) {
    if (include_distance) {
      matches.push_back(std::move(m));
    } else {
      matches.emplace_back(id);
    }
  }
  return HmaJson(200, json::object{{"matches", std::move(matches)}});
}

absl::StatusOr<HttpResponse> MemberApi::HmaCompare(const Call& call) {
  json::object request;
  if (HttpResponse error; !ReadJsonObject(call.request, &request, &error)) return error;
  std::vector<std::string> keys;
  for (const auto& kv : request) keys.emplace_back(kv.key());
  std::sort(keys.begin(), keys.end());
  json::object out;
  for (const std::string& type : keys) {
    const json::value& list = request.at(type);
    if (!list.is_array()) return HmaError(400, absl::StrCat("Comparison hashes for ", type, " was not a list"));
    if (list.as_array().size() != 2) return HmaError(400, "Comparison hash list length must be exactly 2");
    if (!KnownSignalType(type)) return HmaError(400, absl::StrCat("No such SignalType ", PyRepr(type)));
    std::string hashes[2];
    for (size_t i = 0; i < 2; ++i) {
      const json::value& h = list.as_array()[i];
      absl::StatusOr<std::string> n = h.is_string() ? NormaliseSignal(type, h.as_string())
                                                    : absl::InvalidArgumentError("expected string or bytes-like object");
      if (!n.ok()) return HmaError(400, absl::StrCat("Invalid ", type, " hash: ", n.status().message()));
      hashes[i] = *n;
    }
    if (type == kPdq) {
      HB_ASSIGN_OR_RETURN(const Hash256 a, Hash256::FromHex(hashes[0]));
      HB_ASSIGN_OR_RETURN(const Hash256 b, Hash256::FromHex(hashes[1]));
      const int d = HammingDistance(a, b);
      out[type] = json::array{d <= 31, json::object{{"distance", d}}};
    } else {
      // HMA answers a video_md5 comparison with an error 500 (an object it cannot serialise); this node
      // answers with the exact comparison.
      out[type] = json::array{hashes[0] == hashes[1], json::object{}};
    }
  }
  return HmaJson(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::HmaIndexStatus(const Call& call) {
  const std::optional<std::string> only = Arg(call.request.target, "signal_type");
  if (only && !KnownSignalType(*only)) return HmaError(400, absl::StrCat("No such signal type ", PyRepr(*only)));
  const BankStats st = bank_->Stats();
  // Always present and current: the indexes change with every durable write.
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  json::object out;
  if (!only || *only == kPdq) out[kPdq] = json::object{{"built_to", now}, {"present", true}, {"size", st.pdq}};
  if (!only || *only == kVideoMd5) out[kVideoMd5] = json::object{{"built_to", now}, {"present", true}, {"size", st.md5}};
  return HmaJson(200, out);
}

// ---------------------------------------------------------------------------------------------------------
// Curation: banks

absl::StatusOr<HttpResponse> MemberApi::HmaListBanks(const Call&) {
  json::array out;
  for (const BankView& v : bank_->ListBanks()) {
    // The default bank is listed once it holds signals or was configured (HMA's fresh node lists none).
    if (v.config.name == kDefaultBank && v.signals == 0 && v.config.created_ms == 0) continue;
    out.push_back(BankJson(v.config));
  }
  return HmaJson(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::HmaCreateBank(const Call& call) {
  boost::system::error_code ec;
  json::value body = IsJson(call.request.content_type) && !call.request.content_type.empty()
                         ? json::parse(call.request.body, ec) : json::value();
  if (ec) body = json::value();
  if (!body.is_object()) return ModelTypeError("BankCreateRequest");
  const json::object& o = body.as_object();
  const json::value* name = o.if_contains("name");
  if (name == nullptr) return HmaMissingField("name", body);
  if (!name->is_string()) return HmaError(422, "name: expected a string");
  BankConfig c;
  c.name = std::string(name->as_string());
  const json::value* ratio = o.if_contains("enabled_ratio");
  const json::value* enabled = o.if_contains("enabled");
  if (ratio != nullptr && ratio->is_number()) {
    c.matching_enabled_ratio = ratio->to_number<double>();
  } else if (ratio != nullptr && ratio->is_null() && enabled != nullptr && enabled->is_bool()) {
    c.matching_enabled_ratio = enabled->as_bool() ? 1.0 : 0.0;  // HMA reads `enabled` only then
  } else if (ratio != nullptr && !ratio->is_null()) {
    return HmaError(422, "enabled_ratio: expected a number");
  }
  if (!IsValidBankName(c.name)) return HmaError(400, "Bank names must be UPPER_WITH_UNDERSCORE");
  // A bank known only from other members' signals can be configured here (then it takes submissions too).
  if (bank_->BankConfigured(c.name)) return HmaError(403, "Bank already exists");
  absl::StatusOr<BankConfig> made = bank_->CreateBank(std::move(c), *call.actor);
  if (absl::IsAlreadyExists(made.status())) return HmaError(403, "Bank already exists");
  if (!made.ok()) return made.status();
  return HmaJson(201, BankJson(*made));
}

absl::StatusOr<HttpResponse> MemberApi::HmaGetBank(const Call& call) {
  const std::string& name = call.params[0];
  absl::StatusOr<BankView> v = bank_->GetBank(name);
  if (!v.ok()) return HmaError(404, absl::StrCat("bank ", PyRepr(name), " not found"));
  return HmaJson(200, BankJson(v->config));
}

absl::StatusOr<HttpResponse> MemberApi::HmaUpdateBank(const Call& call) {
  const std::string& name = call.params[0];
  boost::system::error_code ec;
  json::value body = json::parse(call.request.body, ec);
  if (ec || !body.is_object()) return ModelTypeError("BankUpdateRequest");
  if (!bank_->BankExists(name)) return HmaError(404, "Bank not found");
  const json::object& o = body.as_object();
  std::string current = name;
  if (const json::value* n = o.if_contains("name"); n != nullptr && n->is_string() && n->as_string() != name) {
    const std::string to(n->as_string());
    if (!IsValidBankName(to)) return HmaError(400, "Bank names must be UPPER_WITH_UNDERSCORE");
    if (bank_->BankExists(to)) return HmaError(403, "Bank name already exists");
    absl::Status s = bank_->RenameBank(name, to, *call.actor);
    if (absl::IsFailedPrecondition(s)) return HmaError(400, std::string(s.message()));
    HB_RETURN_IF_ERROR(s);
    current = to;
  }
  BankUpdate update;
  if (const json::value* e = o.if_contains("enabled"); e != nullptr && e->is_bool()) {
    update.matching_enabled_ratio = e->as_bool() ? 1.0 : 0.0;
  }
  if (const json::value* r = o.if_contains("enabled_ratio"); r != nullptr && r->is_number()) {
    update.matching_enabled_ratio = r->to_number<double>();
  }
  if (!bank_->BankConfigured(current)) {
    // A bank known only from peers' signals: configured here by this update.
    BankConfig c;
    c.name = current;
    HB_RETURN_IF_ERROR(bank_->CreateBank(c, *call.actor).status());
  }
  HB_ASSIGN_OR_RETURN(const BankConfig updated, bank_->UpdateBank(current, update, *call.actor));
  return HmaJson(200, BankJson(updated));
}

absl::StatusOr<HttpResponse> MemberApi::HmaDeleteBank(const Call& call) {
  const std::string& name = call.params[0];
  absl::StatusOr<size_t> withdrawn = bank_->DeleteBank(name, *call.actor);
  // HMA answers Done for a bank that does not exist too.
  if (!withdrawn.ok() && !absl::IsNotFound(withdrawn.status())) {
    if (absl::IsFailedPrecondition(withdrawn.status())) return HmaError(409, std::string(withdrawn.status().message()));
    return withdrawn.status();
  }
  return HmaJson(200, json::object{{"message", "Done"}});
}

// ---------------------------------------------------------------------------------------------------------
// Curation: content

absl::StatusOr<HttpResponse> MemberApi::HmaAddSignal(const Call& call) {
  const std::string& bank_name = call.params[0];
  if (!bank_->BankConfigured(bank_name)) return HmaError(404, absl::StrCat("bank ", PyRepr(bank_name), " not found"));
  json::object o;
  if (HttpResponse error; !ReadJsonObject(call.request, &o, &error)) return error;
  SignalInput in;
  in.bank = bank_name;
  if (json::value* note = o.if_contains("note")) {
    if (!note->is_null() && !(note->is_string() && note->as_string().empty())) {
      if (!note->is_string()) return HmaError(400, "note should be a string");
      if (auto bad = CheckHmaNote(note->as_string())) return *bad;
      in.note = std::string(note->as_string());
    }
    o.erase("note");
  }
  if (o.empty()) return HmaError(400, "No signals given");
  std::vector<std::string> keys;
  for (const auto& kv : o) keys.emplace_back(kv.key());
  std::sort(keys.begin(), keys.end());
  json::object signals;
  for (const std::string& type : keys) {
    if (!KnownSignalType(type)) return HmaError(400, absl::StrCat("No such signal type ", type));
    const json::value& v = o.at(type);
    absl::StatusOr<std::string> n = v.is_string() ? NormaliseSignal(type, v.as_string())
                                                  : absl::InvalidArgumentError("expected string or bytes-like object");
    if (!n.ok()) return HmaError(400, absl::StrCat("Invalid ", type, " signal: ", n.status().message()));
    if (type == kPdq) {
      HB_ASSIGN_OR_RETURN(in.pdq, Hash256::FromHex(*n));
      in.pdq_quality_unknown = true;
    } else {
      HB_ASSIGN_OR_RETURN(in.md5, ParseDigest<16>(*n, type));
    }
    signals[type] = *n;
  }
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->Submit(in, *call.actor));
  HB_ASSIGN_OR_RETURN(const int64_t id, bank_->ContentId(ref));
  return HmaJson(200, json::object{{"id", id}, {"signals", std::move(signals)}});
}

absl::StatusOr<HttpResponse> MemberApi::HmaAddContent(const Call& call) {
  const HttpRequest& req = call.request;
  const std::string& bank_name = call.params[0];
  if (!bank_->BankConfigured(bank_name)) return HmaError(404, absl::StrCat("bank ", PyRepr(bank_name), " not found"));
  if (std::optional<std::string> url = Arg(req.target, "url"); url && !url->empty()) {
    return HmaError(400, "this node does not fetch URLs: upload the file as multipart/form-data (field photo or video)");
  }
  absl::StatusOr<Upload> up = ReadUpload(req);
  if (!up.ok()) {
    if (!MultipartBoundary(req.content_type)) return HmaError(400, "Neither `url` nor multipart file upload was received");
    return HmaError(400, std::string(up.status().message()));
  }
  SignalInput in;
  in.bank = bank_name;
  for (const MultipartPart& f : up->fields) {
    if (f.name == "metadata") {
      boost::system::error_code ec;
      json::value md = json::parse(f.data, ec);
      if (ec) return HmaError(400, "metadata form field must be valid JSON");
      if (!md.is_object()) return HmaError(400, "metadata should be a json object");
      json::object& m = md.as_object();
      m.erase("collab");
      for (const auto& kv : m) {
        const std::string_view k = kv.key();
        const bool ok = (k == "content_id" || k == "content_uri") ? kv.value().is_string() || kv.value().is_null()
                        : k == "json"                              ? kv.value().is_object() || kv.value().is_null()
                                                                   : false;
        if (!ok) return HmaError(400, absl::StrCat("Invalid metadata: ", std::string(k), ": not permitted or of the wrong type"));
      }
      if (const json::value* cid = m.if_contains("content_id"); cid != nullptr && cid->is_string()) {
        in.content_id = std::string(cid->as_string());
      }
      m.erase("content_id");
      if (!m.empty()) in.metadata_json = json::serialize(m);
    } else if (f.name == "note") {
      if (auto bad = CheckHmaNote(f.data)) return *bad;
      in.note = std::string(f.data);
    }
  }
  HB_ASSIGN_OR_RETURN(const std::vector<std::string> types, UploadTypes(up->content_type, req.target));
  json::object signals, notes;
  if (up->content_type == "photo") {
    EmbeddingPlan plan = PlanEmbedding();
    HB_ASSIGN_OR_RETURN(const ImageHashes h,
                        Hasher().HashBytes({reinterpret_cast<const uint8_t*>(up->data.data()), up->data.size()},
                                           WithModelInput({.local_features = kRobustBankFeatures}, plan)));
    FillImageInput(h, &plan, &in, &notes);
    // HMA refuses an image without a PDQ hash; this node keeps its other fingerprints, as
    // POST /v1/signals/image does, and says so.
    signals[kPdq] = in.pdq ? h.pdq.ToHex() : "";
  } else {
    HB_ASSIGN_OR_RETURN(const VideoHashes h, HashBankedVideo(up->data));
    FillVideoInput(h, &in, &notes);
    signals[kVideoMd5] = Md5Hex(h.exact.md5);
  }
  HB_ASSIGN_OR_RETURN(const SignalRef ref, bank_->Submit(in, *call.actor));
  HB_ASSIGN_OR_RETURN(const int64_t id, bank_->ContentId(ref));
  return HmaJson(200, json::object{{"id", id}, {"signals", std::move(signals)}});
}

namespace {

// The content's id from the path: HMA's <int:content_id> (anything else is a routing 404).
std::optional<int64_t> ContentIdArg(const std::string& s) {
  int64_t id = 0;
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) || !ParseWhole(s, &id)) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

absl::StatusOr<HttpResponse> MemberApi::HmaGetContent(const Call& call) {
  const std::string& bank_name = call.params[0];
  const std::optional<int64_t> id = ContentIdArg(call.params[1]);
  if (!id) return HmaRoutingError(404);
  if (!bank_->BankExists(bank_name)) return HmaError(404, absl::StrCat("bank ", PyRepr(bank_name), " not found"));
  const HttpResponse missing = HmaError(404, absl::StrCat("content '", *id, "' not found"));
  absl::StatusOr<SignalRef> ref = bank_->ContentRef(*id);
  if (!ref.ok()) return missing;
  absl::StatusOr<SignalInfo> info = bank_->Get(*ref);
  if (!info.ok() || info->withdrawn) return missing;
  std::string lower_meta = "true";
  if (std::optional<std::string> m = Arg(call.request.target, "include_metadata")) {
    for (char& c : *m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower_meta = *m;
  }
  const ContentState state = bank_->GetContentState(*ref);
  json::object out;
  out["id"] = *id;
  out["disable_until_ts"] = state.disable_until_ts;
  out["original_media_uri"] = nullptr;
  out["bank"] = BankJson(BankOrDefault(info->bank));
  // include_signals: banked values are stored salted and never returned (docs/hma-compatibility.md).
  json::object md;
  if (!info->metadata_json.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(info->metadata_json, ec);
    if (!ec && v.is_object()) md = std::move(v.as_object());
  }
  if (lower_meta == "true" && (!info->content_id.empty() || !md.empty())) {
    json::object meta;
    meta["collab"] = nullptr;
    meta["content_id"] = info->content_id.empty() ? json::value(nullptr) : json::value(info->content_id);
    const json::value* uri = md.if_contains("content_uri");
    meta["content_uri"] = uri != nullptr ? *uri : json::value(nullptr);
    const json::value* j = md.if_contains("json");
    // Metadata submitted through hashbank's own API is any JSON object: it is shown whole as `json`.
    const bool hma_shaped = std::all_of(md.begin(), md.end(), [](const json::key_value_pair& kv) {
      return kv.key() == "content_uri" || kv.key() == "json";
    });
    meta["json"] = j != nullptr ? *j : (hma_shaped || md.empty() ? json::value(nullptr) : json::value(md));
    out["metadata"] = std::move(meta);
  }
  const std::string note = state.note ? *state.note : info->note;
  if (!note.empty()) out["note"] = note;
  return HmaJson(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::HmaUpdateContent(const Call& call) {
  const std::string& bank_name = call.params[0];
  const std::optional<int64_t> id = ContentIdArg(call.params[1]);
  if (!id) return HmaRoutingError(404);
  if (!bank_->BankExists(bank_name)) return HmaError(404, absl::StrCat("bank ", PyRepr(bank_name), " not found"));
  const HttpResponse missing = HmaError(404, absl::StrCat("content '", *id, "' not found"));
  absl::StatusOr<SignalRef> ref = bank_->ContentRef(*id);
  if (!ref.ok()) return missing;
  absl::StatusOr<SignalInfo> info = bank_->Get(*ref);
  if (!info.ok() || info->withdrawn) return missing;
  json::object body;
  if (HttpResponse error; !ReadJsonObject(call.request, &body, &error)) return error;
  ContentState state = bank_->GetContentState(*ref);
  if (const json::value* d = body.if_contains("disable_until_ts")) {
    int64_t v = 0;
    if (d->is_int64()) {
      v = d->as_int64();
    } else if (d->is_bool()) {
      v = d->as_bool() ? 1 : 0;
    } else if (d->is_double() && d->as_double() > -9e18 && d->as_double() < 9e18) {
      v = static_cast<int64_t>(d->as_double());
    } else if (!(d->is_string() && ParseWhole(std::string(d->as_string()), &v))) {
      return HmaError(400, absl::StrCat("Invalid int: '", d->is_string() ? std::string(d->as_string()) : json::serialize(*d), "'"));
    }
    if (v < 0) return HmaError(400, "disable_until_ts must be a non-negative integer");
    if (v > static_cast<int64_t>(std::time(nullptr)) + int64_t{5} * 365 * 86400) {
      return HmaError(400, "disable_until_ts must be less than 5 years in the future");
    }
    state.disable_until_ts = v;
  }
  if (const json::value* n = body.if_contains("note")) {
    if (n->is_null() || (n->is_string() && n->as_string().empty())) {
      state.note = std::string();
    } else if (!n->is_string()) {
      return HmaError(400, "note should be a string");
    } else if (auto bad = CheckHmaNote(n->as_string())) {
      return *bad;
    } else {
      state.note = std::string(n->as_string());
    }
  }
  HB_RETURN_IF_ERROR(bank_->SetContentState(*ref, state, *call.actor));
  const std::string note = state.note ? *state.note : info->note;
  json::object out;
  out["bank"] = BankJson(BankOrDefault(info->bank));
  out["collab_metadata"] = json::object();
  out["disable_until_ts"] = state.disable_until_ts;
  out["id"] = *id;
  out["note"] = note.empty() ? json::value(nullptr) : json::value(note);
  out["original_media_uri"] = nullptr;
  json::value user_metadata = nullptr;
  if (!info->content_id.empty() || !info->metadata_json.empty()) {
    json::object md;
    if (!info->metadata_json.empty()) {
      boost::system::error_code ec;
      json::value v = json::parse(info->metadata_json, ec);
      if (!ec && v.is_object()) md = std::move(v.as_object());
    }
    if (!info->content_id.empty()) md["content_id"] = info->content_id;
    user_metadata = std::move(md);
  }
  out["user_metadata"] = std::move(user_metadata);
  return HmaJson(200, out);
}

absl::StatusOr<HttpResponse> MemberApi::HmaDeleteContent(const Call& call) {
  const std::string& bank_name = call.params[0];
  const std::optional<int64_t> id = ContentIdArg(call.params[1]);
  if (!id) return HmaRoutingError(404);
  if (!bank_->BankExists(bank_name)) return HmaError(404, absl::StrCat("bank ", PyRepr(bank_name), " not found"));
  absl::StatusOr<SignalRef> ref = bank_->ContentRef(*id);
  if (!ref.ok()) return HmaJson(200, json::object{{"deleted", 0}});
  if (ref->origin != bank_->node_id()) {
    return HmaError(403, absl::StrCat("content ", *id, " was banked by another member (", ref->origin,
                                      "); only its origin can delete it. Disable it on this node with "
                                      "PUT {\"disable_until_ts\": 0}"));
  }
  // Deleting banked content withdraws the signal: its values are purged here and at every member.
  absl::Status s = bank_->Withdraw(*ref, *call.actor, "consent_withdrawn");
  if (absl::IsNotFound(s) || absl::IsAlreadyExists(s)) return HmaJson(200, json::object{{"deleted", 0}});
  HB_RETURN_IF_ERROR(s);
  return HmaJson(200, json::object{{"deleted", 1}});
}

absl::StatusOr<HttpResponse> MemberApi::HmaSignalTypes(const Call&) {
  return HmaJson(200, json::array{json::object{{"enabled_ratio", 1.0}, {"name", kPdq}},
                                  json::object{{"enabled_ratio", 1.0}, {"name", kVideoMd5}}});
}

absl::StatusOr<HttpResponse> MemberApi::HmaContentTypes(const Call&) {
  return HmaJson(200, json::array{json::object{{"enabled", true}, {"name", "photo"}},
                                  json::object{{"enabled", true}, {"name", "video"}}});
}

}  // namespace hashbank
