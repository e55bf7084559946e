#include "crypto/salting.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/federation_salt.h"
#include "crypto/hmac_sha256.h"

namespace hashbank {
namespace {

constexpr char kKeyA[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kKeyB[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

FederationSalt Salt(const std::string& id, const char* hex) {
  auto salt = FederationSalt::FromHex(id, hex);
  EXPECT_TRUE(salt.ok()) << salt.status();
  return salt.ok() ? *salt : FederationSalt{};
}

FederationSalt SaltFromSeed(uint64_t seed) {
  std::mt19937_64 rng(seed);
  FederationSalt salt{"seeded", {}, {}};
  for (uint8_t& b : salt.key) b = static_cast<uint8_t>(rng());
  return salt;
}

int Distance(const PdqLimbs& a, const PdqLimbs& b) {
  return std::popcount(a[0] ^ b[0]) + std::popcount(a[1] ^ b[1]) + std::popcount(a[2] ^ b[2]) +
         std::popcount(a[3] ^ b[3]);
}

PdqLimbs RandomPdq(std::mt19937_64& rng) { return {rng(), rng(), rng(), rng()}; }

PdqLimbs UnitBit(int k) {
  PdqLimbs h{};
  h[static_cast<size_t>(k / 64)] = uint64_t{1} << (k % 64);
  return h;
}

// Flips `count` distinct bits of `h`.
PdqLimbs FlipBits(PdqLimbs h, int count, std::mt19937_64& rng) {
  std::set<int> flipped;
  std::uniform_int_distribution<int> bit(0, 255);
  while (static_cast<int>(flipped.size()) < count) flipped.insert(bit(rng));
  for (int k : flipped) h[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
  return h;
}

std::string LimbsHex(const PdqLimbs& h) {  // Hash256::ToHex's layout: bit 255 first
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (int limb = 3; limb >= 0; --limb) {
    for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(h[static_cast<size_t>(limb)] >> shift) & 0xF];
  }
  return out;
}

std::string BytesHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// Where the salt sends each input bit: Salt(e_k) XOR Salt(0) is the single bit destination[k].
std::vector<int> Destinations(const Salter& salter) {
  const PdqLimbs mask = salter.SaltPdq({});
  std::vector<int> destination;
  for (int k = 0; k < 256; ++k) {
    PdqLimbs moved = salter.SaltPdq(UnitBit(k));
    for (size_t i = 0; i < 4; ++i) moved[i] ^= mask[i];
    int position = -1;  // -1 unless exactly one bit is set
    if (Distance(moved, {}) == 1) {
      for (size_t i = 0; i < 4; ++i) {
        if (moved[i] != 0) position = 64 * static_cast<int>(i) + std::countr_zero(moved[i]);
      }
    }
    destination.push_back(position);
  }
  return destination;
}

// ---------------------------------------------------------------------------------------------- PDQ

TEST(SalterPdqTest, KeepsTheSaltId) {
  const Salter salter(Salt("fed-7", kKeyA));
  EXPECT_EQ(salter.salt_id(), "fed-7");
}

TEST(SalterPdqTest, PreservesHammingDistanceExactlyOnRandomPairs) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const PdqLimbs a = RandomPdq(rng);
    const PdqLimbs b = RandomPdq(rng);
    ASSERT_EQ(Distance(salter.SaltPdq(a), salter.SaltPdq(b)), Distance(a, b)) << i;
  }
}

TEST(SalterPdqTest, PreservesSmallHammingDistancesExactly) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(2);
  for (int i = 0; i < 10000; ++i) {
    const int flips = 1 + i % 40;
    const PdqLimbs a = RandomPdq(rng);
    const PdqLimbs b = FlipBits(a, flips, rng);
    ASSERT_EQ(Distance(a, b), flips);
    ASSERT_EQ(Distance(salter.SaltPdq(a), salter.SaltPdq(b)), flips) << i;
  }
  const PdqLimbs zero{};
  const PdqLimbs ones{~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}};
  EXPECT_EQ(Distance(salter.SaltPdq(zero), salter.SaltPdq(ones)), 256);
  EXPECT_EQ(Distance(salter.SaltPdq(zero), salter.SaltPdq(zero)), 0);
}

