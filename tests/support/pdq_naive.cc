#include "tests/support/pdq_naive.h"

#include <algorithm>
#include <cmath>

namespace hashbank::testing {
namespace {

void Box1D(const float* in, float* out, int length, int stride, int window) {
  const int half = (window + 2) / 2;
  const int p1 = half - 1, p2 = window - half + 1, p3 = length - window, p4 = half - 1;
  int li = 0, ri = 0, oi = 0, count = 0;
  float sum = 0.0f;
  for (int i = 0; i < p1; i++) { sum += in[ri]; count++; ri += stride; }
  for (int i = 0; i < p2; i++) { sum += in[ri]; count++; out[oi] = sum / static_cast<float>(count); ri += stride; oi += stride; }
  for (int i = 0; i < p3; i++) { sum += in[ri]; sum -= in[li]; out[oi] = sum / static_cast<float>(count); li += stride; ri += stride; oi += stride; }
  for (int i = 0; i < p4; i++) { sum -= in[li]; count--; out[oi] = sum / static_cast<float>(count); li += stride; oi += stride; }
}

}  // namespace

std::vector<uint8_t> NaivePreResize(const std::vector<uint8_t>& pixels, int cols, int rows, int channels,
                                    int* out_cols, int* out_rows) {
  if (cols <= 512 && rows <= 512) {
    *out_cols = cols;
    *out_rows = rows;
    return pixels;
  }
  std::vector<uint8_t> out(512 * 512 * static_cast<size_t>(channels));
  for (int y = 0; y < 512; y++) {
    for (int x = 0; x < 512; x++) {
      const long sy = static_cast<long>(y) * rows / 512, sx = static_cast<long>(x) * cols / 512;
      for (int c = 0; c < channels; c++) {
        out[(static_cast<size_t>(y) * 512 + static_cast<size_t>(x)) * static_cast<size_t>(channels) + static_cast<size_t>(c)] =
            pixels[(static_cast<size_t>(sy) * static_cast<size_t>(cols) + static_cast<size_t>(sx)) * static_cast<size_t>(channels) + static_cast<size_t>(c)];
      }
    }
  }
  *out_cols = 512;
  *out_rows = 512;
  return out;
}

NaivePdqOutput NaivePdq(const uint8_t* pixels, int cols, int rows, int channels, bool dihedral) {
  NaivePdqOutput result;
  if (rows < 5 || cols < 5) return result;
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  std::vector<float> b1(n), b2(n);
  for (size_t i = 0; i < n; i++) {
    if (channels == 1) {
      b1[i] = static_cast<float>(pixels[i]);
    } else {
      const float r = pixels[3 * i], g = pixels[3 * i + 1], b = pixels[3 * i + 2];
      const float rr = 0.299f * r, gg = 0.587f * g, bb = 0.114f * b;
      b1[i] = (rr + gg) + bb;
    }
  }
  std::vector<float> a(64 * 64);
  if (!dihedral && rows == 64 && cols == 64) {
    a = b1;
  } else {
    const int wr = (cols + 127) / 128, wc = (rows + 127) / 128;
    for (int pass = 0; pass < 2; pass++) {
      for (int r = 0; r < rows; r++) Box1D(&b1[static_cast<size_t>(r * cols)], &b2[static_cast<size_t>(r * cols)], cols, 1, wr);
      for (int c = 0; c < cols; c++) Box1D(&b2[static_cast<size_t>(c)], &b1[static_cast<size_t>(c)], rows, cols, wc);
    }
    for (int i = 0; i < 64; i++) {
      const int ii = static_cast<int>((i + 0.5) * rows / 64);
      for (int j = 0; j < 64; j++) {
        const int jj = static_cast<int>((j + 0.5) * cols / 64);
        a[static_cast<size_t>(i * 64 + j)] = b1[static_cast<size_t>(ii * cols + jj)];
      }
    }
  }
  result.downsampled = a;

  int gradient = 0;
  for (int i = 0; i < 63; i++)
    for (int j = 0; j < 64; j++) gradient += std::abs(static_cast<int>(((a[static_cast<size_t>(i * 64 + j)] - a[static_cast<size_t>((i + 1) * 64 + j)]) * 100.0f) / 255.0f));
  for (int i = 0; i < 64; i++)
    for (int j = 0; j < 63; j++) gradient += std::abs(static_cast<int>(((a[static_cast<size_t>(i * 64 + j)] - a[static_cast<size_t>(i * 64 + j + 1)]) * 100.0f) / 255.0f));
  result.quality = std::min(100, gradient / 90);

  float d[16][64];
  const float scale = static_cast<float>(std::sqrt(2.0 / 64.0));
  for (int i = 0; i < 16; i++)
    for (int k = 0; k < 64; k++) d[i][k] = static_cast<float>(scale * std::cos((M_PI / 2 / 64.0) * (i + 1) * (2 * k + 1)));
  float t[16][64];
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 64; j++) {
      float s = 0.0f;
      for (int k = 0; k < 64; k++) s += d[i][k] * a[static_cast<size_t>(k * 64 + j)];
      t[i][j] = s;
    }
  result.dct.assign(256, 0.0f);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      float s = 0.0f;
      for (int k = 0; k < 64; k++) s += t[i][k] * d[j][k];
      result.dct[static_cast<size_t>(i * 16 + j)] = s;
    }

  auto threshold = [](const std::vector<float>& v) {
    std::vector<float> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    Hash256 h;
    for (int k = 0; k < 256; k++)
      if (v[static_cast<size_t>(k)] > sorted[127]) h.SetBit(k);
    return h;
  };
  result.hashes[0] = threshold(result.dct);
  if (!dihedral) return result;
  // Section 2.10's table, one transform at a time.
  for (int t_index = 1; t_index < 8; t_index++) {
    std::vector<float> out(256);
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) {
        const float v = result.dct[static_cast<size_t>(i * 16 + j)];
        const float pi_ = (i % 2) ? v : -v, pj = (j % 2) ? v : -v, pij = ((i + j) % 2) ? -v : v;
        switch (t_index) {
          case 1: out[static_cast<size_t>(j * 16 + i)] = pj; break;
          case 2: out[static_cast<size_t>(i * 16 + j)] = pij; break;
          case 3: out[static_cast<size_t>(j * 16 + i)] = pi_; break;
          case 4: out[static_cast<size_t>(i * 16 + j)] = pi_; break;
          case 5: out[static_cast<size_t>(i * 16 + j)] = pj; break;
          case 6: out[static_cast<size_t>(j * 16 + i)] = v; break;
          case 7: out[static_cast<size_t>(j * 16 + i)] = pij; break;
        }
      }
    result.hashes[static_cast<size_t>(t_index)] = threshold(out);
  }
  return result;
}

}  // namespace hashbank::testing
