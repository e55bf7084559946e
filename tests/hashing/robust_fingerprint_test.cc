// The robust fingerprint's stored form (hashing/robust_fingerprint.h, format 1): the byte layout as documented,
// round trips (coordinates to the centre of their 1/256 cell), the aspect header, and every malformed input.
#include "hashing/robust_fingerprint.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace hashbank {
namespace {

std::vector<LocalFeature> RandomFeatures(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<LocalFeature> out(n);
  for (LocalFeature& f : out) {
    for (uint64_t& limb : f.descriptor) limb = rng();
    f.x = static_cast<uint16_t>(rng() % 4096);
    f.y = static_cast<uint16_t>(rng() % 4096);
    f.score = static_cast<int64_t>(rng() % 1000000) + 1;
    f.level = static_cast<uint8_t>(rng() % 6);
  }
  return out;
}

bool Contains(const absl::Status& s, std::string_view text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(RobustFingerprintTest, LayoutIsTheDocumentedOne) {
  LocalFeature f;
  f.x = 0x0ABC;  // cell 0xAB
  f.y = 0x0123;  // cell 0x12
  f.descriptor = {0, 0, 0, 0};
  f.descriptor[0] = 1;                     // bit 0  -> byte 0, bit 0
  f.descriptor[0] |= uint64_t{1} << 9;     // bit 9  -> byte 1, bit 1
  f.descriptor[1] = uint64_t{1} << 63;     // bit 127 -> byte 15, bit 7
  f.descriptor[3] = uint64_t{0xA5} << 56;  // bits 248..255 -> byte 31 = 0xA5
  const absl::StatusOr<std::string> e = EncodeRobust(std::vector<LocalFeature>{f});
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 4u + 34u);
  const auto* p = reinterpret_cast<const uint8_t*>(e->data());
  EXPECT_EQ(p[0], 1);     // version
  EXPECT_EQ(p[1], 1);     // n
  EXPECT_EQ(p[2], 0);     // aspect unknown
  EXPECT_EQ(p[3], 0);     // flags
  EXPECT_EQ(p[4], 0xAB);  // x >> 4
  EXPECT_EQ(p[5], 0x12);  // y >> 4
  std::vector<uint8_t> descriptor(p + 6, p + 38);
  std::vector<uint8_t> want(32, 0);
  want[0] = 0x01;
  want[1] = 0x02;
  want[15] = 0x80;
  want[31] = 0xA5;
  EXPECT_EQ(descriptor, want);
}

TEST(RobustFingerprintTest, RoundTripKeepsDescriptorsAndOrderAndCentresCoordinates) {
  for (size_t n : {size_t{1}, size_t{2}, size_t{64}, size_t{255}}) {
    const std::vector<LocalFeature> features = RandomFeatures(n, n);
    const absl::StatusOr<std::string> e = EncodeRobust(features);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->size(), 4 + 34 * n);
    const absl::StatusOr<std::vector<LocalFeature>> d = DecodeRobust(*e);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_EQ(d->size(), n);
    for (size_t i = 0; i < n; ++i) {
      const LocalFeature& in = features[i];
      const LocalFeature& out = (*d)[i];
      EXPECT_EQ(out.descriptor, in.descriptor) << i;
      EXPECT_EQ(out.x, ((in.x >> 4) << 4) | 8) << i;
      EXPECT_EQ(out.y, ((in.y >> 4) << 4) | 8) << i;
      EXPECT_LE(std::abs(int{out.x} - int{in.x}), 8);
      EXPECT_EQ(out.score, 0);
      EXPECT_EQ(out.level, 0);
    }
    // Decoding then encoding gives the same bytes (the cell centre falls in the same cell).
    EXPECT_EQ(*EncodeRobust(*d), *e);
  }
}

TEST(RobustFingerprintTest, CoordinateExtremesStayInTheirCells) {
  std::vector<LocalFeature> f(4);
  f[0].x = 0, f[0].y = 4095;
  f[1].x = 15, f[1].y = 16;
  f[2].x = 4080, f[2].y = 4079;
  f[3].x = 8, f[3].y = 7;
  const absl::StatusOr<std::vector<LocalFeature>> d = DecodeRobust(*EncodeRobust(f));
  ASSERT_TRUE(d.ok());
  const std::vector<std::pair<int, int>> want = {{8, 4088}, {8, 24}, {4088, 4072}, {8, 8}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*d)[i].x, want[i].first) << i;
    EXPECT_EQ((*d)[i].y, want[i].second) << i;
  }
}

