// The portable MD5 and SHA-256 (used by the WebAssembly build) against published test vectors and against
// OpenSSL (through ComputeExactHashes) on every length that exercises the padding boundaries.
#include "hashing/portable_digest.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "hashing/exact_hash.h"
#include "hashing/hash256.h"

namespace hashbank {
namespace {

std::string Hex(std::span<const uint8_t> d) { return BytesToHex(d.data(), d.size()); }
std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

TEST(PortableDigestTest, Rfc1321TestSuite) {
  // RFC 1321 appendix A.5.
  EXPECT_EQ(Hex(PortableMd5(Bytes(""))), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Hex(PortableMd5(Bytes("a"))), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Hex(PortableMd5(Bytes("abc"))), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Hex(PortableMd5(Bytes("message digest"))), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(Hex(PortableMd5(Bytes("abcdefghijklmnopqrstuvwxyz"))), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(Hex(PortableMd5(Bytes("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(PortableDigestTest, Fips180Examples) {
  // FIPS 180-2 appendix B.1 and B.2.
  EXPECT_EQ(Hex(PortableSha256(Bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(PortableSha256(Bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Hex(PortableSha256(Bytes(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(PortableDigestTest, AgreesWithOpenSslOnEveryPaddingBoundary) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(300);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  for (size_t n = 0; n <= data.size(); ++n) {
    const std::span<const uint8_t> in(data.data(), n);
    const ExactHashes want = ComputeExactHashes(in);
    ASSERT_EQ(PortableMd5(in), want.md5) << "length " << n;
    ASSERT_EQ(PortableSha256(in), want.sha256) << "length " << n;
  }
  // A larger buffer (several MiB, as an image file is).
  std::vector<uint8_t> big(5'000'003);
  for (uint8_t& b : big) b = static_cast<uint8_t>(rng());
  const ExactHashes want = ComputeExactHashes(big);
  EXPECT_EQ(PortableMd5(big), want.md5);
  EXPECT_EQ(PortableSha256(big), want.sha256);
}

}  // namespace
}  // namespace hashbank
