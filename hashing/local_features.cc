#include "hashing/local_features.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hashbank {
namespace {

constexpr int kLevels = 6;            // pyramid levels, each 4/5 of the previous side
constexpr int kBorder = 22;           // rotated pattern reach (18) + box half-width (2) + 2
constexpr int kMinSide = 2 * kBorder + 8;
constexpr int kCentroidRadius = 15;
constexpr int kOrientations = 32;     // 11.25 degree bins
constexpr int kFastStrict = 12;       // FAST threshold; lowered to kFastLoose when too few corners
constexpr int kFastLoose = 5;
constexpr int kGrid = 4;              // spreading cells per side
constexpr double kLevelShare = 1.0;   // quota of each pyramid level relative to the one above

// round(16384 * cos(2 pi k / 32)), k = 0..8: the first quadrant; the rest by symmetry.
constexpr int kCosQuadrant[9] = {16384, 16069, 15137, 13623, 11585, 9102, 6270, 3196, 0};

int Cos32(int k) {
  k &= 31;
  if (k <= 8) return kCosQuadrant[k];
  if (k <= 16) return -kCosQuadrant[16 - k];
  if (k <= 24) return -kCosQuadrant[k - 16];
  return kCosQuadrant[32 - k];
}
int Sin32(int k) { return Cos32(k - 8); }

struct Pair {
  int8_t ax, ay, bx, by;
};

// The 256 test pairs for each orientation bin. Unrotated pairs: coordinates from an integer approximation of
// a Gaussian (sum of three uniform integers in -6..6, sigma 6.5, clamped to -13..13) drawn by splitmix64 from a
// fixed seed; rotated copies rounded in integer arithmetic.
struct Pattern {
  Pair pairs[kOrientations][256];

  Pattern() {
    uint64_t state = 0x6861736862616e6bULL;  // "hashbank"
    auto next = [&state]() {
      uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    };
    auto coord = [&next]() {
      int v = 0;
      for (int i = 0; i < 3; ++i) v += static_cast<int>(next() % 13) - 6;
      return std::clamp(v, -13, 13);
    };
    Pair base[256];
    for (auto& p : base) {
      do {
        p = {static_cast<int8_t>(coord()), static_cast<int8_t>(coord()), static_cast<int8_t>(coord()),
             static_cast<int8_t>(coord())};
      } while (p.ax == p.bx && p.ay == p.by);
    }
    for (int k = 0; k < kOrientations; ++k) {
      const int c = Cos32(k), s = Sin32(k);
      auto rx = [c, s](int x, int y) { return static_cast<int8_t>((c * x - s * y + 8192) >> 14); };
      auto ry = [c, s](int x, int y) { return static_cast<int8_t>((s * x + c * y + 8192) >> 14); };
      for (int i = 0; i < 256; ++i) {
        const Pair& p = base[i];
        pairs[k][i] = {rx(p.ax, p.ay), ry(p.ax, p.ay), rx(p.bx, p.by), ry(p.bx, p.by)};
      }
    }
  }
};

const Pattern& ThePattern() {
  static const Pattern pattern;
  return pattern;
}

// Half-widths of the centroid disc per row: the largest dx with dx^2 + dy^2 <= r^2.
struct Disc {
  int half[kCentroidRadius + 1];
  Disc() {
    for (int dy = 0; dy <= kCentroidRadius; ++dy) {
      int dx = 0;
      while ((dx + 1) * (dx + 1) + dy * dy <= kCentroidRadius * kCentroidRadius) ++dx;
      half[dy] = dx;
    }
  }
};

// The previous level scaled by 4/5, bilinear in eighths: output x samples input (10 x + 1) / 8.
GreyImage Downscale(const GreyImage& in) {
  GreyImage out;
  out.width = (in.width * 4 + 2) / 5;
  out.height = (in.height * 4 + 2) / 5;
  out.pixels.resize(static_cast<size_t>(out.width) * static_cast<size_t>(out.height));
  const size_t iw = static_cast<size_t>(in.width);
  for (int y = 0; y < out.height; ++y) {
    const int fy8 = 10 * y + 1;
    const int y0 = std::min(fy8 >> 3, in.height - 1), y1 = std::min(y0 + 1, in.height - 1), wy = fy8 & 7;
    const uint8_t* r0 = in.pixels.data() + static_cast<size_t>(y0) * iw;
    const uint8_t* r1 = in.pixels.data() + static_cast<size_t>(y1) * iw;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * static_cast<size_t>(out.width);
    for (int x = 0; x < out.width; ++x) {
      const int fx8 = 10 * x + 1;
      const int x0 = std::min(fx8 >> 3, in.width - 1), x1 = std::min(x0 + 1, in.width - 1), wx = fx8 & 7;
      const int top = (8 - wx) * r0[x0] + wx * r0[x1];
      const int bottom = (8 - wx) * r1[x0] + wx * r1[x1];
      dst[x] = static_cast<uint8_t>(((8 - wy) * top + wy * bottom + 32) >> 6);
    }
  }
  return out;
}

// FAST-9 on the 16-pixel circle of radius 3: nine contiguous pixels all brighter than centre + t, or all
// darker than centre - t.
class Fast {
 public:
  explicit Fast(int stride) {
    static constexpr int kCircle[16][2] = {{0, -3}, {1, -3}, {2, -2}, {3, -1}, {3, 0},  {3, 1},  {2, 2},  {1, 3},
                                           {0, 3},  {-1, 3}, {-2, 2}, {-3, 1}, {-3, 0}, {-3, -1}, {-2, -2}, {-1, -3}};
    for (int i = 0; i < 16; ++i) offset_[i] = kCircle[i][1] * stride + kCircle[i][0];
  }

