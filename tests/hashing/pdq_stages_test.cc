// Each stage of the PDQ pipeline against the reference's own intermediate values
// (tests/data/pdq-reference/intermediates: printed %.9g, so they round-trip to float32 exactly).
#include <gtest/gtest.h>

#include <cstring>

#include "hashing/image_decoder.h"
#include "hashing/pdq_hasher.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::DataPath;
using testing::ReadFileBytes;
using testing::ReadFloatGrid;

struct StageCase {
  const char* exact_input;  // the exact buffer the reference hashed
  const char* name;         // intermediates/<name>-*.csv
  const char* hash;
  int quality;
};

class PdqStagesTest : public ::testing::TestWithParam<StageCase> {};

TEST_P(PdqStagesTest, EveryStageIsBitIdenticalToTheReference) {
  const StageCase& c = GetParam();
  PreparedImage image;
  ASSERT_TRUE(PrepareImageForPdq(ReadFileBytes(DataPath(std::string("pdq-reference/exact-input/") + c.exact_input)),
                                 ImageLimits{}, &image)
                  .ok());
  PdqHasher hasher;
  float a[64 * 64];
  hasher.Downsample(image.pixels.data(), image.width, image.height, image.channels, true, a);
  const std::vector<float> want64 = ReadFloatGrid(DataPath(std::string("pdq-reference/intermediates/") + c.name + "-64x64.csv"));
  ASSERT_EQ(want64.size(), 4096u);
  for (size_t i = 0; i < 4096; ++i) {
    ASSERT_EQ(std::memcmp(&a[i], &want64[i], sizeof(float)), 0) << "64x64 cell " << i << ": " << a[i] << " vs " << want64[i];
  }
  float dct[256];
  PdqDct64To16(a, dct);
  const std::vector<float> want_dct = ReadFloatGrid(DataPath(std::string("pdq-reference/intermediates/") + c.name + "-dct16x16.csv"));
  ASSERT_EQ(want_dct.size(), 256u);
  for (size_t i = 0; i < 256; ++i) {
    ASSERT_EQ(std::memcmp(&dct[i], &want_dct[i], sizeof(float)), 0) << "DCT cell " << i << ": " << dct[i] << " vs " << want_dct[i];
  }
  EXPECT_EQ(PdqQuality(a), c.quality);
  EXPECT_EQ(PdqThreshold(dct).ToHex(), c.hash);
}

INSTANTIATE_TEST_SUITE_P(
    Intermediates, PdqStagesTest,
    ::testing::Values(
        StageCase{"reg-test-input__dih__bridge-1-original.png", "bridge-1-original",
                  "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22", 100},
        StageCase{"bridge-mods__shrink-a-lot.png", "shrink-a-lot",
                  "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22", 100}));

TEST(PdqThresholdTest, UsesTheLowerMedianAndAStrictComparison) {
  // Values 0..255: the lower median is 127, so exactly the values 128..255 set their bits.
  float dct[256];
  for (int k = 0; k < 256; ++k) dct[k] = static_cast<float>(255 - k);  // bit k holds value 255-k
  const Hash256 h = PdqThreshold(dct);
  EXPECT_EQ(h.PopCount(), 128);
  for (int k = 0; k < 256; ++k) EXPECT_EQ(h.GetBit(k), 255 - k > 127) << k;
}

TEST(PdqHasherTest, ImagesUnderFivePixelsHashToZeroWithQualityZero) {
  std::vector<uint8_t> px(4 * 100 * 3, 200);
  PdqHasher hasher;
  const PdqResult r = hasher.Hash(px.data(), 100, 4, 3);
  EXPECT_EQ(r.hash, Hash256{});
  EXPECT_EQ(r.quality, 0);
  const PdqDihedralResult d = hasher.HashDihedral(px.data(), 4, 100, 3);
  for (const Hash256& h : d.hashes) EXPECT_EQ(h, Hash256{});
}

TEST(PdqHasherTest, DihedralNamesFollowTheReferenceOrder) {
  EXPECT_EQ(DihedralName(Dihedral::kOrig), "orig");
  EXPECT_EQ(DihedralName(Dihedral::kRot270), "rot270");
  EXPECT_EQ(DihedralName(Dihedral::kFlipMinus1), "flipm");
}

}  // namespace
}  // namespace hashbank
