// PrepareImageForPdq: decode an image file in memory into exactly the 8-bit buffer Meta's PDQ reference
// hashes after its load step (ImageMagick `convert FILE pnm:-`, then CImg's resize), with limits checked
// before any pixel is decoded.
//
// The reference's load step, reproduced (shared/pdq-reference/ALGORITHM.md section 1 and 2.1):
// - JPEG through libjpeg-turbo with default settings (ISLOW IDCT, fancy upsampling); CMYK/YCCK converted
//   with the simple (1-C)(1-K) rule, no ICC profile; EXIF orientation ignored (the stored grid is hashed).
// - PNG through libpng: palette and 1/2/4-bit expanded to 8 bits, alpha dropped without compositing.
//   16-bit samples are scaled to 8 bits with rounding (the reference keeps the low byte, a bug not copied).
// - If every decoded pixel has R == G == B, the image is one-channel grey (ImageMagick writes P5 then).
// - If a side is over 512, nearest-neighbour resample to exactly 512x512, top-left sampling:
//   output (x, y) = input (x*W/512, y*H/512) in integer arithmetic.
//
// Errors (never a crash, never a partial result):
//   InvalidArgument     empty, truncated or corrupt data; message says which
//   ResourceExhausted   file larger than max_file_bytes, or width*height above max_pixels (checked from the
//                       header, before decoding), or the decoder's memory cap reached
//   Unimplemented       a format other than JPEG or PNG (message names it when recognised)
// Thread-safe: no shared state; `out` is reused so a caller hashing many files allocates once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace hashbank {

struct ImageLimits {
  size_t max_file_bytes = size_t{64} << 20;  // 64 MiB
  uint64_t max_pixels = 100'000'000;         // decoded width * height (a 100 MP camera still fits)
};

enum class ImageFormat { kJpeg, kPng };
std::string_view ImageFormatName(ImageFormat format);

struct PreparedImage {
  ImageFormat format = ImageFormat::kJpeg;
  int original_width = 0;   // as stored in the file
  int original_height = 0;
  int width = 0;            // of `pixels`: the original, or 512 x 512 after the pre-resize
  int height = 0;
  int channels = 0;         // 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;  // height * width * channels, row-major
};

// The side above which the reference resamples to kPdqPreResize x kPdqPreResize.
inline constexpr int kPdqPreResize = 512;

absl::Status PrepareImageForPdq(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out);

// An 8-bit luma image, row-major, width * height bytes.
struct GreyImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// PrepareImageForPdq, and in the same decode (when `grey` is not null) the image's luma for local features:
// aspect kept, area-averaged down so the long side is at most `grey_long_side` (never upscaled), in integer
// arithmetic ((77 R + 150 G + 29 B + 128) >> 8; rounded means), so the same on every machine. Same errors, plus
// InvalidArgument for a non-positive grey_long_side.
absl::Status PrepareImage(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                          GreyImage* grey, int grey_long_side);

// An 8-bit RGB image, row-major, width * height * 3 bytes (R, G, B).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// Images made in the same decode as PDQ's input; each is made when its pointer is set.
struct DecodeOutputs {
  GreyImage* grey = nullptr;  // luma for local features, as PrepareImage above
  int grey_long_side = 0;
  // An embedding model's input: exactly rgb_width x rgb_height, aspect not kept. Each side longer than its
  // target is area-averaged (source index i goes to i * target / side; an output sample is the rounded mean
  // of its sources, in integers); each side shorter is then stretched by nearest neighbour (output j takes
  // j * side / target). A grey image gives R = G = B. The same bytes on every machine.
  RgbImage* rgb = nullptr;
  int rgb_width = 0;
  int rgb_height = 0;
};

// The largest rgb_width / rgb_height DecodeOutputs may ask for.
inline constexpr int kMaxRgbSide = 8192;

// Same errors as above, plus InvalidArgument for a non-positive grey_long_side, or an rgb_width or rgb_height
// outside 1..kMaxRgbSide, when the image is asked for.
absl::Status PrepareImage(std::span<const uint8_t> file, const ImageLimits& limits, PreparedImage* out,
                          const DecodeOutputs& extra);

// The luma of a decoded RGB24 image (a video frame; rows `stride` bytes apart), area-averaged so the long side
// is at most `long_side`, exactly as PrepareImage makes it for local features. `long_side` must be positive.
void GreyFromRgb(const uint8_t* rgb, int width, int height, int stride, int long_side, GreyImage* out);

}  // namespace hashbank
