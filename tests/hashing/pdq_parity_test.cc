// Parity with Meta's PDQ reference on its own test data (tests/data/pdq-reference, see its README).
#include <gtest/gtest.h>

#include "hashing/image_hasher.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::DataPath;
using testing::ReadCsv;
using testing::ReadFileBytes;

TEST(PdqParityTest, ExactInputBuffersGiveBitIdenticalHashesAndQualities) {
  // exact.csv: path,source_image,pdq_hex,quality,width,height,channels — the buffers the reference hashed.
  const auto rows = ReadCsv(DataPath("pdq-reference/exact-input/exact.csv"), true);
  ASSERT_EQ(rows.size(), 14u);
  ImageHasher hasher;
  for (const auto& row : rows) {
    SCOPED_TRACE(row[0]);
    auto h = hasher.HashBytes(ReadFileBytes(DataPath("pdq-reference/" + row[0])), false);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->pdq.ToHex(), row[2]);
    EXPECT_EQ(h->quality, std::stoi(row[3]));
    EXPECT_EQ(h->width, std::stoi(row[4]));
    EXPECT_EQ(h->height, std::stoi(row[5]));
  }
}

TEST(PdqParityTest, EveryReferenceImageHashesExactlyAsTheReference) {
  // reference.csv: path,pdq_hex,quality,width,height. The criterion is distance <= 10 at quality >= 80;
  // in-process libjpeg-turbo with the reference's load rules makes exact equality possible, so that is asserted.
  const auto rows = ReadCsv(DataPath("pdq-reference/reference.csv"), true);
  ASSERT_EQ(rows.size(), 31u);
  ImageHasher hasher;
  int exact = 0;
  for (const auto& row : rows) {
    SCOPED_TRACE(row[0]);
    auto h = hasher.HashFile(DataPath("pdq-reference/" + row[0]), false);
    ASSERT_TRUE(h.ok()) << h.status();
    auto want = Hash256::FromHex(row[1]);
    ASSERT_TRUE(want.ok());
    const int distance = HammingDistance(h->pdq, *want);
    if (std::stoi(row[2]) >= 80) {
      EXPECT_LE(distance, 10);
    }
    EXPECT_EQ(distance, 0);
    EXPECT_EQ(h->quality, std::stoi(row[2]));
    EXPECT_EQ(h->width, std::stoi(row[3]));
    EXPECT_EQ(h->height, std::stoi(row[4]));
    exact += distance == 0 && h->quality == std::stoi(row[2]);
  }
  EXPECT_EQ(exact, 31);
}

TEST(PdqParityTest, DihedralHashesEqualTheReferences) {
  // dihedral.csv: path,orig,rot90,rot180,rot270,flipx,flipy,flipp,flipm,quality
  const auto rows = ReadCsv(DataPath("pdq-reference/dihedral.csv"), true);
  ASSERT_EQ(rows.size(), 31u);
  ImageHasher hasher;
  for (const auto& row : rows) {
    SCOPED_TRACE(row[0]);
    auto h = hasher.HashFile(DataPath("pdq-reference/" + row[0]), true);
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h->dihedral.has_value());
    for (size_t d = 0; d < 8; ++d) {
      EXPECT_EQ((*h->dihedral)[d].ToHex(), row[1 + d]) << DihedralName(static_cast<Dihedral>(d));
    }
    EXPECT_EQ(h->quality, std::stoi(row[9]));
  }
}

TEST(PdqParityTest, SixtyFourSquareTakesTheShortcutOnlyOnThePlainPath) {
  // The reference's plain path copies a 64x64 input straight through; its dihedral path always filters.
  ImageHasher hasher;
  const auto bytes = ReadFileBytes(DataPath("pdq-reference/exact-input/derived__bridge-1-original-64x64.png"));
  auto plain = hasher.HashBytes(bytes, false);
  auto dih = hasher.HashBytes(bytes, true);
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(dih.ok());
  EXPECT_EQ(plain->pdq.ToHex(), "58f870cee0f4e84f06370a32038f67f0b36e2ed596621e1d33e6b39c4e9c9b22");
  // Filtering with window 1 is an identity up to running-sum rounding, so the hashes are close but the
  // paths are distinct code: the dihedral orig must still be within a few bits.
  EXPECT_LE(HammingDistance(plain->pdq, (*dih->dihedral)[0]), 8);
}

}  // namespace
}  // namespace hashbank
