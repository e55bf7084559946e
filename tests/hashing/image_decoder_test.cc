// Hostile and unusual inputs: each gets a specific error (never a crash, never a partial hash), and the
// reference's load-step rules (grey, alpha, palette, 16-bit, interlace) hold.
#include "hashing/image_decoder.h"

#include <gtest/gtest.h>
#include <png.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "hashing/image_hasher.h"
#include "tests/support/image_encode.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::EncodeJpeg;
using testing::EncodePng;
using testing::SyntheticImage;

std::vector<uint8_t> Bytes(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

absl::Status Prepare(const std::vector<uint8_t>& file, ImageLimits limits = {}) {
  PreparedImage image;
  return PrepareImageForPdq(file, limits, &image);
}

bool Contains(const absl::Status& s, std::string_view text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(ImageDecoderTest, EmptyFileIsInvalidArgument) {
  const absl::Status s = Prepare({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "empty")) << s;
}

TEST(ImageDecoderTest, UnknownBytesAreUnimplemented) {
  const absl::Status s = Prepare(Bytes("this is not an image at all"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
}

TEST(ImageDecoderTest, RecognisedButUnsupportedFormatsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"GIF89a\x01\x00\x01\x00", "GIF"},
      {std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16), "WebP"},
      {"BM\x36\x00\x00\x00", "BMP"},
      {std::string("II*\0\x08\0\0\0", 8), "TIFF"},
      {std::string("\0\0\0\x18" "ftypheic", 12), "HEIF"}};
  for (const auto& [bytes, name] : cases) {
    const absl::Status s = Prepare(Bytes(bytes));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << name;
    EXPECT_TRUE(Contains(s, name)) << s;
  }
}

TEST(ImageDecoderTest, FileOverTheByteLimitIsRefused) {
  const auto jpeg = EncodeJpeg(SyntheticImage(64, 64, 3, 1), 64, 64, 3, 90);
  ImageLimits limits;
  limits.max_file_bytes = jpeg.size() - 1;
  EXPECT_EQ(Prepare(jpeg, limits).code(), absl::StatusCode::kResourceExhausted);
  limits.max_file_bytes = jpeg.size();
  EXPECT_TRUE(Prepare(jpeg, limits).ok());
}

TEST(ImageDecoderTest, PixelLimitIsInclusive) {
  const auto jpeg = EncodeJpeg(SyntheticImage(40, 25, 3, 2), 40, 25, 3, 90);
  ImageLimits limits;
  limits.max_pixels = 1000;
  EXPECT_TRUE(Prepare(jpeg, limits).ok());
  limits.max_pixels = 999;
  const absl::Status s = Prepare(jpeg, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(s, "40x25")) << s;
}

TEST(ImageDecoderTest, PngHeaderClaimingTenGigapixelsIsRefusedBeforeDecoding) {
  const absl::Status s = Prepare(testing::PngHeaderOnly(100000, 100000));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(s, "100000x100000")) << s;
}

// Rewrites the SOF0 frame size of a baseline JPEG.
std::vector<uint8_t> WithJpegSize(std::vector<uint8_t> jpeg, uint16_t width, uint16_t height) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = static_cast<uint8_t>(height >> 8);
      jpeg[i + 6] = static_cast<uint8_t>(height & 0xFF);
      jpeg[i + 7] = static_cast<uint8_t>(width >> 8);
      jpeg[i + 8] = static_cast<uint8_t>(width & 0xFF);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no SOF0 marker";
  return jpeg;
}

TEST(ImageDecoderTest, JpegHeaderClaimingFourGigapixelsIsRefusedBeforeDecoding) {
  const auto small = EncodeJpeg(SyntheticImage(32, 32, 3, 3), 32, 32, 3, 90);
  const absl::Status s = Prepare(WithJpegSize(small, 65000, 65000));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Contains(s, "65000x65000")) << s;
}

TEST(ImageDecoderTest, JpegClaimingMoreRowsThanItHasIsTruncated) {
  // 3000 x 3000 claimed, 32 x 32 worth of data: under the pixel limit, so decoding starts and runs dry.
  const auto small = EncodeJpeg(SyntheticImage(32, 32, 3, 4), 32, 32, 3, 90);
  const absl::Status s = Prepare(WithJpegSize(small, 3000, 3000));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "truncated")) << s;
}

