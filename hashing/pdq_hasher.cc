#include "hashing/pdq_hasher.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace hashbank {
namespace {

constexpr int kMinSide = 5;
constexpr int kOut = 64;

// Hot loops get an AVX2 clone where the CPU has it; per-lane IEEE arithmetic gives identical bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define HASHBANK_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define HASHBANK_MULTIVERSION
#endif

// The reference's window size: (old + 2*new - 1) / (2*new) with new = 64.
int JaroszWindow(int old_size) { return (old_size + 2 * kOut - 1) / (2 * kOut); }

// Luma into a row-major float buffer. RGB: 0.299R + 0.587G + 0.114B as float products summed left to
// right; grey: the value itself (the reference's one-channel path, which differs from R=G=B in the last bit).
HASHBANK_MULTIVERSION
void Luma(const uint8_t* __restrict px, size_t count, int channels, float* __restrict out) {
  if (channels == 1) {
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<float>(px[i]);
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    const float r = static_cast<float>(px[3 * i]);
    const float g = static_cast<float>(px[3 * i + 1]);
    const float b = static_cast<float>(px[3 * i + 2]);
    out[i] = 0.299f * r + 0.587f * g + 0.114f * b;
  }
}

// A leading dimension (floats per stored line) padded off powers of two: 512-float lines would map every
// line of a transpose block to the same few L1 sets.
size_t PaddedStride(int n) { return (static_cast<size_t>(n) + 15) / 16 * 16 + 16; }

// out (cols x rows, line stride out_ld) = transpose of in (rows x cols, line stride in_ld), in 16 x 16 tiles
// of 4 x 4 register transposes where SSE is available. A transpose moves floats; it does no arithmetic.
void Transpose(const float* __restrict in, int rows, int cols, size_t in_ld, float* __restrict out, size_t out_ld) {
  constexpr size_t kBlock = 16;
  const size_t r_n = static_cast<size_t>(rows), c_n = static_cast<size_t>(cols);
  for (size_t r0 = 0; r0 < r_n; r0 += kBlock) {
    const size_t r1 = std::min(r_n, r0 + kBlock);
    for (size_t c0 = 0; c0 < c_n; c0 += kBlock) {
      const size_t c1 = std::min(c_n, c0 + kBlock);
      size_t r = r0;
#if defined(__SSE2__)
      for (; r + 4 <= r1; r += 4) {
        size_t c = c0;
        for (; c + 4 <= c1; c += 4) {
          __m128 x0 = _mm_loadu_ps(in + r * in_ld + c);
          __m128 x1 = _mm_loadu_ps(in + (r + 1) * in_ld + c);
          __m128 x2 = _mm_loadu_ps(in + (r + 2) * in_ld + c);
          __m128 x3 = _mm_loadu_ps(in + (r + 3) * in_ld + c);
          _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
          _mm_storeu_ps(out + c * out_ld + r, x0);
          _mm_storeu_ps(out + (c + 1) * out_ld + r, x1);
          _mm_storeu_ps(out + (c + 2) * out_ld + r, x2);
          _mm_storeu_ps(out + (c + 3) * out_ld + r, x3);
        }
        for (; c < c1; ++c) {
          for (size_t k = r; k < r + 4; ++k) out[c * out_ld + k] = in[k * in_ld + c];
        }
      }
#endif
      for (; r < r1; ++r) {
        for (size_t c = c0; c < c1; ++c) out[c * out_ld + r] = in[r * in_ld + c];
      }
    }
  }
}

// The reference's running-sum 1-D box filter (box1DFloat), applied to `nlines` independent lines at once.
// Sample t of line l is in[t * ld + l] (ld >= nlines); the sums of all lines advance together, which vectorises across
// lines while each line sees exactly the reference's sequence of float operations. When `need` is given,
// output t is computed only where need[t] != 0 (the running sums are still advanced through every sample).
HASHBANK_MULTIVERSION
void BoxLines(const float* __restrict in, float* __restrict out, int length, int nlines, size_t ld, int window,
              const uint8_t* need, float* __restrict sums) {
  const int half = (window + 2) / 2;
  const int phase1 = half - 1;
  const int phase2 = window - half + 1;
  const int phase3 = length - window;
  const int phase4 = half - 1;
  const size_t n = static_cast<size_t>(nlines);
  std::fill(sums, sums + n, 0.0f);
  size_t ri = 0, li = 0, oi = 0;
  int count = 0;
  for (int i = 0; i < phase1; ++i, ++ri) {
    const float* x = in + ri * ld;
    for (size_t l = 0; l < n; ++l) sums[l] += x[l];
    ++count;
  }
  for (int i = 0; i < phase2; ++i, ++ri, ++oi) {
    const float* x = in + ri * ld;
    for (size_t l = 0; l < n; ++l) sums[l] += x[l];
    ++count;
    if (need == nullptr || need[oi] != 0) {
      const float divisor = static_cast<float>(count);
      float* o = out + oi * ld;
      for (size_t l = 0; l < n; ++l) o[l] = sums[l] / divisor;
    }
  }
  for (int i = 0; i < phase3; ++i, ++ri, ++li, ++oi) {
    const float* x = in + ri * ld;
    const float* y = in + li * ld;
    for (size_t l = 0; l < n; ++l) {
      sums[l] += x[l];
      sums[l] -= y[l];
    }
    if (need == nullptr || need[oi] != 0) {
      const float divisor = static_cast<float>(count);
      float* o = out + oi * ld;
      for (size_t l = 0; l < n; ++l) o[l] = sums[l] / divisor;
    }
  }
  for (int i = 0; i < phase4; ++i, ++li, ++oi) {
    const float* y = in + li * ld;
    for (size_t l = 0; l < n; ++l) sums[l] -= y[l];
    --count;
    if (need == nullptr || need[oi] != 0) {
      const float divisor = static_cast<float>(count);
      float* o = out + oi * ld;
      for (size_t l = 0; l < n; ++l) o[l] = sums[l] / divisor;
    }
  }
}

// The sample index the reference's decimation takes for output cell k of `size`: (int)((k + 0.5) * size / 64).
int DecimationIndex(int k, int size) {
  return static_cast<int>((static_cast<double>(k) + 0.5) * static_cast<double>(size) / 64.0);
}

struct DctMatrix {
  // d[i][k] = sqrt(2/64) * cos((pi/2/64) * (i+1) * (2k+1)), stored as float; dt is its transpose.
  float d[16][64];
  float dt[64][16];
  DctMatrix() {
    const float scale = static_cast<float>(std::sqrt(2.0 / 64.0));
    constexpr double kPi = 3.14159265358979323846;
    for (int i = 0; i < 16; ++i) {
      for (int k = 0; k < 64; ++k) {
        const double arg = ((kPi / 2.0) / 64.0) * static_cast<double>(i + 1) * static_cast<double>(2 * k + 1);
        d[i][k] = static_cast<float>(static_cast<double>(scale) * std::cos(arg));
        dt[k][i] = d[i][k];
      }
    }
  }
};

const DctMatrix& Dct() {
  static const DctMatrix matrix;
  return matrix;
}

}  // namespace

