#include "hashing/hash256.h"

#include <gtest/gtest.h>

namespace hashbank {
namespace {

TEST(Hash256Test, BitZeroIsTheLastHexDigit) {
  Hash256 h;
  h.SetBit(0);
  EXPECT_EQ(h.ToHex(), std::string(63, '0') + "1");
  Hash256 top;
  top.SetBit(255);
  EXPECT_EQ(top.ToHex(), "8" + std::string(63, '0'));
}

TEST(Hash256Test, ReferenceWordLayout) {
  // The reference prints w[15]..w[0] as %04hx; bit j of w[i] is bit 16*i + j. Word 0 = 0x0001 and
  // word 15 = 0x8000 give "8000" + 56 zeros + "0001".
  Hash256 h;
  h.SetBit(0);
  h.SetBit(16 * 15 + 15);
  EXPECT_EQ(h.ToHex(), "8000" + std::string(56, '0') + "0001");
}

TEST(Hash256Test, HexRoundTripsAndAcceptsUpperCase) {
  const std::string hex = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
  auto h = Hash256::FromHex(hex);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->ToHex(), hex);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  auto h2 = Hash256::FromHex(upper);
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(*h, *h2);
}

TEST(Hash256Test, FromHexRejectsWrongLengthAndNonHex) {
  EXPECT_EQ(Hash256::FromHex("abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hash256::FromHex(std::string(65, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = Hash256::FromHex(std::string(63, 'a') + "g");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("position 63"), std::string::npos);
}

TEST(Hash256Test, HammingDistanceCountsDifferingBits) {
  Hash256 a, b;
  EXPECT_EQ(HammingDistance(a, b), 0);
  b.SetBit(3);
  b.SetBit(100);
  b.SetBit(255);
  EXPECT_EQ(HammingDistance(a, b), 3);
  EXPECT_EQ(b.PopCount(), 3);
}

}  // namespace
}  // namespace hashbank
