#include "crypto/hmac_sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace hashbank {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Hex(const HmacSha256Tag& tag) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : tag) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// RFC 4231 section 4.2, test case 1.
TEST(HmacSha256Test, MatchesRfc4231TestCase1) {
  const std::vector<uint8_t> key(20, 0x0b);
  EXPECT_EQ(Hex(HmacSha256(key, Bytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231 section 4.3, test case 2: a key shorter than the output.
TEST(HmacSha256Test, MatchesRfc4231TestCase2) {
  EXPECT_EQ(Hex(HmacSha256(Bytes("Jefe"), Bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 4231 section 4.7, test case 6: a key longer than the SHA-256 block, hashed first.
TEST(HmacSha256Test, MatchesRfc4231TestCase6) {
  const std::vector<uint8_t> key(131, 0xaa);
  EXPECT_EQ(Hex(HmacSha256(key, Bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, AcceptsEmptyKeyAndMessage) {
  // HMAC-SHA-256("", ""), a widely published value.
  EXPECT_EQ(Hex(HmacSha256({}, {})), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace hashbank
