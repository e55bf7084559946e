#include "node/api_support.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "hashing/robust_fingerprint.h"
#include "node/json_keys.h"
#include "node/status_macros.h"
#include "storage/records.h"

namespace hashbank::api {

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

namespace {
constexpr char kBusyPayload[] = "hashbank.busy";
}  // namespace

absl::Status BusyError(std::string_view message) {
  absl::Status s = absl::UnavailableError(std::string(message));
  s.SetPayload(kBusyPayload, absl::Cord("1"));
  return s;
}

// Maps a Status (from parsing or from the bank) to the API's status and code: the one place.
HttpResponse FromStatus(const absl::Status& s) {
  const std::string m(s.message());
  if (s.code() == absl::StatusCode::kUnavailable && s.GetPayload(kBusyPayload).has_value()) {
    HttpResponse busy = Error(429, "rate_limited", m);
    busy.retry_after = "2";
    return busy;
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return Error(400, "invalid_argument", m);
    case absl::StatusCode::kNotFound: return Error(404, "not_found", m);
    case absl::StatusCode::kAlreadyExists: return Error(409, "conflict", m);
    case absl::StatusCode::kAborted: return Error(409, "conflict", m);  // a concurrent change: retry
    case absl::StatusCode::kFailedPrecondition: return Error(422, "failed_precondition", m);
    case absl::StatusCode::kPermissionDenied: return Error(403, "permission_denied", m);
    case absl::StatusCode::kResourceExhausted: return Error(413, "too_large", m);
    case absl::StatusCode::kDeadlineExceeded: return Error(413, "too_large", m);  // a video over its decode time
    case absl::StatusCode::kUnimplemented: return Error(415, "unsupported_media_type", m);
    case absl::StatusCode::kUnavailable: return Error(503, "unavailable", "storage unavailable");
    default: return Error(500, "internal", "internal error");  // details stay out of responses
  }
}



absl::StatusOr<json::object> ParseObject(std::string_view body) {
  json::parse_options opts;
  opts.max_depth = 16;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return Bad("malformed JSON: " + ec.message());
  if (!v.is_object()) return Bad("the body must be a JSON object");
  if (std::optional<std::string> key = FindDuplicateKey(body, static_cast<int>(opts.max_depth))) {
    return Bad("duplicate key \"" + *key + "\" in one JSON object");
  }
  return std::move(v.as_object());
}


absl::StatusOr<Hash256> ParsePdq(const json::value& v, std::string_view field) {
  if (!v.is_string()) return Bad(std::string(field) + ": expected a 64-hex string");
  auto h = Hash256::FromHex(std::string(v.as_string()));
  if (!h.ok()) return Bad(absl::StrCat(std::string(field), ": ", std::string(h.status().message())));
  return *h;
}

absl::StatusOr<EmbeddingInput> ParseEmbedding(const json::value& v) {
  if (!v.is_object()) return Bad("embedding: expected an object with model_id and vector");
  Reader r(v.as_object(), "embedding.");
  HB_RETURN_IF_ERROR(r.AllowOnly({"model_id", "vector"}));
  EmbeddingInput e;
  HB_ASSIGN_OR_RETURN(std::optional<std::string> model, r.String("model_id", 64));
  if (!model) return Bad("embedding.model_id: required");
  e.model_id = *model;
  const json::value* vec = r.Find("vector");
  if (vec == nullptr || !vec->is_array()) return Bad("embedding.vector: expected an array of numbers");
  if (vec->as_array().empty() || vec->as_array().size() > 4096) return Bad("embedding.vector: 1 to 4096 numbers");
  for (const json::value& x : vec->as_array()) {
    double d;
    if (x.is_double()) d = x.as_double();
    else if (x.is_int64()) d = static_cast<double>(x.as_int64());
    else if (x.is_uint64()) d = static_cast<double>(x.as_uint64());
    else return Bad("embedding.vector: expected numbers");
    if (!std::isfinite(d) || std::fabs(d) > 3.0e38) return Bad("embedding.vector: numbers must be finite floats");
    e.vector.push_back(static_cast<float>(d));
  }
  return e;
}

absl::StatusOr<std::optional<std::string>> ParseRobustField(const Reader& r, std::string_view name) {
  HB_ASSIGN_OR_RETURN(std::optional<std::string> robust, r.String(name, 4 * ((kRobustMaxBytes + 2) / 3)));
  if (!robust) return robust;
  std::string bytes;
  if (!absl::Base64Unescape(*robust, &bytes) || absl::Base64Escape(bytes) != *robust) {
    return Bad(r.Name(name) + ": expected padded base64 (RFC 4648) of a robust fingerprint");
  }
  return std::optional<std::string>(std::move(bytes));
}

absl::StatusOr<SignalInput> ParseSignal(const json::object& o, std::string prefix) {
  Reader r(o, prefix);
  HB_RETURN_IF_ERROR(
      r.AllowOnly({"pdq", "quality", "md5", "sha256", "embedding", "robust", "vpdq", "vpdq_keyframes", "duration",
                   "labels", "case_ref", "bank", "content_id", "note", "metadata"}));
  SignalInput in;
  if (const json::value* v = r.Find("pdq")) {
    HB_ASSIGN_OR_RETURN(in.pdq, ParsePdq(*v, r.Name("pdq")));
  }
  HB_ASSIGN_OR_RETURN(std::optional<int64_t> q, r.Int("quality"));
  if (q) {
    if (*q < 0 || *q > 100) return Bad(r.Name("quality") + ": must be 0-100");
    in.quality = static_cast<int>(*q);
  }
  HB_ASSIGN_OR_RETURN(std::optional<std::string> md5, r.String("md5", 64));
  if (md5) {
    HB_ASSIGN_OR_RETURN(in.md5, ParseDigest<16>(*md5, r.Name("md5")));
  }
  HB_ASSIGN_OR_RETURN(std::optional<std::string> sha, r.String("sha256", 128));
  if (sha) {
    HB_ASSIGN_OR_RETURN(in.sha256, ParseDigest<32>(*sha, r.Name("sha256")));
  }
  if (const json::value* e = r.Find("embedding")) {
    HB_ASSIGN_OR_RETURN(in.embedding, ParseEmbedding(*e));
  }
  HB_ASSIGN_OR_RETURN(in.robust, ParseRobustField(r));
  if (const json::value* v = r.Find("vpdq")) {
    HB_ASSIGN_OR_RETURN(in.video, ParseVpdq(*v, r.Name("vpdq")));
    HB_ASSIGN_OR_RETURN(std::optional<double> duration, r.Number("duration"));
    if (duration) {
      if (!(*duration > 0 && *duration <= 86400)) return Bad(r.Name("duration") + ": seconds, above 0, at most 86400");
      in.video->duration = *duration;
    }
    if (const json::value* k = r.Find("vpdq_keyframes")) {
      HB_ASSIGN_OR_RETURN(in.video->keyframes, ParseKeyframes(*k, r.Name("vpdq_keyframes")));
    }
  } else if (r.Find("duration") != nullptr || r.Find("vpdq_keyframes") != nullptr) {
    return Bad(r.Name(r.Find("duration") != nullptr ? "duration" : "vpdq_keyframes") + ": only meaningful with vpdq");
  }
  if (const json::value* l = r.Find("labels")) {
    if (!l->is_array()) return Bad(r.Name("labels") + ": expected an array of strings");
    for (const json::value& x : l->as_array()) {
      if (!x.is_string()) return Bad(r.Name("labels") + ": expected an array of strings");
      in.labels.emplace_back(x.as_string());
    }
  }
  HB_ASSIGN_OR_RETURN(std::optional<std::string> case_ref, r.String("case_ref", 256));
  if (case_ref) in.case_ref = *case_ref;
  HB_ASSIGN_OR_RETURN(std::optional<std::string> bank, r.String("bank", 64));
  if (bank) in.bank = *bank;
  HB_ASSIGN_OR_RETURN(std::optional<std::string> content_id, r.String("content_id", 256));
  if (content_id) in.content_id = *content_id;
  HB_ASSIGN_OR_RETURN(std::optional<std::string> note, r.String("note", 1024));
  if (note) in.note = *note;
  if (const json::value* m = r.Find("metadata")) {
    if (!m->is_object()) return Bad(r.Name("metadata") + ": expected a JSON object");
    if (!m->as_object().empty()) in.metadata_json = json::serialize(*m);
  }
  return in;
}

absl::StatusOr<MatchFilter> ParseMatchFilter(const json::value* banks, const json::value* labels) {
  MatchFilter f;
  auto strings = [](const json::value* v, std::string_view name, std::vector<std::string>* out) -> absl::Status {
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array() || v->as_array().size() > 64) return Bad(absl::StrCat(std::string(name), ": an array of up to 64 strings"));
    for (const json::value& x : v->as_array()) {
      if (!x.is_string()) return Bad(absl::StrCat(std::string(name), ": an array of up to 64 strings"));
      out->emplace_back(x.as_string());
    }
    return absl::OkStatus();
  };
  HB_RETURN_IF_ERROR(strings(banks, "banks", &f.banks));
  HB_RETURN_IF_ERROR(strings(labels, "labels", &f.labels));
  return f;
}

