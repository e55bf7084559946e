// The optimised hasher (line-parallel SIMD filter, pass-2 pruning, derived dihedrals) against the plain
// transcription in tests/support/pdq_naive.cc, on random images of many shapes: every float must agree.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "hashing/image_decoder.h"
#include "hashing/pdq_hasher.h"
#include "tests/support/image_encode.h"
#include "tests/support/pdq_naive.h"

namespace hashbank {
namespace {

using testing::NaivePdq;

struct Shape {
  int cols, rows, channels;
};

class PdqNaiveAgreementTest : public ::testing::TestWithParam<Shape> {};

TEST_P(PdqNaiveAgreementTest, BitIdenticalOnRandomPixels) {
  const Shape s = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(s.cols * 1000 + s.rows * 10 + s.channels));
  PdqHasher hasher;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<uint8_t> px(static_cast<size_t>(s.cols * s.rows * s.channels));
    // Trial 0: uniform noise; 1: smooth photo-like; 2: nearly flat (values 0..2), where bits are rounding noise.
    if (trial == 1) {
      px = testing::SyntheticImage(s.cols, s.rows, s.channels, static_cast<uint32_t>(rng()));
    } else {
      const int range = trial == 0 ? 256 : 3;
      for (auto& p : px) p = static_cast<uint8_t>(rng() % static_cast<unsigned>(range));
    }
    for (bool dihedral : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "trial " << trial << " dihedral " << dihedral);
      const auto want = NaivePdq(px.data(), s.cols, s.rows, s.channels, dihedral);
      float a[64 * 64];
      hasher.Downsample(px.data(), s.cols, s.rows, s.channels, !dihedral, a);
      ASSERT_EQ(std::memcmp(a, want.downsampled.data(), sizeof(a)), 0);
      if (dihedral) {
        const PdqDihedralResult got = hasher.HashDihedral(px.data(), s.cols, s.rows, s.channels);
        EXPECT_EQ(got.quality, want.quality);
        for (size_t d = 0; d < 8; ++d) EXPECT_EQ(got.hashes[d], want.hashes[d]) << d;
      } else {
        const PdqResult got = hasher.Hash(px.data(), s.cols, s.rows, s.channels);
        EXPECT_EQ(got.quality, want.quality);
        EXPECT_EQ(got.hash, want.hashes[0]);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PdqNaiveAgreementTest,
                         ::testing::Values(Shape{5, 5, 1}, Shape{7, 300, 3}, Shape{34, 42, 3}, Shape{63, 65, 1},
                                           Shape{64, 64, 3}, Shape{64, 64, 1}, Shape{100, 160, 3},
                                           Shape{128, 129, 3}, Shape{255, 257, 1}, Shape{384, 385, 3},
                                           Shape{512, 512, 3}, Shape{512, 300, 1}, Shape{17, 512, 3}));

TEST(PdqPreResizeTest, DecoderSamplesLikeTheReferenceNearestNeighbour) {
  // Sizes where the resize stretches one side and shrinks the other, and a large odd size.
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{700, 300}, {300, 1301}, {1600, 1004}, {513, 2049}}) {
    SCOPED_TRACE(::testing::Message() << w << "x" << h);
    const std::vector<uint8_t> px = testing::SyntheticImage(w, h, 3, static_cast<uint32_t>(w + h));
    PreparedImage image;
    ASSERT_TRUE(PrepareImageForPdq(testing::EncodePng(px, w, h, 2 /*RGB*/, 8), ImageLimits{}, &image).ok());
    int cols = 0, rows = 0;
    const std::vector<uint8_t> want = testing::NaivePreResize(px, w, h, 3, &cols, &rows);
    EXPECT_EQ(image.width, cols);
    EXPECT_EQ(image.height, rows);
    EXPECT_EQ(image.original_width, w);
    EXPECT_EQ(image.original_height, h);
    EXPECT_EQ(image.pixels, want);
  }
}

}  // namespace
}  // namespace hashbank