TEST(SalterPdqTest, UnsaltInvertsSalt) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const PdqLimbs h = RandomPdq(rng);
    ASSERT_EQ(salter.UnsaltPdq(salter.SaltPdq(h)), h) << i;
    ASSERT_EQ(salter.SaltPdq(salter.UnsaltPdq(h)), h) << i;
  }
}

TEST(SalterPdqTest, IsAKeyedBitPermutationNotTheIdentityNorJustAnXor) {
  const Salter salter(Salt("a", kKeyA));
  EXPECT_NE(salter.SaltPdq({}), PdqLimbs{}) << "the mask is zero";
  const std::vector<int> destination = Destinations(salter);
  std::set<int> distinct;
  int moved = 0;
  for (int k = 0; k < 256; ++k) {
    ASSERT_GE(destination[static_cast<size_t>(k)], 0) << "bit " << k << " did not land on exactly one bit";
    distinct.insert(destination[static_cast<size_t>(k)]);
    if (destination[static_cast<size_t>(k)] != k) ++moved;
  }
  EXPECT_EQ(distinct.size(), 256U);
  // A pure XOR would move no bit; a random permutation fixes about one.
  EXPECT_GE(moved, 240);
}

TEST(SalterPdqTest, SameKeyGivesIdenticalOutputsAcrossInstances) {
  const Salter first(Salt("one-id", kKeyA));
  const Salter second(Salt("another-id", kKeyA));  // the id is a label: the key alone decides
  std::mt19937_64 rng(4);
  for (int i = 0; i < 1000; ++i) {
    const PdqLimbs h = RandomPdq(rng);
    ASSERT_EQ(first.SaltPdq(h), second.SaltPdq(h));
  }
}

TEST(SalterPdqTest, TwoSaltsGiveUnrelatedOutputs) {
  const Salter a(Salt("a", kKeyA));
  const Salter b(Salt("b", kKeyB));
  std::mt19937_64 rng(5);
  constexpr int kSamples = 4000;
  double total = 0;
  for (int i = 0; i < kSamples; ++i) {
    const PdqLimbs h = RandomPdq(rng);
    total += Distance(a.SaltPdq(h), b.SaltPdq(h));
  }
  const double mean = total / kSamples;
  EXPECT_GT(mean, 112.0);
  EXPECT_LT(mean, 144.0);

  // Nor do the permutations agree beyond chance (about one common position expected).
  const std::vector<int> da = Destinations(a);
  const std::vector<int> db = Destinations(b);
  int same = 0;
  for (size_t k = 0; k < 256; ++k) same += da[k] == db[k] ? 1 : 0;
  EXPECT_LE(same, 8);
  // Near neighbours under one salt are far apart across salts.
  const PdqLimbs h = RandomPdq(rng);
  EXPECT_GT(Distance(a.SaltPdq(h), b.SaltPdq(FlipBits(h, 5, rng))), 80);
}

TEST(SalterPdqTest, PermutationIsUniformAcrossKeys) {
  // Catches a biased or off-by-one shuffle: Sattolo's variant (j < i) would never fix a bit, a modulo-biased
  // or truncated one skews where bit 0 lands.
  constexpr int kKeys = 4096;
  std::vector<int> landing(256, 0);
  double fixed_points = 0;
  for (int key = 0; key < kKeys; ++key) {
    const Salter salter(SaltFromSeed(static_cast<uint64_t>(key)));
    const std::vector<int> destination = Destinations(salter);
    ++landing[static_cast<size_t>(destination[0])];
    for (int k = 0; k < 256; ++k) fixed_points += destination[static_cast<size_t>(k)] == k ? 1 : 0;
  }
  const double mean_fixed_points = fixed_points / kKeys;  // 1 for a uniform permutation, sd of mean ~0.016
  EXPECT_GT(mean_fixed_points, 0.9);
  EXPECT_LT(mean_fixed_points, 1.1);
  const double expected = kKeys / 256.0;
  double chi_square = 0;
  for (int count : landing) chi_square += (count - expected) * (count - expected) / expected;
  EXPECT_LT(chi_square, 360.0);  // 255 degrees of freedom: p < 1e-4 above 360
}

