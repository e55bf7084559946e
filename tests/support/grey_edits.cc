#include "tests/support/grey_edits.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>

#include "tests/support/image_encode.h"
#include "tests/support/test_data.h"

namespace hashbank::testing {

namespace {
size_t At(const GreyImage& image, int x, int y) {
  return static_cast<size_t>(y) * static_cast<size_t>(image.width) + static_cast<size_t>(x);
}
}  // namespace

GreyImage LoadGrey(const std::string& relative, int long_side) {
  const std::vector<uint8_t> file = ReadFileBytes(DataPath(relative));
  PreparedImage prepared;
  GreyImage grey;
  if (!PrepareImage(file, ImageLimits{}, &prepared, &grey, long_side).ok()) return GreyImage{};
  return grey;
}

GreyImage FlatGrey(int width, int height, uint8_t value) {
  GreyImage out;
  out.width = width;
  out.height = height;
  out.pixels.assign(static_cast<size_t>(width) * static_cast<size_t>(height), value);
  return out;
}

GreyImage CropGrey(const GreyImage& image, int x0, int y0, int width, int height) {
  GreyImage out = FlatGrey(width, height, 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) out.pixels[At(out, x, y)] = image.pixels[At(image, x0 + x, y0 + y)];
  }
  return out;
}

GreyImage HalveGrey(const GreyImage& image) {
  GreyImage out = FlatGrey(image.width / 2, image.height / 2, 0);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int sum = image.pixels[At(image, 2 * x, 2 * y)] + image.pixels[At(image, 2 * x + 1, 2 * y)] +
                      image.pixels[At(image, 2 * x, 2 * y + 1)] + image.pixels[At(image, 2 * x + 1, 2 * y + 1)];
      out.pixels[At(out, x, y)] = static_cast<uint8_t>((sum + 2) / 4);
    }
  }
  return out;
}

GreyImage DoubleGrey(const GreyImage& image) {
  GreyImage out = FlatGrey(image.width * 2, image.height * 2, 0);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) out.pixels[At(out, x, y)] = image.pixels[At(image, x / 2, y / 2)];
  }
  return out;
}

GreyImage PasteGrey(GreyImage canvas, const GreyImage& content, int x, int y) {
  for (int cy = 0; cy < content.height; ++cy) {
    for (int cx = 0; cx < content.width; ++cx) {
      const int tx = x + cx, ty = y + cy;
      if (tx < 0 || ty < 0 || tx >= canvas.width || ty >= canvas.height) continue;
      canvas.pixels[At(canvas, tx, ty)] = content.pixels[At(content, cx, cy)];
    }
  }
  return canvas;
}

GreyImage RotateGrey(const GreyImage& image, double degrees) {
  GreyImage out = FlatGrey(image.width, image.height, 0);
  const double t = degrees * std::numbers::pi / 180, c = std::cos(t), s = std::sin(t);
  const double cx = (image.width - 1) / 2.0, cy = (image.height - 1) / 2.0;
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const double dx = x - cx, dy = y - cy;
      const double sx = c * dx + s * dy + cx, sy = -s * dx + c * dy + cy;  // R(-t) (q - c) + c
      const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      if (x0 < 0 || y0 < 0 || x0 + 1 >= image.width || y0 + 1 >= image.height) continue;
      const double fx = sx - x0, fy = sy - y0;
      const double v = (1 - fy) * ((1 - fx) * image.pixels[At(image, x0, y0)] + fx * image.pixels[At(image, x0 + 1, y0)]) +
                       fy * ((1 - fx) * image.pixels[At(image, x0, y0 + 1)] + fx * image.pixels[At(image, x0 + 1, y0 + 1)]);
      out.pixels[At(out, x, y)] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  return out;
}

std::vector<uint8_t> GreyPng(const GreyImage& image) {
  return EncodePng(image.pixels, image.width, image.height, PNG_COLOR_TYPE_GRAY, 8);
}

}  // namespace hashbank::testing
