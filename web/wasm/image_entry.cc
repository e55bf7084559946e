// The image core's C entry points (hashbank_core.wasm), called by web/sdk/hashbank.js and its worker. They run
// the same ImageHasher as `hashbank hash --json` (node/cli/hash_command.cc) with the same default limits, so a
// browser's hashes are the node's, bit for bit. Videos go to the video core (video_entry.cc), loaded only when
// a video is hashed.
//
// Single-threaded (one instance per worker); the returned text is owned here and valid until the next call.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"
#include "hashing/video_decoder.h"  // VideoLimits (a plain struct; no FFmpeg)
#include "hashing/video_sniff.h"
#include "web/wasm/entry_json.h"

namespace {
std::string g_result;  // the last answer (see the contract above)
}  // namespace

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
  g_result = h.ok() ? wasm::ImageJson(*h) : wasm::ErrorJson(h.status());
  return g_result.c_str();
}

// Whether a file whose first bytes are head[0, size) is a video (what `hashbank hash` asks first).
EMSCRIPTEN_KEEPALIVE int hashbank_looks_like_video(const uint8_t* head, size_t size) {
  return hashbank::LooksLikeVideo({head, size}) ? 1 : 0;
}

// The limits the cores apply, as {"max_file_bytes","max_pixels","max_video_file_bytes"}: the SDK refuses a
// larger file before copying it into a module's memory, with the hasher's own message.
EMSCRIPTEN_KEEPALIVE const char* hashbank_limits_json() {
  const hashbank::ImageLimits limits;
  g_result = absl::StrCat("{\"max_file_bytes\":", limits.max_file_bytes, ",\"max_pixels\":", limits.max_pixels,
                          ",\"max_video_file_bytes\":", hashbank::VideoLimits{}.max_file_bytes, "}");
  return g_result.c_str();
}

}  // extern "C"