TEST(RobustFingerprintTest, AspectHeaderGivesTheImageExtent) {
  const std::vector<LocalFeature> f = RandomFeatures(3, 9);
  // Landscape 924 x 735: aspect round(255 * 735 / 924) = round(202.84) = 203, not portrait.
  absl::StatusOr<std::string> e = EncodeRobust(f, 924, 735);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(static_cast<uint8_t>((*e)[2]), 203);
  EXPECT_EQ((*e)[3], 0);
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(*e);
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_EQ(fp->aspect, 203);
  EXPECT_FALSE(fp->portrait);
  EXPECT_EQ(fp->extent_x, 4096);
  // 4096 * 735 / 924 = 3258; the one-byte aspect is good to 4096 / 510 = 8 units.
  EXPECT_NEAR(fp->extent_y, 3258, 9);
  EXPECT_EQ(fp->features.size(), 3u);

  // Portrait 735 x 924: the same aspect, the flag set, the short side along x.
  e = EncodeRobust(f, 735, 924);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(static_cast<uint8_t>((*e)[2]), 203);
  EXPECT_EQ((*e)[3], 1);
  fp = DecodeRobustFingerprint(*e);
  ASSERT_TRUE(fp.ok());
  EXPECT_TRUE(fp->portrait);
  EXPECT_NEAR(fp->extent_x, 3258, 9);
  EXPECT_EQ(fp->extent_y, 4096);

  // Square: 255, both 4096. Unknown size: 0 and both 4096. A sliver never rounds to "unknown".
  fp = DecodeRobustFingerprint(*EncodeRobust(f, 300, 300));
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->aspect, 255);
  EXPECT_EQ(fp->extent_x, 4096);
  EXPECT_EQ(fp->extent_y, 4096);
  fp = DecodeRobustFingerprint(*EncodeRobust(f));
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->aspect, 0);
  EXPECT_EQ(fp->extent_x, 4096);
  EXPECT_EQ(fp->extent_y, 4096);
  fp = DecodeRobustFingerprint(*EncodeRobust(f, 0, 100));
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->aspect, 0);
  fp = DecodeRobustFingerprint(*EncodeRobust(f, 10000, 1));
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->aspect, 1);

  // Re-encoding a decoded fingerprint keeps its header.
  e = EncodeRobust(f, 735, 924);
  EXPECT_EQ(*EncodeRobustFingerprint(*DecodeRobustFingerprint(*e)), *e);
}

TEST(RobustFingerprintTest, EncodeRefusesNoFeaturesAndMoreThan255) {
  absl::StatusOr<std::string> e = EncodeRobust(std::vector<LocalFeature>{});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  e = EncodeRobust(RandomFeatures(256, 1));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(e.status(), "255")) << e.status();
  e = EncodeRobust(RandomFeatures(256, 1), 100, 100);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  e = EncodeRobust(RandomFeatures(255, 1));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->size(), kRobustMaxBytes);
}

TEST(RobustFingerprintTest, DecodeRefusesEveryMalformedInput) {
  const std::string good = *EncodeRobust(RandomFeatures(5, 3), 400, 300);
  ASSERT_TRUE(DecodeRobust(good).ok());
  auto code = [](const std::string& bytes) { return DecodeRobustFingerprint(bytes).status().code(); };
  constexpr auto kBad = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(code(""), kBad);
  EXPECT_EQ(code(good.substr(0, 3)), kBad);  // not even a header
  EXPECT_EQ(code(good.substr(0, 4)), kBad);  // a header for 5 features and none

  for (int version : {0, 2, 255}) {
    std::string b = good;
    b[0] = static_cast<char>(version);
    const absl::Status s = DecodeRobust(b).status();
    EXPECT_EQ(s.code(), kBad) << version;
    EXPECT_TRUE(Contains(s, "format")) << s;
  }

  std::string none = good.substr(0, 4);
  none[1] = 0;
  EXPECT_EQ(code(none), kBad);
  EXPECT_TRUE(Contains(DecodeRobust(none).status(), "no features")) << DecodeRobust(none).status();

  EXPECT_EQ(code(good.substr(0, good.size() - 1)), kBad);  // one byte short
  EXPECT_EQ(code(good + '\0'), kBad);                      // one byte too many
  std::string count_high = good;
  count_high[1] = 6;  // claims one more feature than it has
  EXPECT_EQ(code(count_high), kBad);
  std::string count_low = good;
  count_low[1] = 4;  // and one fewer
  EXPECT_EQ(code(count_low), kBad);
  EXPECT_TRUE(Contains(DecodeRobust(count_low).status(), "must be")) << DecodeRobust(count_low).status();

  std::string flags = good;
  flags[3] = 2;  // an unknown flag
  EXPECT_EQ(code(flags), kBad);
  std::string portrait_without_aspect = good;
  portrait_without_aspect[2] = 0;
  portrait_without_aspect[3] = 1;
  EXPECT_EQ(code(portrait_without_aspect), kBad);
}

}  // namespace
}  // namespace hashbank
