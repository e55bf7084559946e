// Encoders for test images, so tests can make exact inputs (and then damage them).
#pragma once

#include <cstdint>
#include <vector>

namespace hashbank::testing {

// channels: 1 (grey) or 3 (RGB). quality 1..100.
std::vector<uint8_t> EncodeJpeg(const std::vector<uint8_t>& pixels, int width, int height, int channels,
                                int quality, bool progressive = false);

// color_type is libpng's (PNG_COLOR_TYPE_*); pixels hold `channels` samples of bit_depth bits per pixel
// (16-bit samples big-endian, as PNG stores them). palette: RGB triplets for PNG_COLOR_TYPE_PALETTE.
std::vector<uint8_t> EncodePng(const std::vector<uint8_t>& pixels, int width, int height, int color_type,
                               int bit_depth, bool interlaced = false, const std::vector<uint8_t>& palette = {});

// Deterministic pseudo-random image with smooth structure plus noise, like a photo.
std::vector<uint8_t> SyntheticImage(int width, int height, int channels, uint32_t seed);

// A PNG consisting only of a valid signature and IHDR chunk (correct CRC) claiming width x height.
std::vector<uint8_t> PngHeaderOnly(uint32_t width, uint32_t height);

}  // namespace hashbank::testing
