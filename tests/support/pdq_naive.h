// A deliberately plain transcription of shared/pdq-reference/ALGORITHM.md sections 2.1-2.10: scalar loops,
// strided 1-D box filters applied pass by pass over full buffers, a full sort for the median. It shares no
// code with matcher/pdq_hasher.cc, so agreement between the two on random inputs is evidence, and it is the
// "reference-style hash stage" baseline in bench/.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hashing/hash256.h"

namespace hashbank::testing {

struct NaivePdqOutput {
  std::array<Hash256, 8> hashes;  // [0] = orig; all 8 filled only when dihedral
  int quality = 0;
  std::vector<float> downsampled;  // 64 x 64
  std::vector<float> dct;          // 16 x 16
};

// pixels: rows x cols x channels (1 or 3), already pre-resized. `dihedral` selects the reference's dihedral
// path (always filters; all eight hashes).
NaivePdqOutput NaivePdq(const uint8_t* pixels, int cols, int rows, int channels, bool dihedral);

// The reference's nearest-neighbour pre-resize to 512 x 512 (section 2.1), for any side > 512.
std::vector<uint8_t> NaivePreResize(const std::vector<uint8_t>& pixels, int cols, int rows, int channels,
                                    int* out_cols, int* out_rows);

}  // namespace hashbank::testing