// Pins the derivation (KDF contexts, subkey ids, stream, shuffle): changing any of it re-salts the whole
// federation, so this must only change together with a salt-format version.
TEST(SalterPdqTest, GoldenOutputIsPinned) {
  const Salter salter(Salt("golden", kKeyA));
  EXPECT_EQ(LimbsHex(salter.SaltPdq({})), "d2b66c224d45ca815212d64186b4d41b9c8ff55eb01ddd62bcad5a809543bc38");
  const PdqLimbs h{0x0123456789abcdefULL, 0xfedcba9876543210ULL, 0x0f0f0f0f0f0f0f0fULL, 0x8000000000000001ULL};
  EXPECT_EQ(LimbsHex(salter.SaltPdq(h)), "c2bf240818cde62ff812ef40cce73f778f6df8c98cb97530bcb03e66fd3bbda8");
}

// ------------------------------------------------------------------------------------------ embeddings

std::vector<float> RandomVector(size_t d, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(d);
  for (float& x : v) x = normal(rng);
  return v;
}

double Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

double Norm(std::span<const float> a) { return std::sqrt(Dot(a, a)); }

double Cosine(std::span<const float> a, std::span<const float> b) { return Dot(a, b) / (Norm(a) * Norm(b)); }

std::vector<float> MustSalt(const Salter& salter, const std::vector<float>& v) {
  auto out = salter.SaltEmbedding(v);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return std::vector<float>(v.size(), 0.0f);
  EXPECT_EQ(out->size(), v.size());
  return *out;
}

TEST(SalterEmbeddingTest, PreservesNormAndCosine) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(6);
  for (size_t d : {1U, 2U, 3U, 64U, 512U}) {
    for (int i = 0; i < 20; ++i) {
      const std::vector<float> a = RandomVector(d, rng);
      std::vector<float> b = RandomVector(d, rng);
      if (i % 2 == 0) {  // a near duplicate: cosine close to 1
        for (size_t k = 0; k < d; ++k) b[k] = a[k] + 0.05f * b[k];
      }
      const std::vector<float> sa = MustSalt(salter, a);
      const std::vector<float> sb = MustSalt(salter, b);
      EXPECT_NEAR(Norm(sa) / Norm(a), 1.0, 1e-5) << "d=" << d;
      EXPECT_NEAR(Norm(sb) / Norm(b), 1.0, 1e-5) << "d=" << d;
      EXPECT_NEAR(Cosine(sa, sb), Cosine(a, b), 1e-5) << "d=" << d;
    }
  }
}

TEST(SalterEmbeddingTest, IsNotTheIdentity) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(7);
  for (size_t d : {2U, 3U, 64U, 512U}) {
    const std::vector<float> v = RandomVector(d, rng);
    const std::vector<float> s = MustSalt(salter, v);
    double largest_change = 0;
    for (size_t k = 0; k < d; ++k) largest_change = std::max(largest_change, std::fabs(double{s[k]} - v[k]));
    EXPECT_GT(largest_change, 1e-2) << "d=" << d;
    if (d >= 64) {
      EXPECT_LT(std::fabs(Cosine(s, v)), 0.5) << "d=" << d;
    }
  }
}

TEST(SalterEmbeddingTest, MatrixIsOrthogonal) {
  // Salting basis vector e_i gives column i of Q; Q^T Q = I (so Q Q^T = I for a square Q).
  const Salter salter(Salt("a", kKeyA));
  constexpr size_t kD = 64;
  std::vector<std::vector<float>> columns;
  for (size_t i = 0; i < kD; ++i) {
    std::vector<float> e(kD, 0.0f);
    e[i] = 1.0f;
    columns.push_back(MustSalt(salter, e));
  }
  for (size_t i = 0; i < kD; ++i) {
    for (size_t j = 0; j < kD; ++j) {
      ASSERT_NEAR(Dot(columns[i], columns[j]), i == j ? 1.0 : 0.0, 1e-5) << i << "," << j;
    }
  }
}

TEST(SalterEmbeddingTest, TwoSaltsGiveUnrelatedOutputs) {
  const Salter a(Salt("a", kKeyA));
  const Salter b(Salt("b", kKeyB));
  std::mt19937_64 rng(8);
  for (int i = 0; i < 10; ++i) {
    const std::vector<float> v = RandomVector(512, rng);
    EXPECT_LT(std::fabs(Cosine(MustSalt(a, v), MustSalt(b, v))), 0.2);  // sd about 1/sqrt(512) = 0.044
  }
}