std::string_view DihedralName(Dihedral d) {
  static constexpr std::string_view kNames[kNumDihedral] = {"orig",  "rot90", "rot180", "rot270",
                                                            "flipx", "flipy", "flipp",  "flipm"};
  return kNames[static_cast<int>(d)];
}

void PdqHasher::Downsample(const uint8_t* pixels, int cols, int rows, int channels, bool allow_64x64_shortcut,
                           float* out64x64) {
  const size_t count = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  if (allow_64x64_shortcut && rows == kOut && cols == kOut) {
    Luma(pixels, count, channels, out64x64);
    return;
  }
  const size_t ld_rows = PaddedStride(cols);  // row-major buffers: rows lines of cols samples
  const size_t ld_cols = PaddedStride(rows);  // transposed buffers: cols lines of rows samples
  const size_t size = std::max(count, std::max(static_cast<size_t>(rows) * ld_rows, static_cast<size_t>(cols) * ld_cols));
  if (buf_a_.size() < size) {
    buf_a_.resize(size);
    buf_b_.resize(size);
  }
  float* a = buf_a_.data();
  float* b = buf_b_.data();
  const size_t nrows = static_cast<size_t>(rows);
  const int window_along_rows = JaroszWindow(cols);
  const int window_along_cols = JaroszWindow(rows);
  sums_.resize(std::max<size_t>(std::max(nrows, static_cast<size_t>(cols)), kOut));

  // Pass 1, horizontal: rows are lines, so work on the transpose (cols x rows).
  Luma(pixels, count, channels, a);
  Transpose(a, rows, cols, static_cast<size_t>(cols), b, ld_cols);
  BoxLines(b, a, cols, rows, ld_cols, window_along_rows, nullptr, sums_.data());
  // Pass 1, vertical: columns are lines of the row-major buffer.
  Transpose(a, cols, rows, ld_cols, b, ld_rows);
  BoxLines(b, a, rows, cols, ld_rows, window_along_cols, nullptr, sums_.data());
  // Pass 2, horizontal: only the 64 columns that decimation samples are needed downstream, so divide only
  // there (the running sums still pass through every sample, as in the reference).
  Transpose(a, rows, cols, ld_rows, b, ld_cols);
  need_.assign(static_cast<size_t>(std::max(rows, cols)), 0);
  int col_index[kOut], row_index[kOut];
  for (int k = 0; k < kOut; ++k) {
    col_index[k] = DecimationIndex(k, cols);
    row_index[k] = DecimationIndex(k, rows);
    need_[static_cast<size_t>(col_index[k])] = 1;
  }
  BoxLines(b, a, cols, rows, ld_cols, window_along_rows, need_.data(), sums_.data());
  // Pass 2, vertical: only the sampled columns, gathered as 64 lines, divided only at the sampled rows.
  lines_a_.resize(nrows * kOut);
  lines_b_.resize(nrows * kOut);
  for (int j = 0; j < kOut; ++j) {
    const float* src = a + static_cast<size_t>(col_index[j]) * ld_cols;
    for (size_t r = 0; r < nrows; ++r) lines_a_[r * kOut + static_cast<size_t>(j)] = src[r];
  }
  need_.assign(nrows, 0);
  for (int k = 0; k < kOut; ++k) need_[static_cast<size_t>(row_index[k])] = 1;
  BoxLines(lines_a_.data(), lines_b_.data(), rows, kOut, kOut, window_along_cols, need_.data(), sums_.data());
  for (int i = 0; i < kOut; ++i) {
    std::memcpy(out64x64 + i * kOut, lines_b_.data() + static_cast<size_t>(row_index[i]) * kOut,
                kOut * sizeof(float));
  }
}