TEST(ImageDecoderTest, TruncatedJpegIsRefusedAtEveryCut) {
  const auto jpeg = EncodeJpeg(SyntheticImage(200, 150, 3, 5), 200, 150, 3, 90);
  for (size_t cut : {size_t{3}, size_t{20}, size_t{200}, jpeg.size() / 2, jpeg.size() - 3}) {
    const std::vector<uint8_t> part(jpeg.begin(), jpeg.begin() + static_cast<long>(cut));
    const absl::Status s = Prepare(part);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "cut " << cut << ": " << s;
    EXPECT_TRUE(Contains(s, "truncated") || Contains(s, "corrupt")) << s;
  }
}

TEST(ImageDecoderTest, CorruptJpegHeaderIsInvalidArgument) {
  auto jpeg = EncodeJpeg(SyntheticImage(32, 32, 3, 6), 32, 32, 3, 90);
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 9] = 0;  // zero components
      break;
    }
  }
  const absl::Status s = Prepare(jpeg);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "corrupt JPEG")) << s;
}

TEST(ImageDecoderTest, RandomByteDamageNeverCrashes) {
  const auto jpeg = EncodeJpeg(SyntheticImage(120, 90, 3, 7), 120, 90, 3, 85);
  const auto png = EncodePng(SyntheticImage(120, 90, 3, 8), 120, 90, PNG_COLOR_TYPE_RGB, 8);
  std::mt19937 rng(99);
  int errors = 0;
  for (const auto* original : {&jpeg, &png}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<uint8_t> damaged = *original;
      for (int k = 0; k < 4; ++k) damaged[4 + rng() % (damaged.size() - 4)] ^= static_cast<uint8_t>(1 + rng() % 255);
      PreparedImage image;
      const absl::Status s = PrepareImageForPdq(damaged, ImageLimits{}, &image);
      if (!s.ok()) {
        ++errors;
        EXPECT_TRUE(s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kResourceExhausted ||
                    s.code() == absl::StatusCode::kUnimplemented)
            << s;
      } else {
        EXPECT_EQ(image.pixels.size(), static_cast<size_t>(image.width * image.height * image.channels));
      }
    }
  }
  EXPECT_GT(errors, 0);  // PNG's CRCs alone guarantee some
}

TEST(ImageDecoderTest, TruncatedPngIsInvalidArgument) {
  const auto png = EncodePng(SyntheticImage(100, 80, 3, 9), 100, 80, PNG_COLOR_TYPE_RGB, 8);
  const std::vector<uint8_t> part(png.begin(), png.begin() + static_cast<long>(png.size() / 2));
  const absl::Status s = Prepare(part);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "truncated PNG")) << s;
}

TEST(ImageDecoderTest, PngWithBadChunkCrcIsCorrupt) {
  auto png = EncodePng(SyntheticImage(100, 80, 3, 10), 100, 80, PNG_COLOR_TYPE_RGB, 8);
  png[33 + 8 + 10] ^= 0x55;  // inside the first IDAT's data: its CRC no longer matches
  const absl::Status s = Prepare(png);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "corrupt PNG")) << s;
}

TEST(ImageDecoderTest, RgbWithEqualChannelsTakesTheGreyPath) {
  const auto grey = SyntheticImage(90, 70, 1, 11);
  std::vector<uint8_t> rgb;
  for (uint8_t v : grey) rgb.insert(rgb.end(), {v, v, v});
  PreparedImage a, b;
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(rgb, 90, 70, PNG_COLOR_TYPE_RGB, 8), {}, &a).ok());
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(grey, 90, 70, PNG_COLOR_TYPE_GRAY, 8), {}, &b).ok());
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(b.channels, 1);
  EXPECT_EQ(a.pixels, grey);
  EXPECT_EQ(b.pixels, grey);
  // One coloured pixel anywhere, even in a row the 512 pre-resize would skip, keeps the image RGB.
  rgb[3 * 45 + 1] ^= 1;
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(rgb, 90, 70, PNG_COLOR_TYPE_RGB, 8), {}, &a).ok());
  EXPECT_EQ(a.channels, 3);
}

