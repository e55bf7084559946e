// PdqHasher: the PDQ perceptual hash of an 8-bit pixel buffer, bit-identical to Meta's reference
// implementation (facebook/ThreatExchange pdq/cpp) as described in shared/pdq-reference/ALGORITHM.md.
//
// Input is what the reference hashes after its load step: rows x cols pixels, row-major, 1 channel (grey) or
// 3 channels (RGB), with any side > 512 already resampled to 512x512 (ImagePreparer in image_decoder.h does
// that). The stages are exposed for tests against the reference's intermediate values.
//
// Every float operation is done in float, in the reference's order; SIMD runs across independent lines and
// outputs only, never inside one reduction, so results are the same bits as the scalar reference. The
// translation unit is built with -ffp-contract=off.
//
// Thread-safety: a PdqHasher owns scratch buffers and is not thread-safe; use one per thread. The free
// functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "hashing/hash256.h"

namespace hashbank {

// The eight dihedral transforms, in the reference tool's `--pdqdih` output order.
enum class Dihedral : int { kOrig = 0, kRot90, kRot180, kRot270, kFlipX, kFlipY, kFlipPlus1, kFlipMinus1 };
inline constexpr int kNumDihedral = 8;
// "orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipp", "flipm" (the reference's names).
std::string_view DihedralName(Dihedral d);

struct PdqResult {
  Hash256 hash;
  int quality = 0;  // 0..100; the reference recommends discarding hashes with quality < 50
};

struct PdqDihedralResult {
  std::array<Hash256, kNumDihedral> hashes;  // indexed by Dihedral
  int quality = 0;
};

class PdqHasher {
 public:
  // The reference's plain path: a 64x64 input skips the filter and is hashed directly.
  PdqResult Hash(const uint8_t* pixels, int cols, int rows, int channels);
  // The reference's dihedral path: always filters, derives all eight hashes from one DCT.
  PdqDihedralResult HashDihedral(const uint8_t* pixels, int cols, int rows, int channels);

  // Stage: luma, two passes of the Jarosz box filter, decimation to 64x64 (row-major, 4096 floats).
  // With allow_64x64_shortcut, a 64x64 input is copied through unfiltered (the plain path's rule).
  // Requires rows >= 5 and cols >= 5.
  void Downsample(const uint8_t* pixels, int cols, int rows, int channels, bool allow_64x64_shortcut,
                  float* out64x64);

 private:
  std::vector<float> buf_a_, buf_b_, lines_a_, lines_b_, sums_;
  std::vector<uint8_t> need_;
};

// Stage: the quality metric (0..100) of a 64x64 buffer.
int PdqQuality(const float* a64x64);
// Stage: 16x16 DCT of a 64x64 buffer, DC dropped; out[16*i + j] is vertical frequency i+1, horizontal j+1.
void PdqDct64To16(const float* a64x64, float* out16x16);
// Stage: bit 16*i+j set iff dct[16*i+j] is strictly above the lower median (the 128th smallest value).
Hash256 PdqThreshold(const float* dct16x16);
// Stage: the DCT of a dihedral transform of the image, derived from the original's DCT.
void PdqDihedralDct(const float* dct16x16, Dihedral transform, float* out16x16);

}  // namespace hashbank