TEST(SalterEmbeddingTest, SameKeyGivesIdenticalOutputsAcrossInstancesAndCacheEvictions) {
  const Salter first(Salt("a", kKeyA));
  const Salter second(Salt("a", kKeyA));
  std::mt19937_64 rng(9);
  const std::vector<float> v = RandomVector(64, rng);
  const std::vector<float> before = MustSalt(first, v);
  EXPECT_EQ(MustSalt(second, v), before);
  // More dimensions than the cache holds evict d = 64; rebuilding it gives the same matrix.
  for (size_t d = 1; d <= Salter::kMaxCachedRotations + 1; ++d) MustSalt(first, RandomVector(d, rng));
  EXPECT_EQ(MustSalt(first, v), before);
}

TEST(SalterEmbeddingTest, ConcurrentFirstUseGivesTheSameResult) {
  const Salter reference(Salt("a", kKeyA));
  std::mt19937_64 rng(10);
  const std::vector<float> v = RandomVector(128, rng);
  const std::vector<float> expected = MustSalt(reference, v);

  const Salter shared(Salt("a", kKeyA));
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      auto out = shared.SaltEmbedding(v);
      if (out.ok()) results[t] = *std::move(out);
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::vector<float>& r : results) EXPECT_EQ(r, expected);
}

TEST(SalterEmbeddingTest, RejectsDimensionOutOfRange) {
  const Salter salter(Salt("a", kKeyA));
  for (size_t d : {size_t{0}, Salter::kMaxEmbeddingDimension + 1, size_t{5000}}) {
    const std::vector<float> v(d, 1.0f);
    auto out = salter.SaltEmbedding(v);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << d;
    EXPECT_NE(std::string(out.status().message()).find("1..4096 dimensions, got " + std::to_string(d)),
              std::string::npos)
        << out.status();
  }
}

TEST(SalterEmbeddingTest, RejectsNonFiniteComponentsAndOverflowingNorm) {
  const Salter salter(Salt("a", kKeyA));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> v(8, 1.0f);
    v[5] = bad;
    auto out = salter.SaltEmbedding(v);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(out.status().message()).find("component 5 is not a finite number"), std::string::npos)
        << out.status();
  }
  const std::vector<float> huge(2, 3e38f);  // each finite, norm 4.2e38 > FLT_MAX
  EXPECT_EQ(salter.SaltEmbedding(huge).status().code(), absl::StatusCode::kInvalidArgument);
}

// Pins the embedding derivation, to float rounding (libm's log/sin/cos may differ by an ulp elsewhere).
TEST(SalterEmbeddingTest, GoldenOutputIsPinned) {
  const Salter salter(Salt("golden", kKeyA));
  const std::vector<float> out = MustSalt(salter, {1.0f, 2.0f, 3.0f});
  const std::vector<float> expected = {-0.5918195f, -1.6979146f, -3.2812858f};
  ASSERT_EQ(out.size(), expected.size());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], expected[i], 1e-5) << i;
}

// ------------------------------------------------------------------------------------------------ exact

