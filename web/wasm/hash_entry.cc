// The WebAssembly core's C entry points, called by web/sdk/hashbank-core-worker.js through emscripten's
// exports. They run the same ImageHasher as `hashbank hash --json` (node/cli/hash_command.cc) with the same
// default limits and print the same fields, so that a browser's hashes are the node's, bit for bit.
//
// Single-threaded (a WebAssembly instance is used by one worker); the returned text is owned by this file and
// valid until the next call.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "hashing/hash256.h"
#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"

namespace {
std::string g_result;  // the last answer (see the contract above)
}  // namespace

namespace hashbank {
namespace {

// A JSON string literal of `s`: quotes, backslashes and control characters escaped (the messages are ASCII).
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Hex(std::span<const uint8_t> d) { return BytesToHex(d.data(), d.size()); }

// The status code's name as absl prints it (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, ...).
std::string ErrorJson(const absl::Status& status) {
  return absl::StrCat("{\"error\":{\"code\":", JsonString(absl::StatusCodeToString(status.code())),
                      ",\"message\":", JsonString(std::string(status.message())), "}}");
}

// The fields and their order as hash_command.cc's FormatLine writes them, without "path" (the SDK adds the
// file's name).
std::string HashesJson(const ImageHashes& h) {
  std::string out = absl::StrCat("{\"pdq\":\"", h.pdq.ToHex(), "\",\"quality\":", h.quality, ",\"md5\":\"",
                                 Hex(h.exact.md5), "\",\"sha256\":\"", Hex(h.exact.sha256), "\",\"width\":", h.width,
                                 ",\"height\":", h.height, ",\"format\":\"", std::string(ImageFormatName(h.format)), "\"");
  if (std::optional<std::string> robust = BankableRobust(h.features, h.width, h.height)) {
    absl::StrAppend(&out, ",\"robust\":\"", absl::Base64Escape(*robust), "\"");
  }
  if (h.dihedral) {
    out += ",\"dihedral\":{";
    for (int i = 0; i < kNumDihedral; ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", "\"", std::string(DihedralName(static_cast<Dihedral>(i))), "\":\"",
                      (*h.dihedral)[static_cast<size_t>(i)].ToHex(), "\"");
    }
    out += "}";
  }
  out += "}";
  return out;
}

}  // namespace
}  // namespace hashbank

extern "C" {

// Hashes the image file in data[0, size): PDQ with quality, MD5, SHA-256, the robust fingerprint (when the
// image has enough features) and, when `dihedral` is non-zero, PDQ of the 8 rotations and mirrors. Returns the
// JSON object `hashbank hash --json` prints (without "path"), or {"error":{"code","message"}} with the C++
// hasher's message.
EMSCRIPTEN_KEEPALIVE const char* hashbank_hash(const uint8_t* data, size_t size, int dihedral) {
  using namespace hashbank;
  ImageHasher hasher;  // the default limits, as `hashbank hash`
  const HashOptions options{.dihedral = dihedral != 0, .local_features = kRobustBankFeatures};
  absl::StatusOr<ImageHashes> h = hasher.HashBytes({data, size}, options);
  g_result = h.ok() ? HashesJson(*h) : ErrorJson(h.status());
  return g_result.c_str();
}

// The limits hashbank_hash applies, as {"max_file_bytes":N,"max_pixels":N}: the SDK refuses a larger file
// before copying it into the module's memory, with the hasher's own message.
EMSCRIPTEN_KEEPALIVE const char* hashbank_limits_json() {
  const hashbank::ImageLimits limits;
  g_result = absl::StrCat("{\"max_file_bytes\":", limits.max_file_bytes, ",\"max_pixels\":", limits.max_pixels, "}");
  return g_result.c_str();
}

}  // extern "C"
