// Fuzzes the video decoder (hashing/video_decoder.h): arbitrary bytes, as a client may upload, go through
// FFmpeg's probing, demuxing and decoding under tight limits. Any input either decodes (every frame handed
// over whole, numbered in order and of the size asked for) or is refused with one of the documented status
// codes; nothing crashes, leaks or hangs. LooksLikeVideo sees the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "absl/status/status.h"
#include "hashing/video_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  (void)hashbank::LooksLikeVideo(bytes);

  const hashbank::VideoLimits limits{.max_file_bytes = size_t{1} << 20,
                                     .max_duration_seconds = 60,
                                     .max_width = 640,
                                     .max_height = 640,
                                     .max_pixels = 640 * 640,
                                     .max_frames = 50,
                                     .max_decode_seconds = 2};
  // The first byte picks the sampling and the output size, so both paths of the converter are exercised.
  const uint8_t pick = size > 0 ? data[0] : 0;
  hashbank::VideoDecodeOptions options;
  options.seconds_per_frame = (pick & 1) != 0 ? 0 : 0.5;
  if ((pick & 2) != 0) {
    options.downsample_width = 32;
    options.downsample_height = 24;
  }

  uint64_t next = 0;
  const hashbank::FrameSink sink = [&](const hashbank::RgbFrame& f, const hashbank::VideoInfo& info) -> absl::Status {
    if (f.pixels == nullptr || f.width <= 0 || f.height <= 0 || f.stride < 3 * f.width) std::abort();
    const int want_w = options.downsample_width > 0 ? options.downsample_width : info.width;
    const int want_h = options.downsample_height > 0 ? options.downsample_height : info.height;
    if (f.width != want_w || f.height != want_h) std::abort();
    if (f.number < next || info.decoded_frames == 0 || f.number >= info.decoded_frames) std::abort();
    if (info.width > limits.max_width || info.height > limits.max_height) std::abort();
    next = f.number + 1;
    // Every byte of the frame is readable (AddressSanitizer checks the reads).
    unsigned sum = 0;
    for (int y = 0; y < f.height; ++y) {
      const uint8_t* row = f.pixels + static_cast<ptrdiff_t>(y) * f.stride;
      for (int x = 0; x < 3 * f.width; ++x) sum += row[x];
    }
    if (sum == 0xFFFFFFFFu) std::abort();  // keeps the reads
    return absl::OkStatus();
  };

  hashbank::VideoInfo info;
  const absl::Status s = hashbank::DecodeVideo(bytes, limits, options, sink, &info);
  switch (s.code()) {
    case absl::StatusCode::kOk:
      if (info.decoded_frames == 0 || info.decoded_frames > limits.max_frames) std::abort();
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDeadlineExceeded:
      break;
    default:
      std::abort();  // not a documented outcome
  }
  return 0;
}
