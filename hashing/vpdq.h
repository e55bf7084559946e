// vPDQ: a video's fingerprint as Meta's reference computes it (facebook/ThreatExchange vpdq/): the PDQ hash
// and quality of sampled frames, each with its frame number and timestamp (frame number / frame rate). With
// the video file's MD5 and SHA-256, it is what a node banks for a video.
//
// Frames come from DecodeVideo (hashing/video_decoder.h) as RGB24 at the stream's size and are hashed by
// the project's PDQ (reference-exact on a pixel buffer), as the reference hashes them (fillFloatLumaFromRGB,
// then the Jarosz filter from the full frame).
//
// The reference's text format, one frame per line: `frame_number,quality,pdq_hex,timestamp` with the
// timestamp to three decimals.
//
// Thread-safe: a VideoHasher owns a PdqHasher and is not thread-safe (one per thread); the free functions
// are. Errors: DecodeVideo's; ParseVpdqText: InvalidArgument naming the line.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "hashing/exact_hash.h"
#include "hashing/hash256.h"
#include "hashing/local_features.h"
#include "hashing/pdq_hasher.h"
#include "hashing/robust_fingerprint.h"
#include "hashing/video_decoder.h"

namespace hashbank {

struct VpdqFrame {
  Hash256 pdq;
  int quality = 0;          // 0..100
  uint64_t frame_number = 0;
  double timestamp = 0;     // seconds
  Hash256 mirrored;         // the PDQ of the frame's left-right mirror image (only when asked for)
  Hash256 unbordered;       // the PDQ of the frame without its black bars (when asked for; else = pdq)
  bool bordered = false;    // whether bars were found and cut off for `unbordered`
};

// What a query hashes besides the reference's frame PDQ.
struct VideoQueryVariants {
  bool mirrored = false;       // each frame's left-right mirror (from the same DCT)
  bool strip_borders = false;  // each frame without letterbox / pillarbox bars (FindContentBox)
};

// Keyframes: a few sampled frames spread evenly over the video, with their local features (the robust
// fingerprint's, hashing/local_features.h), so that crops and overlays that defeat frame PDQs are caught.
// Selection needs no duration: every `stride`-th sampled frame is kept (stride 1 at first); when more than
// `count` are kept, every other one is dropped and the stride doubles. A video of n sampled frames ends with
// min(n, count/2 + 1 .. count) keyframes, the first at its first sampled frame. Deterministic.
struct KeyframeOptions {
  int count = 0;             // at most this many keyframes (0: none)
  int features = 0;          // local features per keyframe (kRobustBankFeatures to bank, kRobustQueryFeatures to query)
  bool mirrored = false;     // also the features of each keyframe's mirror image (queries)
};

struct VideoKeyframe {
  double timestamp = 0;      // seconds, as the frame's VpdqFrame
  int width = 0, height = 0; // the frame's
  std::vector<LocalFeature> features;  // raw (unsalted)
  std::vector<LocalFeature> mirrored;  // when asked for
};

// The keyframes a banked video keeps (the node, `hashbank hash --json` and the browser SDK), and those a query
// video compares.
inline constexpr size_t kMaxVideoKeyframes = 8;
inline constexpr KeyframeOptions kBankKeyframes{.count = static_cast<int>(kMaxVideoKeyframes),
                                                .features = kRobustBankFeatures, .mirrored = false};
inline constexpr KeyframeOptions kQueryKeyframes{.count = 16, .features = kRobustQueryFeatures, .mirrored = true};

// The box of a frame's content inside black bars (letterbox, pillarbox, a phone's re-recording frame): rows
// and columns from the edges inward whose luma is all below 40 and within 24 of each other are bars. Returns
// false (no bars) unless the bars take at least 4 % of a side and the content keeps at least half of each.
struct ContentBox {
  int x = 0, y = 0, width = 0, height = 0;
};
bool FindContentBox(const uint8_t* rgb, int width, int height, int stride, ContentBox* box);

struct VideoHashes {
  std::vector<VpdqFrame> frames;
  std::vector<VideoKeyframe> keyframes;  // when asked for (KeyframeOptions)
  ExactHashes exact;       // of the whole file
  VideoInfo info;
  double seconds_per_frame = 0;  // the sampling used (0: every frame)

  // The media time one sampled frame stands for: floor(seconds_per_frame x fps) frames (at least one) / fps.
  double FrameInterval() const;
};

class VideoHasher {
 public:
  explicit VideoHasher(VideoLimits limits) : limits_(limits) {}
  // Decodes and hashes. `progress` (may be empty) is called after each hashed frame with the media time
  // reached and the container's duration (0 if unknown).
  // `variants`: the query-side hashes to add to each frame (no second decode); `keyframes`: the keyframes
  // and their features (in the same decode; each kept frame's luma at kLocalFeatureSide waits in memory
  // until the end, at most count + 1 of them).
  absl::StatusOr<VideoHashes> Hash(std::span<const uint8_t> file, const VideoDecodeOptions& options,
                                   const std::function<void(double done, double total)>& progress = {},
                                   const VideoQueryVariants& variants = {}, const KeyframeOptions& keyframes = {});
  const VideoLimits& limits() const { return limits_; }

 private:
  VideoLimits limits_;
  PdqHasher pdq_;
  std::vector<uint8_t> packed_, inner_;  // a frame without row padding
};

// The keyframes a bank keeps of a hashed video: those with enough features for a robust fingerprint
// (BankableRobust), each encoded with raw descriptors, with its time in seconds.
std::vector<std::pair<std::string, double>> BankableKeyframes(const VideoHashes& h);

// The reference's text lines (each ending in '\n').
std::string FormatVpdqText(std::span<const VpdqFrame> frames);
// Parses the reference's text (blank lines ignored). InvalidArgument naming the first bad line.
absl::StatusOr<std::vector<VpdqFrame>> ParseVpdqText(std::string_view text);

}  // namespace hashbank