  // The full test; callers first run the compass test on whole rows (CompassTest), which every corner passes.
  bool IsCorner(const uint8_t* p, int t) const {
    const int c = *p, hi = c + t, lo = c - t;
    uint32_t bmask = 0, dmask = 0;
    for (int i = 0; i < 16; ++i) {
      const int v = p[offset_[i]];
      bmask |= static_cast<uint32_t>(v > hi) << i;
      dmask |= static_cast<uint32_t>(v < lo) << i;
    }
    return HasRun9(bmask) || HasRun9(dmask);
  }

 private:
  static bool HasRun9(uint32_t m) {
    if (m == 0) return false;
    uint32_t x = m | (m << 16);
    uint32_t run = x;
    for (int i = 1; i < 9; ++i) run &= x >> i;
    return run != 0;
  }
  int offset_[16];
};

struct Candidate {
  int64_t score;
  int x, y;
};

// Strongest first; ties in raster order.
bool StrongestFirst(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.y != b.y) return a.y < b.y;
  return a.x < b.x;
}

// Harris response (k = 1/25) of the 7x7 window around (x, y) on Sobel gradients; integer throughout.
int64_t Harris(const GreyImage& img, int x, int y) {
  const int stride = img.width;
  int64_t sxx = 0, syy = 0, sxy = 0;
  for (int dy = -3; dy <= 3; ++dy) {
    const uint8_t* row = img.pixels.data() + static_cast<ptrdiff_t>(y + dy) * stride + x;
    for (int dx = -3; dx <= 3; ++dx) {
      const uint8_t* q = row + dx;
      const int gx = (q[-stride + 1] + 2 * q[1] + q[stride + 1]) - (q[-stride - 1] + 2 * q[-1] + q[stride - 1]);
      const int gy = (q[stride - 1] + 2 * q[stride] + q[stride + 1]) - (q[-stride - 1] + 2 * q[-stride] + q[-stride + 1]);
      sxx += gx * gx;
      syy += gy * gy;
      sxy += gx * gy;
    }
  }
  const int64_t trace = sxx + syy;
  return sxx * syy - sxy * sxy - trace * trace / 25;
}