absl::StatusOr<MatchFilter> ParseMatchFilterParams(std::string_view target) {
  MatchFilter f;
  for (const auto& [name, out] : {std::pair<std::string_view, std::vector<std::string>*>{"banks", &f.banks},
                                  std::pair<std::string_view, std::vector<std::string>*>{"labels", &f.labels}}) {
    const std::optional<std::string> v = PercentDecode(QueryParam(target, name));
    if (!v) return Bad(absl::StrCat(std::string(name), ": malformed percent-encoding"));
    for (absl::string_view x : absl::StrSplit(*v, ',', absl::SkipEmpty())) out->emplace_back(x);
  }
  return f;
}

absl::StatusOr<std::vector<std::pair<std::string, double>>> ParseKeyframes(const json::value& v, std::string_view field) {
  const std::string f(field);
  if (!v.is_array() || v.as_array().size() > kMaxVideoKeyframes) {
    return Bad(absl::StrCat(f, ": an array of up to ", kMaxVideoKeyframes, " keyframes {timestamp, robust}"));
  }
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    const json::value& k = v.as_array()[i];
    const std::string prefix = absl::StrCat(f, "[", i, "].");
    if (!k.is_object()) return Bad(prefix.substr(0, prefix.size() - 1) + ": expected an object");
    Reader r(k.as_object(), prefix);
    HB_RETURN_IF_ERROR(r.AllowOnly({"timestamp", "robust"}));
    HB_ASSIGN_OR_RETURN(std::optional<double> t, r.Number("timestamp"));
    if (!t || !(*t >= 0 && *t <= 86400)) return Bad(r.Name("timestamp") + ": required, seconds, 0 to 86400");
    HB_ASSIGN_OR_RETURN(std::optional<std::string> robust, r.String("robust", 4 * ((kRobustMaxBytes + 2) / 3)));
    std::string bytes;
    if (!robust || !absl::Base64Unescape(*robust, &bytes) || absl::Base64Escape(bytes) != *robust) {
      return Bad(r.Name("robust") + ": required, padded base64 (RFC 4648) of a robust fingerprint");
    }
    out.emplace_back(std::move(bytes), *t);
  }
  return out;
}

