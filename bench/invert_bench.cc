// invert_bench: how much of an image can be rebuilt from what hashbank stores and sends about it.
//
//   build/bench/invert_bench DIR
//
// DIR is an acceptance set (tools/acceptance/make_edits.py). The attacker learns on the tune set's images
// and attacks the holdout set's originals:
// - Robust fingerprint, attacker holding the federation salt (every member): unsalts the 64 stored
//   descriptors and applies a ridge regression, learned on ~10^5 features of unrelated images, from the 256
//   descriptor bits to the 8 x 8 appearance of the keypoint's patch, pasted at the stored (coarse) position.
// - Robust fingerprint, attacker without the salt (a stolen bank): the same regression on the salted bits.
// - PDQ, attacker holding the salt: the naive inversion (hash bits as +/-1 DCT coefficients, inverse DCT).
// Reported: Pearson correlation of each reconstruction with the true image at 64 x 64 (grey), over the
// pixels the reconstruction covers and over the whole image, mean over the holdout originals; and the same
// robust attack with another image's fingerprint (what chance gives).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "crypto/federation_salt.h"
#include "crypto/salting.h"
#include "hashing/image_decoder.h"
#include "hashing/local_features.h"
#include "hashing/pdq_hasher.h"
#include "hashing/robust_fingerprint.h"

using namespace hashbank;

namespace {

constexpr int kThumb = 64;   // evaluation resolution
constexpr int kPatch = 8;    // regression target: 8 x 8 cells of the keypoint's patch
constexpr int kInputs = 257; // 256 bits + bias

struct Image {
  GreyImage grey;
  Hash256 pdq;
  std::vector<LocalFeature> query;  // 1000 features (training)
  std::vector<LocalFeature> stored;  // the bank fingerprint as stored (coarse positions)
};

bool Load(const std::string& path, Image* out) {
  std::vector<uint8_t> bytes;
  if (!ReadFileBounded(path, size_t{64} << 20, &bytes).ok()) return false;
  PreparedImage prepared;
  if (!PrepareImage(bytes, ImageLimits{}, &prepared, &out->grey, kLocalFeatureSide).ok()) return false;
  PdqHasher hasher;
  out->pdq = hasher.Hash(prepared.pixels.data(), prepared.width, prepared.height, prepared.channels).hash;
  out->query = ExtractLocalFeatures(out->grey, 1000);
  auto enc = EncodeRobust(ExtractLocalFeatures(out->grey, 64), out->grey.width, out->grey.height);
  if (enc.ok()) out->stored = *DecodeRobust(*enc);
  return true;
}

// Area mean of the grey image over [x0, x1) x [y0, y1) (clamped), or -1 if empty.
double Mean(const GreyImage& g, double x0, double y0, double x1, double y1) {
  const int ax = std::max(0, static_cast<int>(x0)), ay = std::max(0, static_cast<int>(y0));
  const int bx = std::min(g.width, static_cast<int>(std::ceil(x1))), by = std::min(g.height, static_cast<int>(std::ceil(y1)));
  if (ax >= bx || ay >= by) return -1;
  double sum = 0;
  for (int y = ay; y < by; ++y) {
    for (int x = ax; x < bx; ++x) sum += g.pixels[static_cast<size_t>(y) * static_cast<size_t>(g.width) + static_cast<size_t>(x)];
  }
  return sum / ((bx - ax) * (by - ay));
}

// The image at kThumb x kThumb over its long side's square frame (short side padded with -1).
std::vector<double> Thumb(const GreyImage& g) {
  const double cell = static_cast<double>(std::max(g.width, g.height)) / kThumb;
  std::vector<double> t(kThumb * kThumb);
  for (int y = 0; y < kThumb; ++y) {
    for (int x = 0; x < kThumb; ++x) t[static_cast<size_t>(y * kThumb + x)] = Mean(g, x * cell, y * cell, (x + 1) * cell, (y + 1) * cell);
  }
  return t;
}

void Bits(const std::array<uint64_t, 4>& d, double* x) {
  for (int k = 0; k < 256; ++k) x[k] = ((d[static_cast<size_t>(k / 64)] >> (k % 64)) & 1) ? 1.0 : -1.0;
  x[256] = 1.0;
}

// Side of a feature's patch in level-0 pixels: the descriptor pattern spans about 32 pixels at its level.
double PatchSide(int level) { return 32.0 * std::pow(1.25, level); }

// Solves (A + lambda I) w = b for every column of b (Cholesky). A: n x n, b: n x m, row-major.
std::vector<double> Ridge(std::vector<double> a, const std::vector<double>& b, int n, int m, double lambda) {
  for (int i = 0; i < n; ++i) a[static_cast<size_t>(i * n + i)] += lambda;
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k < j; ++k) a[static_cast<size_t>(j * n + j)] -= a[static_cast<size_t>(j * n + k)] * a[static_cast<size_t>(j * n + k)];
    a[static_cast<size_t>(j * n + j)] = std::sqrt(a[static_cast<size_t>(j * n + j)]);
    for (int i = j + 1; i < n; ++i) {
      double s = a[static_cast<size_t>(i * n + j)];
      for (int k = 0; k < j; ++k) s -= a[static_cast<size_t>(i * n + k)] * a[static_cast<size_t>(j * n + k)];
      a[static_cast<size_t>(i * n + j)] = s / a[static_cast<size_t>(j * n + j)];
    }
  }
  std::vector<double> w(b);
  for (int c = 0; c < m; ++c) {
    for (int i = 0; i < n; ++i) {  // L y = b
      double s = w[static_cast<size_t>(i * m + c)];
      for (int k = 0; k < i; ++k) s -= a[static_cast<size_t>(i * n + k)] * w[static_cast<size_t>(k * m + c)];
      w[static_cast<size_t>(i * m + c)] = s / a[static_cast<size_t>(i * n + i)];
    }
    for (int i = n - 1; i >= 0; --i) {  // L^T w = y
      double s = w[static_cast<size_t>(i * m + c)];
      for (int k = i + 1; k < n; ++k) s -= a[static_cast<size_t>(k * n + i)] * w[static_cast<size_t>(k * m + c)];
      w[static_cast<size_t>(i * m + c)] = s / a[static_cast<size_t>(i * n + i)];
    }
  }
  return w;
}