// FAST's first test for pixels begin..end-1 of a row: out[x] = 1 where at least two of the four compass
// pixels are brighter than centre + t, or two darker than centre - t (nine contiguous pixels of the circle
// include two consecutive compass points), else 0. Sixteen pixels at a time where SSE2 is there; the same
// answer without it (WebAssembly): saturating at 255 and 0 changes no comparison, since no pixel is brighter
// than 255 or darker than 0.
void CompassTest(const uint8_t* row, ptrdiff_t stride, int begin, int end, int t, uint8_t* out) {
  int x = begin;
#if defined(__SSE2__)
  const __m128i tv = _mm_set1_epi8(static_cast<char>(t));
  const __m128i zero = _mm_setzero_si128();
  const __m128i one = _mm_set1_epi8(1);
  for (; x + 16 <= end; x += 16) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x));
    const __m128i hi = _mm_adds_epu8(c, tv);
    const __m128i lo = _mm_subs_epu8(c, tv);
    __m128i bright = zero, dark = zero;
    for (const ptrdiff_t off : {-3 * stride, ptrdiff_t{3}, 3 * stride, ptrdiff_t{-3}}) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x + off));
      // v > hi exactly when v - hi (saturating) is not 0; v < lo when lo - v is not 0.
      bright = _mm_add_epi8(bright, _mm_andnot_si128(_mm_cmpeq_epi8(_mm_subs_epu8(v, hi), zero), one));
      dark = _mm_add_epi8(dark, _mm_andnot_si128(_mm_cmpeq_epi8(_mm_subs_epu8(lo, v), zero), one));
    }
    const __m128i pass = _mm_or_si128(_mm_cmpgt_epi8(bright, one), _mm_cmpgt_epi8(dark, one));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm_and_si128(pass, one));
  }
#endif
  for (; x < end; ++x) {
    const uint8_t* p = row + x;
    const int c = *p, hi = c + t, lo = c - t;
    const int n = p[-3 * stride], e = p[3], so = p[3 * stride], w = p[-3];
    const int bright = (n > hi) + (e > hi) + (so > hi) + (w > hi);
    const int dark = (n < lo) + (e < lo) + (so < lo) + (w < lo);
    out[x] = static_cast<uint8_t>(bright >= 2 || dark >= 2);
  }
}

static_assert(std::endian::native == std::endian::little, "DetectCorners reads the compass bytes as a little-endian word");

// Corners of one level: FAST, Harris-ranked, 3x3 non-maximum suppressed, strongest first.
std::vector<Candidate> DetectCorners(const GreyImage& img, int threshold) {
  std::vector<Candidate> found;
  if (img.width < kMinSide || img.height < kMinSide) return found;
  const Fast fast(img.width);
  const size_t w = static_cast<size_t>(img.width);
  // The Harris responses of three consecutive rows (row y in slot y % 3), 0 where there is no corner, and
  // their corners in raster order: a row's corners are suppressed as soon as the row below it is scored, so
  // the responses stay in the cache instead of a whole level's worth of them.
  std::vector<int64_t> response(3 * w, 0);
  std::vector<Candidate> row_corners[3];
  auto slot = [](int y) { return static_cast<size_t>(y % 3); };
  auto clear = [&](int y) {  // empties slot y % 3 for row y
    int64_t* r = response.data() + slot(y) * w;
    for (const Candidate& c : row_corners[slot(y)]) r[c.x] = 0;
    row_corners[slot(y)].clear();
  };
  auto suppress = [&](int y) {  // rows y - 1 and y + 1 are scored (or hold no corners)
    for (const Candidate& c : row_corners[slot(y)]) {
      const int64_t r = c.score;
      bool peak = true;
      for (int dy = -1; dy <= 1 && peak; ++dy) {
        const int64_t* row = response.data() + slot(y + dy) * w;
        for (int dx = -1; dx <= 1; ++dx) {
          if (dx == 0 && dy == 0) continue;
          const int64_t o = row[c.x + dx];
          // Ties go to the first in raster order, so exactly one of two equal neighbours survives.
          if (o > r || (o == r && (dy < 0 || (dy == 0 && dx < 0)))) {
            peak = false;
            break;
          }
        }
      }
      if (peak) found.push_back(c);
    }
  };
  std::vector<uint8_t> compass(w);
  const int end = img.width - kBorder;
  for (int y = kBorder; y < img.height - kBorder; ++y) {
    clear(y);
    const uint8_t* row = img.pixels.data() + static_cast<size_t>(y) * w;
    CompassTest(row, static_cast<ptrdiff_t>(w), kBorder, end, threshold, compass.data());
    int64_t* scored = response.data() + slot(y) * w;
    auto score = [&](int x) {
      if (!fast.IsCorner(row + x, threshold)) return;
      const int64_t r = Harris(img, x, y);
      if (r > 0) {
        scored[x] = r;
        row_corners[slot(y)].push_back({r, x, y});
      }
    };
    // Most pixels fail the compass test: skip them eight at a time (each byte of `compass` is 0 or 1).
    int x = kBorder;
    for (; x + 8 <= end; x += 8) {
      uint64_t word;
      std::memcpy(&word, compass.data() + x, 8);
      for (; word != 0; word &= word - 1) score(x + std::countr_zero(word) / 8);
    }
    for (; x < end; ++x) {
      if (compass[static_cast<size_t>(x)] != 0) score(x);
    }
    if (y > kBorder) suppress(y - 1);
  }
  const int last = img.height - kBorder - 1;
  clear(last + 1);  // the row below the last is never scored
  suppress(last);
  std::sort(found.begin(), found.end(), StrongestFirst);
  return found;
}

