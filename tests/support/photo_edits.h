// RGB photos for tests that send images to a node: load a test photo as the decoder sees it, crop and mirror
// it like a repost, encode it as JPEG bytes ready for a request body.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hashbank::testing {

struct RgbPhoto {
  std::vector<uint8_t> rgb;  // width * height * 3, row-major
  int width = 0, height = 0;
};

// The decoder's RGB sample of a file under tests/data (PrepareImageForPdq: 512 x 512 for larger photos).
// Fails the calling test (gtest EXPECT) if the file is not an RGB image.
RgbPhoto LoadRgbPhoto(const std::string& relative_to_test_data);

// The part [x0, x1) x [y0, y1), mirrored left to right when asked: a reposted edit.
RgbPhoto CropMirror(const RgbPhoto& photo, int x0, int y0, int x1, int y1, bool mirror);

// JPEG bytes of the photo, as a string for an HTTP body.
std::string JpegString(const RgbPhoto& photo, int quality);

}  // namespace hashbank::testing