double Correlation(const std::vector<double>& a, const std::vector<double>& b, const std::vector<bool>& use) {
  double sa = 0, sb = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (use[i]) sa += a[i], sb += b[i], n += 1;
  }
  if (n < 2) return 0;
  sa /= n, sb /= n;
  double cab = 0, caa = 0, cbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!use[i]) continue;
    cab += (a[i] - sa) * (b[i] - sb);
    caa += (a[i] - sa) * (a[i] - sa);
    cbb += (b[i] - sb) * (b[i] - sb);
  }
  return caa > 0 && cbb > 0 ? cab / std::sqrt(caa * cbb) : 0;
}

// Pastes each feature's predicted patch (regression `w` on its descriptor bits) at its position, at the
// middle pyramid level's scale (the level is not stored). Covered pixels are averaged; the rest get `fill`.
std::vector<double> Reconstruct(const std::vector<LocalFeature>& features, const std::vector<double>& w, double fill,
                                std::vector<bool>* covered) {
  std::vector<double> sum(kThumb * kThumb, 0), weight(kThumb * kThumb, 0);
  double x[kInputs];
  const double side = PatchSide(2) / kLocalFeatureSide * kThumb;  // in thumbnail pixels
  for (const LocalFeature& f : features) {
    Bits(f.descriptor, x);
    double patch[kPatch * kPatch];
    for (int o = 0; o < kPatch * kPatch; ++o) {
      double v = 0;
      for (int i = 0; i < kInputs; ++i) v += x[i] * w[static_cast<size_t>(i * kPatch * kPatch + o)];
      patch[o] = v;
    }
    const double cx = f.x / static_cast<double>(kLocalCoordRange) * kThumb, cy = f.y / static_cast<double>(kLocalCoordRange) * kThumb;
    for (int ty = static_cast<int>(cy - side / 2); ty <= static_cast<int>(cy + side / 2); ++ty) {
      for (int tx = static_cast<int>(cx - side / 2); tx <= static_cast<int>(cx + side / 2); ++tx) {
        if (tx < 0 || ty < 0 || tx >= kThumb || ty >= kThumb) continue;
        const int px = std::clamp(static_cast<int>((tx - (cx - side / 2)) / side * kPatch), 0, kPatch - 1);
        const int py = std::clamp(static_cast<int>((ty - (cy - side / 2)) / side * kPatch), 0, kPatch - 1);
        sum[static_cast<size_t>(ty * kThumb + tx)] += patch[py * kPatch + px];
        weight[static_cast<size_t>(ty * kThumb + tx)] += 1;
      }
    }
  }
  covered->assign(kThumb * kThumb, false);
  for (size_t i = 0; i < sum.size(); ++i) {
    (*covered)[i] = weight[i] > 0;
    sum[i] = weight[i] > 0 ? sum[i] / weight[i] : fill;
  }
  return sum;
}

