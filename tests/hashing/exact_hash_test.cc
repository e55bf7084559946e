#include "hashing/exact_hash.h"

#include <gtest/gtest.h>

#include <string>

#include "hashing/hash256.h"

namespace hashbank {
namespace {

std::string Hex(std::span<const uint8_t> d) { return BytesToHex(d.data(), d.size()); }

TEST(ExactHashTest, KnownAnswersForAbc) {
  // RFC 1321 appendix A.5 and FIPS 180-2 appendix B.1.
  const std::string abc = "abc";
  const ExactHashes h = ComputeExactHashes({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()});
  EXPECT_EQ(Hex(h.md5), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Hex(h.sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ExactHashTest, KnownAnswersForEmptyInput) {
  const ExactHashes h = ComputeExactHashes({});
  EXPECT_EQ(Hex(h.md5), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Hex(h.sha256), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace hashbank