TEST(SalterExactTest, IsHmacSha256OfKindByteAndDigestUnderTheKdfSubkey) {
  // Recomputes the documented construction from libsodium directly.
  const FederationSalt salt = Salt("a", kKeyA);
  std::array<uint8_t, 32> subkey{};
  ASSERT_EQ(crypto_kdf_derive_from_key(subkey.data(), subkey.size(), 4, "hbsalt01", salt.key.data()), 0);
  std::vector<uint8_t> digest(32);
  for (size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<uint8_t>(3 * i + 1);
  std::vector<uint8_t> message = {0x02};
  message.insert(message.end(), digest.begin(), digest.end());

  const Salter salter(salt);
  auto salted = salter.SaltExact(ExactKind::kSha256, digest);
  ASSERT_TRUE(salted.ok()) << salted.status();
  EXPECT_EQ(*salted, HmacSha256(subkey, message));
}

TEST(SalterExactTest, DeterministicAcrossInstancesAndKeyedBySalt) {
  const Salter first(Salt("a", kKeyA));
  const Salter second(Salt("a2", kKeyA));
  const Salter other(Salt("b", kKeyB));
  const std::vector<uint8_t> md5(16, 0x42);
  auto x = first.SaltExact(ExactKind::kMd5, md5);
  auto y = second.SaltExact(ExactKind::kMd5, md5);
  auto z = other.SaltExact(ExactKind::kMd5, md5);
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  EXPECT_EQ(*x, *y);
  EXPECT_NE(*x, *z);
  // Unrelated, not merely different: about half the 256 bits differ.
  int differing = 0;
  for (size_t i = 0; i < x->size(); ++i) differing += std::popcount(static_cast<unsigned>((*x)[i] ^ (*z)[i]));
  EXPECT_GT(differing, 80);
  EXPECT_LT(differing, 176);
}

TEST(SalterExactTest, Md5AndSha256WithTheSameLeadingBytesDiffer) {
  const Salter salter(Salt("a", kKeyA));
  std::vector<uint8_t> sha256(32);
  for (size_t i = 0; i < sha256.size(); ++i) sha256[i] = static_cast<uint8_t>(i * 7);
  const std::vector<uint8_t> md5(sha256.begin(), sha256.begin() + 16);
  auto salted_md5 = salter.SaltExact(ExactKind::kMd5, md5);
  auto salted_sha256 = salter.SaltExact(ExactKind::kSha256, sha256);
  ASSERT_TRUE(salted_md5.ok() && salted_sha256.ok());
  EXPECT_NE(*salted_md5, *salted_sha256);
  // A different digest of the same kind salts differently too.
  std::vector<uint8_t> changed = sha256;
  changed[31] ^= 1;
  EXPECT_NE(*salter.SaltExact(ExactKind::kSha256, changed), *salted_sha256);
}

TEST(SalterExactTest, RejectsWrongDigestLengths) {
  const Salter salter(Salt("a", kKeyA));
  for (size_t size : {0U, 15U, 17U, 32U}) {
    auto out = salter.SaltExact(ExactKind::kMd5, std::vector<uint8_t>(size, 1));
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_NE(std::string(out.status().message()).find("an MD5 digest is 16 bytes, got " + std::to_string(size)),
              std::string::npos)
        << out.status();
  }
  for (size_t size : {0U, 16U, 31U, 33U}) {
    auto out = salter.SaltExact(ExactKind::kSha256, std::vector<uint8_t>(size, 1));
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_NE(
        std::string(out.status().message()).find("a SHA-256 digest is 32 bytes, got " + std::to_string(size)),
        std::string::npos)
        << out.status();
  }
}

TEST(SalterExactTest, GoldenOutputIsPinned) {
  const Salter salter(Salt("golden", kKeyA));
  auto out = salter.SaltExact(ExactKind::kMd5, std::vector<uint8_t>(16, 0));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(BytesHex(*out), "62acc84033ec305acf3561ffb46fa42229798fd7378e44ba6929b3ec09969fdf");
}

// ------------------------------------------------------------------------- local-feature descriptors

// Where the local-descriptor salt sends each input bit (as Destinations does for PDQ).
std::vector<int> LocalDestinations(const Salter& salter) {
  const PdqLimbs mask = salter.SaltLocalDescriptor({});
  std::vector<int> destination;
  for (int k = 0; k < 256; ++k) {
    PdqLimbs moved = salter.SaltLocalDescriptor(UnitBit(k));
    for (size_t i = 0; i < 4; ++i) moved[i] ^= mask[i];
    int position = -1;
    if (Distance(moved, {}) == 1) {
      for (size_t i = 0; i < 4; ++i) {
        if (moved[i] != 0) position = 64 * static_cast<int>(i) + std::countr_zero(moved[i]);
      }
    }
    destination.push_back(position);
  }
  return destination;
}

TEST(SalterLocalDescriptorTest, PreservesHammingDistanceExactly) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(11);
  for (int i = 0; i < 10000; ++i) {
    const PdqLimbs a = RandomPdq(rng);
    const PdqLimbs b = RandomPdq(rng);
    ASSERT_EQ(Distance(salter.SaltLocalDescriptor(a), salter.SaltLocalDescriptor(b)), Distance(a, b)) << i;
    // The distances that matter for matching (a true correspondence differs in ~30 of 256 bits).
    const int flips = 1 + i % 64;
    const PdqLimbs c = FlipBits(a, flips, rng);
    ASSERT_EQ(Distance(salter.SaltLocalDescriptor(a), salter.SaltLocalDescriptor(c)), flips) << i;
  }
}