// Picks `quota` candidates spread over a kGrid x kGrid grid by water-filling: every cell gives its strongest
// `step` candidates, then its next `step`, and so on (strongest first within a round), so one textured region
// (overlaid text, a logo) cannot take the features of the rest of the image.
std::vector<Candidate> Spread(const std::vector<Candidate>& sorted, int quota, int width, int height) {
  std::vector<Candidate> chosen;
  if (quota <= 0) return chosen;
  const int step = std::max(1, (quota + kGrid * kGrid - 1) / (kGrid * kGrid));
  int per_cell[kGrid * kGrid] = {};
  std::vector<std::pair<int, size_t>> order;  // (round, index in strength order)
  order.reserve(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const int cell = (sorted[i].y * kGrid / height) * kGrid + sorted[i].x * kGrid / width;
    order.emplace_back(per_cell[cell]++ / step, i);
  }
  std::sort(order.begin(), order.end());
  for (size_t k = 0; k < order.size() && static_cast<int>(chosen.size()) < quota; ++k) {
    chosen.push_back(sorted[order[k].second]);
  }
  return chosen;
}

// Orientation bin of the intensity centroid in the disc of radius 15: the bin whose direction has the largest
// dot product with (m10, m01); the lowest bin on ties. `mirrored`: the bin of the image flipped left to right
// at the flipped position, whose centroid is (-m10, m01).
int OrientationBin(const GreyImage& img, int x, int y, bool mirrored) {
  static const Disc disc;
  const ptrdiff_t stride = img.width;
  const uint8_t* centre = img.pixels.data() + static_cast<ptrdiff_t>(y) * stride + x;
  int64_t m10 = 0, m01 = 0;
  for (int dy = -kCentroidRadius; dy <= kCentroidRadius; ++dy) {
    const int half = disc.half[std::abs(dy)];
    const uint8_t* row = centre + dy * stride;
    int64_t row_sum = 0;
    for (int dx = -half; dx <= half; ++dx) {
      m10 += dx * row[dx];
      row_sum += row[dx];
    }
    m01 += dy * row_sum;
  }
  if (mirrored) m10 = -m10;
  int best = 0;
  int64_t best_dot = INT64_MIN;
  for (int k = 0; k < kOrientations; ++k) {
    const int64_t dot = m10 * Cos32(k) + m01 * Sin32(k);
    if (dot > best_dot) {
      best_dot = dot;
      best = k;
    }
  }
  return best;
}