TEST(ImageDecoderTest, AlphaIsDroppedWithoutCompositing) {
  const auto rgb = SyntheticImage(80, 60, 3, 12);
  std::vector<uint8_t> rgba;
  for (size_t i = 0; i < rgb.size() / 3; ++i) {
    const bool right_half = (i % 80) >= 40;
    rgba.insert(rgba.end(), {rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], static_cast<uint8_t>(right_half ? 0 : 255)});
  }
  PreparedImage a, b;
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(rgba, 80, 60, PNG_COLOR_TYPE_RGB_ALPHA, 8), {}, &a).ok());
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(rgb, 80, 60, PNG_COLOR_TYPE_RGB, 8), {}, &b).ok());
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.pixels, b.pixels);
}

TEST(ImageDecoderTest, SixteenBitSamplesAreScaledNotTruncated) {
  const auto grey = SyntheticImage(50, 40, 1, 13);
  std::vector<uint8_t> wide;  // v * 257 big-endian: scales back to exactly v
  for (uint8_t v : grey) wide.insert(wide.end(), {v, v});
  PreparedImage image;
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(wide, 50, 40, PNG_COLOR_TYPE_GRAY, 16), {}, &image).ok());
  EXPECT_EQ(image.pixels, grey);
}

TEST(ImageDecoderTest, PaletteAndInterlacedPngsExpandToTheSamePixels) {
  std::vector<uint8_t> palette;
  for (int i = 0; i < 256; ++i) {
    palette.insert(palette.end(), {static_cast<uint8_t>(i), static_cast<uint8_t>(255 - i), static_cast<uint8_t>(i * 7)});
  }
  const auto indices = SyntheticImage(64, 48, 1, 14);
  std::vector<uint8_t> rgb;
  for (uint8_t v : indices) rgb.insert(rgb.end(), {palette[3u * v], palette[3u * v + 1], palette[3u * v + 2]});
  PreparedImage from_palette, interlaced;
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(indices, 64, 48, PNG_COLOR_TYPE_PALETTE, 8, false, palette), {}, &from_palette).ok());
  ASSERT_TRUE(PrepareImageForPdq(EncodePng(rgb, 64, 48, PNG_COLOR_TYPE_RGB, 8, true), {}, &interlaced).ok());
  EXPECT_EQ(from_palette.pixels, rgb);
  EXPECT_EQ(interlaced.pixels, rgb);
}

TEST(ImageDecoderTest, GreyAndProgressiveJpegsDecode) {
  const auto grey = SyntheticImage(120, 100, 1, 15);
  PreparedImage image;
  ASSERT_TRUE(PrepareImageForPdq(EncodeJpeg(grey, 120, 100, 1, 90), {}, &image).ok());
  EXPECT_EQ(image.channels, 1);
  const auto rgb = SyntheticImage(120, 100, 3, 16);
  PreparedImage baseline, progressive;
  ASSERT_TRUE(PrepareImageForPdq(EncodeJpeg(rgb, 120, 100, 3, 90, false), {}, &baseline).ok());
  ASSERT_TRUE(PrepareImageForPdq(EncodeJpeg(rgb, 120, 100, 3, 90, true), {}, &progressive).ok());
  // Progressive coding only reorders the same quantised coefficients.
  EXPECT_EQ(baseline.pixels, progressive.pixels);
}