TEST(SalterLocalDescriptorTest, UnsaltInvertsSalt) {
  const Salter salter(Salt("a", kKeyA));
  std::mt19937_64 rng(12);
  for (int i = 0; i < 10000; ++i) {
    const PdqLimbs d = RandomPdq(rng);
    ASSERT_EQ(salter.UnsaltLocalDescriptor(salter.SaltLocalDescriptor(d)), d) << i;
    ASSERT_EQ(salter.SaltLocalDescriptor(salter.UnsaltLocalDescriptor(d)), d) << i;
  }
}

TEST(SalterLocalDescriptorTest, IsAKeyedPermutationAndMaskIndependentOfPdqs) {
  const Salter salter(Salt("a", kKeyA));
  EXPECT_NE(salter.SaltLocalDescriptor({}), PdqLimbs{}) << "the mask is zero";
  EXPECT_NE(salter.SaltLocalDescriptor({}), salter.SaltPdq({})) << "the same mask as PDQ's";
  const std::vector<int> local = LocalDestinations(salter);
  const std::vector<int> pdq = Destinations(salter);
  std::set<int> distinct;
  int moved = 0, same_as_pdq = 0;
  for (size_t k = 0; k < 256; ++k) {
    ASSERT_GE(local[k], 0) << "bit " << k << " did not land on exactly one bit";
    distinct.insert(local[k]);
    moved += local[k] != static_cast<int>(k) ? 1 : 0;
    same_as_pdq += local[k] == pdq[k] ? 1 : 0;
  }
  EXPECT_EQ(distinct.size(), 256u);
  EXPECT_GE(moved, 240);
  EXPECT_LE(same_as_pdq, 8);  // two independent permutations share about one position
  // So the same 256 bits salt to unrelated values as a PDQ hash and as a descriptor.
  std::mt19937_64 rng(13);
  double total = 0;
  for (int i = 0; i < 2000; ++i) {
    const PdqLimbs h = RandomPdq(rng);
    ASSERT_NE(salter.SaltLocalDescriptor(h), salter.SaltPdq(h));
    total += Distance(salter.SaltLocalDescriptor(h), salter.SaltPdq(h));
  }
  EXPECT_GT(total / 2000, 112.0);
  EXPECT_LT(total / 2000, 144.0);
}

TEST(SalterLocalDescriptorTest, SameKeySameOutputDifferentKeyUnrelated) {
  const Salter first(Salt("one-id", kKeyA));
  const Salter second(Salt("another-id", kKeyA));
  const Salter other(Salt("b", kKeyB));
  std::mt19937_64 rng(14);
  double total = 0;
  for (int i = 0; i < 2000; ++i) {
    const PdqLimbs d = RandomPdq(rng);
    ASSERT_EQ(first.SaltLocalDescriptor(d), second.SaltLocalDescriptor(d));
    total += Distance(first.SaltLocalDescriptor(d), other.SaltLocalDescriptor(d));
  }
  EXPECT_GT(total / 2000, 112.0);
  EXPECT_LT(total / 2000, 144.0);
  int same = 0;
  const std::vector<int> a = LocalDestinations(first), b = LocalDestinations(other);
  for (size_t k = 0; k < 256; ++k) same += a[k] == b[k] ? 1 : 0;
  EXPECT_LE(same, 8);
  // A descriptor and its near copy stay near under one key, and are far apart across keys.
  const PdqLimbs d = RandomPdq(rng);
  const PdqLimbs near = FlipBits(d, 20, rng);
  EXPECT_EQ(Distance(first.SaltLocalDescriptor(d), first.SaltLocalDescriptor(near)), 20);
  EXPECT_GT(Distance(first.SaltLocalDescriptor(d), other.SaltLocalDescriptor(near)), 80);
}

}  // namespace
}  // namespace hashbank