// 5x5 box sums through an integral image with a zero first row and column.
class BoxSums {
 public:
  explicit BoxSums(const GreyImage& img) : w_(img.width + 1) {
    sums_.assign(static_cast<size_t>(w_) * static_cast<size_t>(img.height + 1), 0);
    for (int y = 0; y < img.height; ++y) {
      uint32_t row = 0;
      for (int x = 0; x < img.width; ++x) {
        row += img.pixels[static_cast<size_t>(y) * static_cast<size_t>(img.width) + static_cast<size_t>(x)];
        At(x + 1, y + 1) = At(x + 1, y) + row;
      }
    }
  }
  // Sum of the 5x5 box centred on (x, y).
  uint32_t Box(int x, int y) const { return At(x + 3, y + 3) - At(x - 2, y + 3) - At(x + 3, y - 2) + At(x - 2, y - 2); }

 private:
  uint32_t& At(int x, int y) { return sums_[static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x)]; }
  uint32_t At(int x, int y) const {
    return sums_[static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x)];
  }
  int w_;
  std::vector<uint32_t> sums_;
};

// The descriptor at (x, y) with the pattern rotated to `bin`; `mirrored`: the descriptor the image flipped left
// to right has at the flipped position (x' = width - 1 - x), read from this image: the flipped image's 5x5 box
// at (x' + dx, y + dy) is this one's at (x - dx, y + dy), the same pixels.
std::array<uint64_t, 4> Describe(const BoxSums& box, int x, int y, int bin, bool mirrored) {
  const Pair* pairs = ThePattern().pairs[bin];
  const int sx = mirrored ? -1 : 1;
  std::array<uint64_t, 4> d{};
  for (int i = 0; i < 256; ++i) {
    const Pair& p = pairs[i];
    const bool bit = box.Box(x + sx * p.ax, y + p.ay) < box.Box(x + sx * p.bx, y + p.by);
    d[static_cast<size_t>(i / 64)] |= static_cast<uint64_t>(bit) << (i % 64);
  }
  return d;
}

uint16_t Normalise(int coord, int level_side, int base_side, int long_side) {
  const int64_t v = (int64_t{2} * coord + 1) * base_side * kLocalCoordRange / (int64_t{2} * level_side * long_side);
  return static_cast<uint16_t>(std::clamp<int64_t>(v, 0, kLocalCoordRange - 1));
}

}  // namespace

GreyImage MirrorImage(const GreyImage& image) {
  GreyImage out = image;
  const size_t w = static_cast<size_t>(image.width);
  for (int y = 0; y < image.height; ++y) {
    uint8_t* row = out.pixels.data() + static_cast<size_t>(y) * w;
    std::reverse(row, row + w);
  }
  return out;
}

