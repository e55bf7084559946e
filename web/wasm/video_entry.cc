// The video core's C entry point (hashbank_video_core.wasm, loaded by the SDK only when a video is hashed: it
// carries FFmpeg's demuxers and decoders, compiled from Debian's source, and is ten times the image core).
// It runs the same VideoHasher as `hashbank hash --json` with the same default limits.
//
// Single-threaded (one instance per worker); the returned text is owned here and valid until the next call.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <string>

#include "hashing/video_decoder.h"
#include "hashing/vpdq.h"
#include "web/wasm/entry_json.h"

namespace {
std::string g_result;  // the last answer (see the contract above)
}  // namespace

extern "C" {

// Hashes the video file in data[0, size) as `hashbank hash --json --frame-interval S` does: vPDQ of the
// sampled frames, the keyframes' robust fingerprints, MD5, SHA-256. Returns its JSON (without "path"), or {"error":{"code","message"}}.
EMSCRIPTEN_KEEPALIVE const char* hashbank_hash_video(const uint8_t* data, size_t size, double seconds_per_frame) {
  using namespace hashbank;
  VideoHasher hasher(VideoLimits{});
  // The keyframes a node banks (8 of 64 features), as `hashbank hash --json` prints them.
  absl::StatusOr<VideoHashes> h = hasher.Hash(
      {data, size}, VideoDecodeOptions{.seconds_per_frame = seconds_per_frame, .downsample_width = 0, .downsample_height = 0},
      {}, {}, kBankKeyframes);
  g_result = h.ok() ? wasm::VideoJson(*h) : wasm::ErrorJson(h.status());
  return g_result.c_str();
}

}  // extern "C"