namespace hashbank {
namespace {

// Salt rotation: the next salt's exact values are the previous salt's HMACed once more under the new exact
// key (computed here with the HMAC primitive, independently of Salter's chain loop), so a stored value moves
// to the new salt without the digest; PDQ and embeddings move by un-salting with the old key.
TEST(SalterRotationTest, TheNextSaltChainsExactHashesAndMovesEveryOtherValue) {
  const FederationSalt first = SaltFromSeed(11);
  const Salter from(first);
  FederationSalt second = SaltFromSeed(12);
  second.exact_chain = {from.exact_chain_link()};
  const Salter to(second);
  EXPECT_TRUE(to.Follows(from));
  EXPECT_FALSE(from.Follows(to));
  EXPECT_FALSE(Salter(SaltFromSeed(12)).Follows(from)) << "no chain: not a successor";

  std::array<uint8_t, 16> md5{};
  for (size_t i = 0; i < md5.size(); ++i) md5[i] = static_cast<uint8_t>(7 * i + 3);
  auto old_value = from.SaltExact(ExactKind::kMd5, md5);
  auto new_value = to.SaltExact(ExactKind::kMd5, md5);
  ASSERT_TRUE(old_value.ok() && new_value.ok());
  EXPECT_NE(*old_value, *new_value);
  EXPECT_EQ(to.ResaltExact(ExactKind::kMd5, *old_value), *new_value);
  // By hand: HMAC(to's own exact key, 0x01-domain byte || old value) for the same kind as SaltExact uses.
  std::array<uint8_t, 17> first_message{};
  std::array<uint8_t, 33> second_message{};
  first_message[0] = 1;
  std::copy(md5.begin(), md5.end(), first_message.begin() + 1);
  const auto inner = HmacSha256(from.exact_chain_link(), first_message);
  EXPECT_TRUE(std::equal(inner.begin(), inner.end(), old_value->begin())) << "domain byte 1 for MD5";
  second_message[0] = 1;
  std::copy(inner.begin(), inner.end(), second_message.begin() + 1);
  const auto outer = HmacSha256(to.exact_chain_link(), second_message);
  EXPECT_TRUE(std::equal(outer.begin(), outer.end(), new_value->begin()));

  // A third salt chains both.
  FederationSalt third = SaltFromSeed(13);
  third.exact_chain = {from.exact_chain_link(), to.exact_chain_link()};
  const Salter after(third);
  EXPECT_TRUE(after.Follows(to));
  EXPECT_FALSE(after.Follows(from));
  EXPECT_EQ(*after.SaltExact(ExactKind::kMd5, md5), after.ResaltExact(ExactKind::kMd5, *new_value));

  // Embeddings: Q^T undoes Q.
  std::vector<float> v(64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(static_cast<double>(i) + 1.0));
  auto salted = from.SaltEmbedding(v);
  ASSERT_TRUE(salted.ok());
  auto back = from.UnsaltEmbedding(*salted);
  ASSERT_TRUE(back.ok());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR((*back)[i], v[i], 1e-5f) << i;
}

TEST(SalterRotationTest, TheChainIsPartOfTheSaltFileAndOfItsCheckValue) {
  FederationSalt salt = SaltFromSeed(21);
  const std::string plain_check = salt.CheckValue();
  salt.exact_chain = {Salter(SaltFromSeed(20)).exact_chain_link()};
  EXPECT_NE(salt.CheckValue(), plain_check) << "a chain changes what the salt does to exact hashes";
  const std::string file = salt.ToFileJson();
  auto parsed = FederationSalt::FromFileJson(file, "salt.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->exact_chain, salt.exact_chain);
  EXPECT_EQ(parsed->CheckValue(), salt.CheckValue());
  // A chain link changed in the file no longer gives the recorded check value.
  std::string tampered = file;
  const size_t at = tampered.find("exact_chain\":[\"") + 15;
  tampered[at] = tampered[at] == '0' ? '1' : '0';
  auto bad = FederationSalt::FromFileJson(tampered, "salt.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("check value"), std::string_view::npos) << bad.status();
}

}  // namespace
}  // namespace hashbank
