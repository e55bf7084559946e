// crypto/sha256 against FIPS 180-2's test vectors, and parts hashed as their concatenation, from many
// threads (each has its own context).
#include "crypto/sha256.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace hashbank {
namespace {

std::string Hex(const Sha256Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : h) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, PartsHashAsTheirConcatenationOnEveryThread) {
  const Sha256Hash whole = Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 200; ++i) {
        all = all && Sha256({Bytes("abcdbcdecdefdefgefgh"), Bytes(""), Bytes("fghighijhijkijkljklmklmnlmnomnopnopq")}) == whole;
      }
      ok[t] = all ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 1);
  EXPECT_NE(Sha256({Bytes("ab"), Bytes("c")}), Sha256("abd"));
}

}  // namespace
}  // namespace hashbank