int PdqQuality(const float* a) {
  int gradient_sum = 0;
  for (int i = 0; i < kOut - 1; ++i) {
    for (int j = 0; j < kOut; ++j) {
      const float u = a[i * kOut + j];
      const float v = a[(i + 1) * kOut + j];
      const int d = static_cast<int>(((u - v) * 100.0f) / 255.0f);
      gradient_sum += std::abs(d);
    }
  }
  for (int i = 0; i < kOut; ++i) {
    for (int j = 0; j < kOut - 1; ++j) {
      const float u = a[i * kOut + j];
      const float v = a[i * kOut + j + 1];
      const int d = static_cast<int>(((u - v) * 100.0f) / 255.0f);
      gradient_sum += std::abs(d);
    }
  }
  return std::min(100, gradient_sum / 90);
}

void PdqDct64To16(const float* a, float* out) {
  const DctMatrix& m = Dct();
  // T = D * A (16 x 64). Each T[i][j] is one accumulator over k ascending; vectorised across j.
  float t[16][64];
  for (int i = 0; i < 16; ++i) {
    float acc[64] = {};
    for (int k = 0; k < 64; ++k) {
      const float dik = m.d[i][k];
      const float* row = a + k * kOut;
      for (int j = 0; j < 64; ++j) acc[j] += dik * row[j];
    }
    std::memcpy(t[i], acc, sizeof(acc));
  }
  // B = T * D^T (16 x 16): B[i][j] = sum_k T[i][k] * D[j][k], k ascending; vectorised across j.
  for (int i = 0; i < 16; ++i) {
    float acc[16] = {};
    for (int k = 0; k < 64; ++k) {
      const float tik = t[i][k];
      for (int j = 0; j < 16; ++j) acc[j] += tik * m.dt[k][j];
    }
    std::memcpy(out + i * 16, acc, sizeof(acc));
  }
}

Hash256 PdqThreshold(const float* dct) {
  float sorted[256];
  std::memcpy(sorted, dct, sizeof(sorted));
  std::nth_element(sorted, sorted + 127, sorted + 256);
  const float median = sorted[127];
  Hash256 h;
  for (int k = 0; k < 256; ++k) {
    if (dct[k] > median) h.SetBit(k);
  }
  return h;
}

void PdqDihedralDct(const float* b, Dihedral transform, float* out) {
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const float v = b[i * 16 + j];
      const bool i_odd = (i & 1) != 0, j_odd = (j & 1) != 0, sum_odd = ((i + j) & 1) != 0;
      switch (transform) {
        case Dihedral::kOrig: out[i * 16 + j] = v; break;
        case Dihedral::kRot90: out[j * 16 + i] = j_odd ? v : -v; break;
        case Dihedral::kRot180: out[i * 16 + j] = sum_odd ? -v : v; break;
        case Dihedral::kRot270: out[j * 16 + i] = i_odd ? v : -v; break;
        case Dihedral::kFlipX: out[i * 16 + j] = i_odd ? v : -v; break;
        case Dihedral::kFlipY: out[i * 16 + j] = j_odd ? v : -v; break;
        case Dihedral::kFlipPlus1: out[j * 16 + i] = v; break;
        case Dihedral::kFlipMinus1: out[j * 16 + i] = sum_odd ? -v : v; break;
      }
    }
  }
}

PdqResult PdqHasher::Hash(const uint8_t* pixels, int cols, int rows, int channels) {
  PdqResult result;
  if (rows < kMinSide || cols < kMinSide) return result;  // the reference: all-zero hash, quality 0
  float a[kOut * kOut];
  float dct[256];
  Downsample(pixels, cols, rows, channels, /*allow_64x64_shortcut=*/true, a);
  result.quality = PdqQuality(a);
  PdqDct64To16(a, dct);
  result.hash = PdqThreshold(dct);
  return result;
}

PdqDihedralResult PdqHasher::HashDihedral(const uint8_t* pixels, int cols, int rows, int channels) {
  PdqDihedralResult result;
  if (rows < kMinSide || cols < kMinSide) return result;
  float a[kOut * kOut];
  float dct[256], transformed[256];
  Downsample(pixels, cols, rows, channels, /*allow_64x64_shortcut=*/false, a);
  result.quality = PdqQuality(a);
  PdqDct64To16(a, dct);
  for (int d = 0; d < kNumDihedral; ++d) {
    PdqDihedralDct(dct, static_cast<Dihedral>(d), transformed);
    result.hashes[static_cast<size_t>(d)] = PdqThreshold(transformed);
  }
  return result;
}

}  // namespace hashbank