namespace {

// The corners of every pyramid level of an image, strongest first: what the direct and the mirrored
// features are chosen from.
struct Detection {
  std::vector<GreyImage> levels;
  std::vector<int> quota;                       // per level
  std::vector<std::vector<Candidate>> corners;  // per level
};

bool Extractable(const GreyImage& image, int max_features) {
  return max_features > 0 && image.width >= kMinSide && image.height >= kMinSide &&
         image.pixels.size() == static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
}

Detection Detect(const GreyImage& image, int max_features) {
  Detection d;
  d.levels.push_back(image);
  while (static_cast<int>(d.levels.size()) < kLevels) {
    GreyImage next = Downscale(d.levels.back());
    if (next.width < kMinSide || next.height < kMinSide) break;
    d.levels.push_back(std::move(next));
  }
  // Per-level quotas: a geometric series with ratio kLevelShare (1: equal quotas, which caught more small-scale
  // screenshots on the tune set than ORB's 4/5).
  d.quota.resize(d.levels.size());
  {
    double share = 1.0, total = 0.0;
    for (size_t k = 0; k < d.levels.size(); ++k, share *= kLevelShare) total += share;
    int assigned = 0;
    share = 1.0;
    for (size_t k = 0; k < d.levels.size(); ++k, share *= kLevelShare) {
      d.quota[k] = k + 1 == d.levels.size() ? max_features - assigned
                                            : static_cast<int>(static_cast<double>(max_features) * share / total);
      assigned += d.quota[k];
    }
  }
  d.corners.resize(d.levels.size());
  size_t total = 0;
  for (size_t k = 0; k < d.levels.size(); ++k) {
    d.corners[k] = DetectCorners(d.levels[k], kFastStrict);
    total += d.corners[k].size();
  }
  if (total < static_cast<size_t>(max_features)) {
    for (size_t k = 0; k < d.levels.size(); ++k) d.corners[k] = DetectCorners(d.levels[k], kFastLoose);
  }
  return d;
}

// Chooses and describes the features of a detection. `mirrored` (when not null) also gets those of the image
// flipped left to right, from the same corners: each level's corners flipped (x' = width - 1 - x; FAST, Harris
// and the suppression are symmetric), ranked and spread in the flipped image, oriented and described from the
// flipped image's pixels (OrientationBin, Describe). At full resolution that is what extracting the flipped
// image gives (up to two equal neighbouring responses, whose suppression keeps the first in raster order); the
// smaller levels are this image's levels flipped, which differ from the flipped image's own levels by the
// downscale's sampling phase (under a pixel, as a crop shifts it).
std::vector<LocalFeature> Choose(const GreyImage& image, const Detection& d, std::vector<LocalFeature>* mirrored) {
  std::vector<LocalFeature> features;
  const int long_side = std::max(image.width, image.height);
  int carry = 0, mirrored_carry = 0;  // quota a level could not fill passes to the next
  for (size_t k = 0; k < d.levels.size(); ++k) {
    const GreyImage& level = d.levels[k];
    const std::vector<Candidate> chosen = Spread(d.corners[k], d.quota[k] + carry, level.width, level.height);
    carry = d.quota[k] + carry - static_cast<int>(chosen.size());
    std::vector<Candidate> flipped_chosen;
    if (mirrored != nullptr) {
      std::vector<Candidate> flipped = d.corners[k];
      for (Candidate& c : flipped) c.x = level.width - 1 - c.x;
      std::sort(flipped.begin(), flipped.end(), StrongestFirst);
      flipped_chosen = Spread(flipped, d.quota[k] + mirrored_carry, level.width, level.height);
      mirrored_carry = d.quota[k] + mirrored_carry - static_cast<int>(flipped_chosen.size());
    }
    if (chosen.empty() && flipped_chosen.empty()) continue;
    const BoxSums box(level);
    auto emit = [&](const std::vector<Candidate>& list, bool flip, std::vector<LocalFeature>* out) {
      for (const Candidate& c : list) {
        const int x = flip ? level.width - 1 - c.x : c.x;  // in this level's pixels
        LocalFeature f;
        f.descriptor = Describe(box, x, c.y, OrientationBin(level, x, c.y, flip), flip);
        f.x = Normalise(c.x, level.width, image.width, long_side);
        f.y = Normalise(c.y, level.height, image.height, long_side);
        f.score = c.score;
        f.level = static_cast<uint8_t>(k);
        out->push_back(f);
      }
    };
    emit(chosen, false, &features);
    if (mirrored != nullptr) emit(flipped_chosen, true, mirrored);
  }
  return features;
}

}  // namespace

std::vector<LocalFeature> ExtractLocalFeatures(const GreyImage& image, int max_features) {
  if (!Extractable(image, max_features)) return {};
  return Choose(image, Detect(image, max_features), nullptr);
}

std::vector<LocalFeature> ExtractLocalFeaturesAndMirrored(const GreyImage& image, int max_features,
                                                          std::vector<LocalFeature>* mirrored) {
  mirrored->clear();
  if (!Extractable(image, max_features)) return {};
  return Choose(image, Detect(image, max_features), mirrored);
}

}  // namespace hashbank
