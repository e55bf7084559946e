// The member API's shared request and response helpers: JSON responses and errors (FromStatus, the one
// place where a Status becomes an HTTP status), strict JSON reading (Reader), the signal and hash JSON shapes,
// query parameters. Used by member_api.cc and video_api.cc. Stateless; thread-safe.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "hashing/hash256.h"
#include "hashing/image_hasher.h"
#include "hashing/vpdq.h"
#include "node/bank.h"
#include "node/http_types.h"
#include "node/signal_index.h"
#include "node/signal_intake.h"

namespace hashbank::api {

namespace json = boost::json;

HttpResponse Json(int status, const json::value& v);
HttpResponse Error(int status, std::string_view code, std::string_view message);
// The node is busy with requests of this kind (all its video decode slots are taken): FromStatus answers
// 429 `rate_limited` with the message and `Retry-After: 2`.
absl::Status BusyError(std::string_view message);
// Maps a Status (from parsing or from the bank) to the API's status and code: the one place.
HttpResponse FromStatus(const absl::Status& s);
inline absl::Status Bad(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// Strict JSON reading: every field is typed, unknown fields are errors (InvalidArgument naming the field).
class Reader {
 public:
  explicit Reader(const json::object& o, std::string prefix = "") : o_(o), prefix_(std::move(prefix)) {}

  absl::Status AllowOnly(std::initializer_list<std::string_view> names) const {
    for (const auto& kv : o_) {
      if (std::find(names.begin(), names.end(), std::string_view(kv.key())) == names.end()) {
        return Bad(absl::StrCat("unknown field \"", prefix_, std::string(kv.key()), "\""));
      }
    }
    return absl::OkStatus();
  }
  // The field's value, or null when absent or JSON null.
  const json::value* Find(std::string_view name) const {
    const json::value* v = o_.if_contains(name);
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  std::string Name(std::string_view n) const { return prefix_ + std::string(n); }
  absl::StatusOr<std::optional<std::string>> String(std::string_view name, size_t max_len = 4096) const {
    const json::value* v = Find(name);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) return Bad(Name(name) + ": expected a string");
    if (v->as_string().size() > max_len) return Bad(absl::StrCat(Name(name), ": longer than ", max_len));
    return std::optional<std::string>(std::string(v->as_string()));
  }
  absl::StatusOr<std::optional<int64_t>> Int(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr) return std::optional<int64_t>();
    if (v->is_int64()) return std::optional<int64_t>(v->as_int64());
    if (v->is_uint64() && v->as_uint64() <= INT64_MAX) return std::optional<int64_t>(static_cast<int64_t>(v->as_uint64()));
    return Bad(Name(name) + ": expected an integer");
  }
  absl::StatusOr<std::optional<double>> Number(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr) return std::optional<double>();
    if (v->is_double()) return std::optional<double>(v->as_double());
    if (v->is_int64()) return std::optional<double>(static_cast<double>(v->as_int64()));
    if (v->is_uint64()) return std::optional<double>(static_cast<double>(v->as_uint64()));
    return Bad(Name(name) + ": expected a number");
  }
  absl::StatusOr<std::optional<bool>> Bool(std::string_view name) const {
    const json::value* v = Find(name);
    if (v == nullptr) return std::optional<bool>();
    if (!v->is_bool()) return Bad(Name(name) + ": expected true or false");
    return std::optional<bool>(v->as_bool());
  }

 private:
  const json::object& o_;
  std::string prefix_;
};

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <size_t N>
absl::StatusOr<std::array<uint8_t, N>> ParseDigest(const std::string& hex, std::string_view field) {
  if (hex.size() != 2 * N) return Bad(absl::StrCat(std::string(field), ": expected ", 2 * N, " hex digits, got ", hex.size()));
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Bad(absl::StrCat(std::string(field), ": non-hex character at position ", hi < 0 ? 2 * i : 2 * i + 1));
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

// The whole string is a decimal number that fits.
template <typename T>
bool ParseWhole(const std::string& text, T* value) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

absl::StatusOr<json::object> ParseObject(std::string_view body);
absl::StatusOr<Hash256> ParsePdq(const json::value& v, std::string_view field);
absl::StatusOr<EmbeddingInput> ParseEmbedding(const json::value& v);
// A signal as POST /v1/signals takes it (fields prefixed with `prefix` in errors: "items[3].").
absl::StatusOr<SignalInput> ParseSignal(const json::object& o, std::string prefix);
// The field `name` ("robust", "robust_mirrored"): padded base64 (RFC 4648) of a robust fingerprint's encoding,
// as `hashbank hash --json` and /v1/hash print it; its bytes (not yet decoded), nullopt when absent,
// InvalidArgument naming the field.
absl::StatusOr<std::optional<std::string>> ParseRobustField(const Reader& r, std::string_view name = "robust");
// A match request's narrowing: "banks" and "labels" arrays of a JSON body (either may be null), or the
// comma-separated `banks` and `labels` query parameters of an upload route.
absl::StatusOr<MatchFilter> ParseMatchFilter(const json::value* banks, const json::value* labels);
absl::StatusOr<MatchFilter> ParseMatchFilterParams(std::string_view target);
// A video's keyframes as /v1/hash prints them: [{timestamp, robust (base64)}], at most kMaxVideoKeyframes.
absl::StatusOr<std::vector<std::pair<std::string, double>>> ParseKeyframes(const json::value& v, std::string_view field);
// A vPDQ frame list as `hashbank hash --json` prints it: [{"frame", "quality", "pdq", "timestamp"}, ...].
absl::StatusOr<VideoInput> ParseVpdq(const json::value& v, std::string_view field);
json::object MatchJson(const Match& m, bool with_query);
json::object HashesJson(const ImageHashes& h);
// A video's hashes as /v1/hash and `hashbank hash --json` give them: type, md5, sha256, width, height, codec,
// frame_rate, duration, seconds_per_frame, vpdq [{frame, quality, pdq, timestamp}] (the shape POST
// /v1/signals takes back as vpdq).
json::object VideoHashesJson(const VideoHashes& h);
// The token of an "Authorization: Bearer <token>" header (the scheme is case-insensitive), or "".
std::string_view BearerToken(std::string_view authorization);
// Value of `name` in the query string, or "".
std::string QueryParam(std::string_view target, std::string_view name);
// Value of `name` in the query string as sent (not decoded; the first if repeated), or nullopt if absent.
std::optional<std::string> QueryArg(std::string_view target, std::string_view name);
// A query parameter's value with %XX escapes and '+' (space) decoded; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s);
// "application/json", any case, optionally with parameters. A missing header is accepted.
bool IsJson(std::string_view content_type);
// The error object of an error body, for per-item results.
json::value ErrorObject(const HttpResponse& error);
std::string_view PathOf(std::string_view target);
// The labels, case_ref, bank, content_id and note query parameters of an upload route (POST /v1/signals/image,
// /video).
absl::Status ParseUploadParams(std::string_view target, SignalInput* in);

}  // namespace hashbank::api