TEST(ImageHasherTest, FilesystemErrorsAreSpecific) {
  ImageHasher hasher;
  EXPECT_EQ(hasher.HashFile("/nonexistent/x.jpg", false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hasher.HashFile(std::filesystem::temp_directory_path().string(), false).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ImageHasherTest, OversizedFileIsRefusedWithoutReadingIt) {
  const std::string path = (std::filesystem::temp_directory_path() / "hashbank-oversized.bin").string();
  {
    std::ofstream f(path, std::ios::binary);
    f.seekp(2 << 20);
    f.put('x');  // sparse 2 MiB file
  }
  ImageLimits limits;
  limits.max_file_bytes = 1 << 20;
  ImageHasher hasher(limits);
  EXPECT_EQ(hasher.HashFile(path, false).status().code(), absl::StatusCode::kResourceExhausted);
  std::remove(path.c_str());
}

TEST(ImageHasherTest, ExactHashesAreOfTheFileBytes) {
  const auto jpeg = EncodeJpeg(SyntheticImage(64, 64, 3, 17), 64, 64, 3, 90);
  ImageHasher hasher;
  auto h = hasher.HashBytes(jpeg, false);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->exact.sha256, ComputeExactHashes(jpeg).sha256);
  EXPECT_EQ(h->format, ImageFormat::kJpeg);
}

// The model input (DecodeOutputs::rgb), hand-computed. Down: 4x2 RGB to 2x1, each output the rounded mean of a
// 2x2 box. Up: 2x1 to 4x3 by nearest neighbour. Mixed: 4x1 to 2x2, averaged across, repeated down.
TEST(ImageDecoderTest, ModelInputIsAreaAveragedDownAndStretchedUp) {
  const std::vector<uint8_t> px = {
      10, 20, 30,  12, 22, 33,  100, 0, 0,  101, 0, 255,  //
      11, 21, 31,  13, 23, 34,  0, 100, 0,  1, 1, 0,      //
  };
  const std::vector<uint8_t> png = EncodePng(px, 4, 2, PNG_COLOR_TYPE_RGB, 8);
  PreparedImage prepared;
  RgbImage rgb;
  ASSERT_TRUE(PrepareImage(png, {}, &prepared, DecodeOutputs{.rgb = &rgb, .rgb_width = 2, .rgb_height = 1}).ok());
  ASSERT_EQ(rgb.width, 2);
  ASSERT_EQ(rgb.height, 1);
  // (10+12+11+13)/4 = 11.5 -> 12 (round half up); (20+22+21+23)/4 = 21.5 -> 22; (30+33+31+34)/4 = 32.
  // (100+101+0+1)/4 = 50.5 -> 51; (0+0+100+1)/4 = 25.25 -> 25; (0+255+0+0)/4 = 63.75 -> 64.
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{12, 22, 32, 51, 25, 64}));

  const std::vector<uint8_t> two = {0, 50, 100, 200, 150, 250};
  ASSERT_TRUE(PrepareImage(EncodePng(two, 2, 1, PNG_COLOR_TYPE_RGB, 8), {}, &prepared,
                           DecodeOutputs{.rgb = &rgb, .rgb_width = 4, .rgb_height = 3})
                  .ok());
  ASSERT_EQ(rgb.pixels.size(), 4u * 3u * 3u);
  for (int y = 0; y < 3; ++y) {
    const std::vector<uint8_t> row(rgb.pixels.begin() + y * 12, rgb.pixels.begin() + (y + 1) * 12);
    EXPECT_EQ(row, (std::vector<uint8_t>{0, 50, 100, 0, 50, 100, 200, 150, 250, 200, 150, 250})) << "row " << y;
  }

  const std::vector<uint8_t> grey = {0, 10, 200, 255};  // one channel: R = G = B
  ASSERT_TRUE(PrepareImage(EncodePng(grey, 4, 1, PNG_COLOR_TYPE_GRAY, 8), {}, &prepared,
                           DecodeOutputs{.rgb = &rgb, .rgb_width = 2, .rgb_height = 2})
                  .ok());
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{5, 5, 5, 228, 228, 228, 5, 5, 5, 228, 228, 228}));

  EXPECT_EQ(PrepareImage(png, {}, &prepared, DecodeOutputs{.rgb = &rgb, .rgb_width = 0, .rgb_height = 3}).code(),
            absl::StatusCode::kInvalidArgument);
}

// The luma for local features is the same whether or not the model input is made in the same decode.
TEST(ImageDecoderTest, ModelInputLeavesTheOtherOutputsUnchanged) {
  const auto jpeg = EncodeJpeg(SyntheticImage(300, 200, 3, 5), 300, 200, 3, 90);
  PreparedImage a, b;
  GreyImage ga, gb;
  RgbImage rgb;
  ASSERT_TRUE(PrepareImage(jpeg, {}, &a, &ga, 128).ok());
  ASSERT_TRUE(PrepareImage(jpeg, {}, &b, DecodeOutputs{.grey = &gb, .grey_long_side = 128, .rgb = &rgb,
                                                       .rgb_width = 37, .rgb_height = 53})
                  .ok());
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(ga.pixels, gb.pixels);
  EXPECT_EQ(ga.width, gb.width);
  EXPECT_EQ(rgb.width, 37);
  EXPECT_EQ(rgb.height, 53);
  EXPECT_EQ(rgb.pixels.size(), 37u * 53u * 3u);
}

}  // namespace
}  // namespace hashbank