absl::StatusOr<VideoInput> ParseVpdq(const json::value& v, std::string_view field) {
  const std::string f(field);
  if (!v.is_array()) return Bad(f + ": expected an array of frames {frame, quality, pdq, timestamp}");
  const json::array& frames = v.as_array();
  if (frames.empty() || frames.size() > kMaxSubmittedVideoFrames) {
    return Bad(absl::StrCat(f, ": 1 to ", kMaxSubmittedVideoFrames, " frames"));
  }
  VideoInput out;
  out.frames.reserve(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const std::string prefix = absl::StrCat(f, "[", i, "].");
    if (!frames[i].is_object()) return Bad(prefix.substr(0, prefix.size() - 1) + ": expected an object");
    Reader r(frames[i].as_object(), prefix);
    HB_RETURN_IF_ERROR(r.AllowOnly({"frame", "quality", "pdq", "timestamp"}));
    const json::value* pdq = r.Find("pdq");
    if (pdq == nullptr) return Bad(r.Name("pdq") + ": required");
    VideoFrame frame;
    HB_ASSIGN_OR_RETURN(frame.pdq, ParsePdq(*pdq, r.Name("pdq")));
    HB_ASSIGN_OR_RETURN(std::optional<int64_t> q, r.Int("quality"));
    if (!q || *q < 0 || *q > 100) return Bad(r.Name("quality") + ": required, 0-100");
    frame.quality = static_cast<int>(*q);
    HB_ASSIGN_OR_RETURN(std::optional<double> t, r.Number("timestamp"));
    if (!t || !(*t >= 0 && *t <= 86400)) return Bad(r.Name("timestamp") + ": required, seconds, 0 to 86400");
    frame.timestamp = *t;
    HB_ASSIGN_OR_RETURN(std::optional<int64_t> n, r.Int("frame"));  // informative; the order is the array's
    if (n && *n < 0) return Bad(r.Name("frame") + ": a frame number is not negative");
    out.frames.push_back(frame);
  }
  return out;
}

namespace {
double Round3(double x) { return std::round(x * 1000) / 1000; }

}  // namespace