// Naive PDQ inversion: bits as +/-1 coefficients of PDQ's 16 x 16 DCT basis, inverse transform to 64 x 64
// (over the square image PDQ hashes, so it is compared with a square-resampled thumbnail).
std::vector<double> InvertPdq(const Hash256& h) {
  std::vector<double> out(64 * 64, 0);
  auto d = [](int i, int k) { return std::sqrt(2.0 / 64) * std::cos(std::numbers::pi / 128 * (i + 1) * (2 * k + 1)); };
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const double s = h.GetBit(i * 16 + j) ? 1.0 : -1.0;
      for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x) out[static_cast<size_t>(y * 64 + x)] += s * d(i, y) * d(j, x);
      }
    }
  }
  return out;
}

std::vector<double> SquareThumb(const GreyImage& g) {
  std::vector<double> t(64 * 64);
  const double cx = g.width / 64.0, cy = g.height / 64.0;
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) t[static_cast<size_t>(y * 64 + x)] = Mean(g, x * cx, y * cy, (x + 1) * cx, (y + 1) * cy);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: invert_bench DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream manifest(dir + "/manifest.tsv");
  std::vector<Image> train, test;
  std::string line;
  while (std::getline(manifest, line)) {
    std::stringstream ss(line);
    std::string set, kind, file;
    std::getline(ss, set, '\t');
    std::getline(ss, kind, '\t');
    std::getline(ss, file, '\t');
    if (kind == "edited" || set == "set") continue;
    Image img;
    if (!Load(dir + "/" + file, &img)) continue;
    if (set == "tune") train.push_back(std::move(img));
    else if (set == "holdout" && kind == "bank") test.push_back(std::move(img));
  }
  // Learn: descriptor bits -> 8 x 8 patch means at the keypoint's own scale.
  std::vector<double> ata(kInputs * kInputs, 0), atb(kInputs * kPatch * kPatch, 0);
  size_t samples = 0;
  double pixel_mean = 0, pixel_count = 0;
  for (const Image& img : train) {
    const double long_side = std::max(img.grey.width, img.grey.height);
    for (const LocalFeature& f : img.query) {
      const double cx = f.x / static_cast<double>(kLocalCoordRange) * long_side;
      const double cy = f.y / static_cast<double>(kLocalCoordRange) * long_side;
      const double side = PatchSide(f.level), cell = side / kPatch;
      double target[kPatch * kPatch];
      bool ok = true;
      for (int py = 0; py < kPatch && ok; ++py) {
        for (int px = 0; px < kPatch; ++px) {
          const double x0 = cx - side / 2 + px * cell, y0 = cy - side / 2 + py * cell;
          target[py * kPatch + px] = Mean(img.grey, x0, y0, x0 + cell, y0 + cell);
          if (target[py * kPatch + px] < 0) ok = false;
        }
      }
      if (!ok) continue;
      double x[kInputs];
      Bits(f.descriptor, x);
      for (int i = 0; i < kInputs; ++i) {
        for (int j = 0; j < kInputs; ++j) ata[static_cast<size_t>(i * kInputs + j)] += x[i] * x[j];
        for (int o = 0; o < kPatch * kPatch; ++o) atb[static_cast<size_t>(i * kPatch * kPatch + o)] += x[i] * target[o];
      }
      for (double t : target) pixel_mean += t, pixel_count += 1;
      ++samples;
    }
  }
  pixel_mean /= std::max(1.0, pixel_count);
  const std::vector<double> w = Ridge(ata, atb, kInputs, kPatch * kPatch, 10.0);

  auto salt = FederationSalt::Generate("invert-bench");
  if (!salt.ok()) return 1;
  Salter salter(*salt);
  double holder_cov = 0, holder_full = 0, outsider_cov = 0, chance_cov = 0, pdq_full = 0, coverage = 0;
  const double n = static_cast<double>(test.size());
  for (size_t k = 0; k < test.size(); ++k) {
    const Image& img = test[k];
    const std::vector<double> truth = Thumb(img.grey);
    std::vector<bool> in_image(truth.size());
    for (size_t i = 0; i < truth.size(); ++i) in_image[i] = truth[i] >= 0;
    std::vector<bool> covered;
    const std::vector<double> holder = Reconstruct(img.stored, w, pixel_mean, &covered);
    std::vector<bool> cov_in(covered.size());
    for (size_t i = 0; i < covered.size(); ++i) cov_in[i] = covered[i] && in_image[i];
    holder_cov += Correlation(holder, truth, cov_in) / n;
    holder_full += Correlation(holder, truth, in_image) / n;
    coverage += static_cast<double>(std::count(cov_in.begin(), cov_in.end(), true)) /
                static_cast<double>(std::count(in_image.begin(), in_image.end(), true)) / n;
    std::vector<LocalFeature> salted = img.stored;
    for (LocalFeature& f : salted) f.descriptor = salter.SaltLocalDescriptor(f.descriptor);
    std::vector<bool> c2;
    const std::vector<double> outsider = Reconstruct(salted, w, pixel_mean, &c2);
    outsider_cov += Correlation(outsider, truth, cov_in) / n;
    // Chance: another image's descriptors pasted at this image's positions.
    std::vector<LocalFeature> other = test[(k + 1) % test.size()].stored;
    other.resize(std::min(other.size(), img.stored.size()));
    for (size_t i = 0; i < other.size(); ++i) other[i].x = img.stored[i].x, other[i].y = img.stored[i].y;
    std::vector<bool> c3;
    const std::vector<double> chance = Reconstruct(other, w, pixel_mean, &c3);
    std::vector<bool> c3_in(c3.size());
    for (size_t i = 0; i < c3.size(); ++i) c3_in[i] = c3[i] && in_image[i];
    chance_cov += Correlation(chance, truth, c3_in) / n;
    const std::vector<double> pdq = InvertPdq(img.pdq);
    pdq_full += Correlation(pdq, SquareThumb(img.grey), std::vector<bool>(pdq.size(), true)) / n;
  }
  std::printf("trained on %zu features of %zu tune images; attacked %zu holdout originals at %dx%d\n", samples,
              train.size(), test.size(), kThumb, kThumb);
  std::printf("robust, salt holder:   correlation %.2f over the covered area (%.0f %% of the image), %.2f over "
              "the whole image\n",
              holder_cov, 100 * coverage, holder_full);
  std::printf("robust, no salt:       correlation %.2f over the covered area\n", outsider_cov);
  std::printf("robust, chance:        correlation %.2f over the covered area (another image's descriptors at "
              "these positions)\n",
              chance_cov);
  std::printf("PDQ, salt holder:      correlation %.2f over the whole image (naive DCT-sign inversion)\n", pdq_full);
  return 0;
}
