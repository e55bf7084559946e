#include "tests/support/photo_edits.h"

#include <gtest/gtest.h>

#include "hashing/image_decoder.h"
#include "tests/support/image_encode.h"
#include "tests/support/test_data.h"

namespace hashbank::testing {

RgbPhoto LoadRgbPhoto(const std::string& relative_to_test_data) {
  const std::vector<uint8_t> file = ReadFileBytes(DataPath(relative_to_test_data));
  PreparedImage prepared;
  EXPECT_TRUE(PrepareImageForPdq(file, ImageLimits{}, &prepared).ok()) << relative_to_test_data;
  EXPECT_EQ(prepared.channels, 3) << relative_to_test_data;
  return {prepared.pixels, prepared.width, prepared.height};
}

RgbPhoto CropMirror(const RgbPhoto& photo, int x0, int y0, int x1, int y1, bool mirror) {
  RgbPhoto out;
  out.width = x1 - x0;
  out.height = y1 - y0;
  for (int y = y0; y < y1; ++y) {
    for (int i = 0; i < out.width; ++i) {
      const int x = mirror ? x1 - 1 - i : x0 + i;
      const size_t at = (static_cast<size_t>(y) * static_cast<size_t>(photo.width) + static_cast<size_t>(x)) * 3;
      for (size_t c = 0; c < 3; ++c) out.rgb.push_back(photo.rgb[at + c]);
    }
  }
  return out;
}

std::string JpegString(const RgbPhoto& photo, int quality) {
  const std::vector<uint8_t> bytes = EncodeJpeg(photo.rgb, photo.width, photo.height, 3, quality);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace hashbank::testing