// What /v1/hash and the video routes report of a video: the shape `hashbank hash --json` prints.
json::object VideoHashesJson(const VideoHashes& h) {
  json::object o;
  o["type"] = "video";
  o["md5"] = BytesToHex(h.exact.md5.data(), h.exact.md5.size());
  o["sha256"] = BytesToHex(h.exact.sha256.data(), h.exact.sha256.size());
  o["width"] = h.info.width;
  o["height"] = h.info.height;
  o["codec"] = h.info.codec;
  o["frame_rate"] = Round3(h.info.frame_rate);
  o["duration"] = Round3(h.info.duration_seconds);
  o["seconds_per_frame"] = h.seconds_per_frame;
  json::array frames;
  for (const VpdqFrame& f : h.frames) {
    json::object x;
    x["frame"] = f.frame_number;
    x["quality"] = f.quality;
    x["pdq"] = f.pdq.ToHex();
    x["timestamp"] = Round3(f.timestamp);
    frames.push_back(std::move(x));
  }
  o["vpdq"] = std::move(frames);
  // The keyframes a bank keeps (POST /v1/hash of a video), in the shape POST /v1/signals takes.
  json::array keyframes;
  for (const auto& [fp, time] : BankableKeyframes(h)) {
    keyframes.push_back(json::object{{"timestamp", Round3(time)}, {"robust", absl::Base64Escape(fp)}});
  }
  if (!keyframes.empty()) o["vpdq_keyframes"] = std::move(keyframes);
  return o;
}

json::object MatchJson(const Match& m, bool with_query) {
  json::object o;
  o["id"] = FormatSignalId(m.ref);
  o["origin"] = m.ref.origin;
  o["bank"] = m.bank;
  o["signal_type"] = m.signal_type;
  if (m.signal_type == "embedding") {
    o["similarity"] = m.similarity;
  } else if (m.video) {
    const VideoVerdict& v = *m.video;
    o["query_match_percent"] = std::round(v.query_percent * 10) / 10;
    o["target_match_percent"] = std::round(v.target_percent * 10) / 10;
    o["range_match_percent"] = std::round(v.range_percent * 10) / 10;
    o["matched_seconds"] = Round3(v.matched_seconds);
    o["query_range"] = json::array{Round3(v.query_start), Round3(v.query_end)};
    o["target_range"] = json::array{Round3(v.target_start), Round3(v.target_end)};
    o["mirrored"] = m.mirrored;
    o["bars_removed"] = m.bars_removed;
  } else if (m.robust) {
    o["inliers"] = m.robust->inliers;
    o["coverage"] = std::round(m.robust->hull * 1000) / 1000;
    o["scale"] = std::round(m.robust->scale * 1000) / 1000;
    o["rotation_degrees"] = std::round(m.robust->rotation_degrees * 10) / 10;
    o["mirrored"] = m.mirrored;
    if (m.keyframes > 0) o["keyframes"] = m.keyframes;
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
  if (std::optional<std::string> robust = BankableRobust(h.features, h.width, h.height)) {
    o["robust"] = absl::Base64Escape(*robust);
  }
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
std::optional<std::string> QueryArg(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return std::nullopt;
}

std::string QueryParam(std::string_view target, std::string_view name) { return QueryArg(target, name).value_or(""); }

// A query parameter's value with %XX escapes and '+' (space) decoded; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else {
      if (i + 2 >= s.size()) return std::nullopt;
      int v = 0;
      for (size_t k = 1; k <= 2; ++k) {
        const char c = s[i + k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return std::nullopt;
      }
      out.push_back(static_cast<char>(v));
      i += 2;
    }
  }
  return out;
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

// The error object of an error body, for per-item results.
json::value ErrorObject(const HttpResponse& error) { return json::parse(error.body).as_object()["error"]; }

absl::Status ParseUploadParams(std::string_view target, SignalInput* in) {
  const std::optional<std::string> labels = PercentDecode(QueryParam(target, "labels"));
  if (!labels) return Bad("labels: malformed percent-encoding");
  for (absl::string_view l : absl::StrSplit(*labels, ',', absl::SkipEmpty())) in->labels.emplace_back(l);
  const std::optional<std::string> case_ref = PercentDecode(QueryParam(target, "case_ref"));
  if (!case_ref) return Bad("case_ref: malformed percent-encoding");
  in->case_ref = *case_ref;
  for (const auto& [name, out] : {std::pair<std::string_view, std::string*>{"bank", &in->bank},
                                  std::pair<std::string_view, std::string*>{"content_id", &in->content_id},
                                  std::pair<std::string_view, std::string*>{"note", &in->note}}) {
    const std::optional<std::string> v = PercentDecode(QueryParam(target, name));
    if (!v) return Bad(absl::StrCat(std::string(name), ": malformed percent-encoding"));
    *out = *v;
  }
  return absl::OkStatus();
}

}  // namespace hashbank::api
