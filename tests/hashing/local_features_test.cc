// Local features (hashing/local_features.h) and the luma image they are taken from (PrepareImage's GreyImage):
// determinism, mirroring, the degenerate inputs that must give no features, the feature budget, coordinate
// normalisation against corners whose positions are known, and descriptor stability under JPEG re-encoding.
#include "hashing/local_features.h"

#include <gtest/gtest.h>
#include <png.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "hashing/image_decoder.h"
#include "tests/support/grey_edits.h"
#include "tests/support/image_encode.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::EncodeJpeg;
using testing::EncodePng;
using testing::FlatGrey;
using testing::GreyPng;
using testing::LoadGrey;

constexpr char kPen[] = "pdq-reference/images/reg-test-input/pen-and-coaster.png";  // 924 x 735
constexpr char kBridge[] = "pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg";  // 1600 x 1004
constexpr char kBridgeRot90[] = "pdq-reference/images/reg-test-input/dih/bridge-2-rotate-90.jpg";  // 1004 x 1600
constexpr char kLabelme[] = "pdq-reference/images/reg-test-input/labelme-subset/q0291.jpg";  // 256 x 256

int Hamming(const LocalFeature& a, const LocalFeature& b) {
  int d = 0;
  for (size_t i = 0; i < 4; ++i) d += std::popcount(a.descriptor[i] ^ b.descriptor[i]);
  return d;
}

bool SameFeatures(const std::vector<LocalFeature>& a, const std::vector<LocalFeature>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].descriptor != b[i].descriptor || a[i].x != b[i].x || a[i].y != b[i].y || a[i].score != b[i].score ||
        a[i].level != b[i].level) {
      return false;
    }
  }
  return true;
}

GreyImage Noise(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  GreyImage g = FlatGrey(width, height, 0);
  for (uint8_t& p : g.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return g;
}

uint8_t Luma(int r, int g, int b) { return static_cast<uint8_t>((77 * r + 150 * g + 29 * b + 128) >> 8); }

// ------------------------------------------------------------------------------------- the luma image

TEST(PrepareImageGreyTest, LumaOfEachPixelWhenNoDownscaleIsNeeded) {
  // 4 x 2 RGB; lumas by hand, (77 R + 150 G + 29 B + 128) >> 8:
  //   (255,0,0): 19763 >> 8 = 77      (0,255,0): 38378 >> 8 = 149     (0,0,255): 7523 >> 8 = 29 (not 28: rounded)
  //   (10,20,30): 4768 >> 8 = 18      (255,255,255): 65408 >> 8 = 255 (0,0,0): 0
  //   (100,150,200): 36128 >> 8 = 141 (1,2,3): 592 >> 8 = 2
  const std::vector<uint8_t> rgb = {255, 0,   0,   0,   255, 0, 0,   0,   255, 10, 20, 30,
                                    255, 255, 255, 0,   0,   0, 100, 150, 200, 1,  2,  3};
  PreparedImage prepared;
  GreyImage grey;
  ASSERT_TRUE(PrepareImage(EncodePng(rgb, 4, 2, PNG_COLOR_TYPE_RGB, 8), {}, &prepared, &grey, 512).ok());
  EXPECT_EQ(grey.width, 4);
  EXPECT_EQ(grey.height, 2);
  EXPECT_EQ(grey.pixels, (std::vector<uint8_t>{77, 149, 29, 18, 255, 0, 141, 2}));
  // The PDQ side is unchanged by asking for the grey image.
  EXPECT_EQ(prepared.channels, 3);
  EXPECT_EQ(prepared.pixels, rgb);
}

TEST(PrepareImageGreyTest, AreaAverageIsTheRoundedMeanOfTheLumas) {
  // The same 4 x 2 image to long side 2: 2 x 1, each output pixel the mean of a 2 x 2 block of lumas.
  //   left:  77 + 149 + 255 + 0 = 481, / 4 = 120.25 -> 120
  //   right: 29 + 18 + 141 + 2 = 190, / 4 = 47.5   -> 48 (half rounds up)
  const std::vector<uint8_t> rgb = {255, 0,   0,   0,   255, 0, 0,   0,   255, 10, 20, 30,
                                    255, 255, 255, 0,   0,   0, 100, 150, 200, 1,  2,  3};
  PreparedImage prepared;
  GreyImage grey;
  ASSERT_TRUE(PrepareImage(EncodePng(rgb, 4, 2, PNG_COLOR_TYPE_RGB, 8), {}, &prepared, &grey, 2).ok());
  EXPECT_EQ(grey.width, 2);
  EXPECT_EQ(grey.height, 1);
  EXPECT_EQ(grey.pixels, (std::vector<uint8_t>{120, 48}));
}

TEST(PrepareImageGreyTest, UnevenBlocksAreAveragedOverTheirOwnPixelCount) {
  // 5 x 3 grey, v = 10 x + 100 y except v(0,0) = 5 and v(4,2) = 243. To long side 2: width (5*2 + 2) / 5 = 2,
  // height (3*2 + 2) / 5 = 1; source column x goes to x * 2 / 5: columns 0-2 left (9 pixels), 3-4 right (6).
  //   left:  (0+10+20)*3 + (0+100+200)*3 + 5 = 995, / 9 = 110.56 -> 111
  //   right: (30+40)*3 + 300*2 + 3 = 813,          / 6 = 135.5  -> 136
  std::vector<uint8_t> px;
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 5; ++x) px.push_back(static_cast<uint8_t>(10 * x + 100 * y));
  }
  px[0] = 5;
  px[14] = 243;
  PreparedImage prepared;
  GreyImage grey;
  ASSERT_TRUE(PrepareImage(EncodePng(px, 5, 3, PNG_COLOR_TYPE_GRAY, 8), {}, &prepared, &grey, 2).ok());
  EXPECT_EQ(grey.width, 2);
  EXPECT_EQ(grey.height, 1);
  EXPECT_EQ(grey.pixels, (std::vector<uint8_t>{111, 136}));
}

TEST(PrepareImageGreyTest, JpegLumaIsOfTheDecodedPixelsAndBlocksAreRoundedMeans) {
  // A JPEG's decoded pixels are not the encoder's input, so the expected values come from the decoder's own RGB
  // (PreparedImage keeps them when no side is over 512): luma per pixel, then 4 x 4 block means.
  const std::vector<uint8_t> rgb = testing::SyntheticImage(64, 48, 3, 7);
  const std::vector<uint8_t> jpeg = EncodeJpeg(rgb, 64, 48, 3, 85);
  PreparedImage prepared;
  GreyImage full, quarter;
  ASSERT_TRUE(PrepareImage(jpeg, {}, &prepared, &full, 64).ok());
  ASSERT_EQ(prepared.channels, 3);
  ASSERT_EQ(prepared.width, 64);
  std::vector<uint8_t> luma;
  for (size_t i = 0; i < prepared.pixels.size(); i += 3) {
    luma.push_back(Luma(prepared.pixels[i], prepared.pixels[i + 1], prepared.pixels[i + 2]));
  }
  EXPECT_EQ(full.pixels, luma);
  ASSERT_TRUE(PrepareImage(jpeg, {}, &prepared, &quarter, 16).ok());
  ASSERT_EQ(quarter.width, 16);
  ASSERT_EQ(quarter.height, 12);
  for (int by = 0; by < 12; ++by) {
    for (int bx = 0; bx < 16; ++bx) {
      int sum = 0;
      for (int y = 4 * by; y < 4 * by + 4; ++y) {
        for (int x = 4 * bx; x < 4 * bx + 4; ++x) sum += luma[static_cast<size_t>(y * 64 + x)];
      }
      ASSERT_EQ(quarter.pixels[static_cast<size_t>(by * 16 + bx)], (sum + 8) / 16) << bx << "," << by;
    }
  }
}

TEST(PrepareImageGreyTest, AspectIsKeptAndSmallImagesAreNotUpscaled) {
  // 924 x 735 -> 512 x 735*512/924 = 407.3; 1600 x 1004 -> 512 x 321.3; its 90-degree rotation 321 x 512.
  GreyImage g = LoadGrey(kPen);
  EXPECT_EQ(g.width, 512);
  EXPECT_EQ(g.height, 407);
  g = LoadGrey(kBridge);
  EXPECT_EQ(g.width, 512);
  EXPECT_EQ(g.height, 321);
  g = LoadGrey(kBridgeRot90);
  EXPECT_EQ(g.width, 321);
  EXPECT_EQ(g.height, 512);
  g = LoadGrey(kLabelme);
  EXPECT_EQ(g.width, 256);
  EXPECT_EQ(g.height, 256);
  EXPECT_EQ(g.pixels.size(), 256u * 256u);
}

TEST(PrepareImageGreyTest, PdqSideIsTheSameAsWithoutTheGreyImage) {
  const std::vector<uint8_t> file = testing::ReadFileBytes(testing::DataPath(kPen));
  PreparedImage with, without;
  GreyImage grey;
  ASSERT_TRUE(PrepareImage(file, {}, &with, &grey, 512).ok());
  ASSERT_TRUE(PrepareImageForPdq(file, {}, &without).ok());
  EXPECT_EQ(with.width, without.width);
  EXPECT_EQ(with.height, without.height);
  EXPECT_EQ(with.channels, without.channels);
  EXPECT_EQ(with.pixels, without.pixels);
}

TEST(PrepareImageGreyTest, NonPositiveLongSideIsInvalidArgument) {
  const std::vector<uint8_t> png = GreyPng(FlatGrey(8, 8, 1));
  PreparedImage prepared;
  GreyImage grey;
  EXPECT_EQ(PrepareImage(png, {}, &prepared, &grey, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PrepareImage(png, {}, &prepared, &grey, -5).code(), absl::StatusCode::kInvalidArgument);
  // Without a grey image the side is not used.
  EXPECT_TRUE(PrepareImage(png, {}, &prepared, nullptr, 0).ok());
}

// ------------------------------------------------------------------------------------------ features

TEST(LocalFeaturesTest, SameImageGivesIdenticalFeatures) {
  const GreyImage g = LoadGrey(kPen);
  const std::vector<LocalFeature> a = ExtractLocalFeatures(g, 1000);
  const std::vector<LocalFeature> b = ExtractLocalFeatures(g, 1000);
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(SameFeatures(a, b));
  // A second decode of the file gives the same image, so the same features.
  EXPECT_TRUE(SameFeatures(a, ExtractLocalFeatures(LoadGrey(kPen), 1000)));
}

TEST(LocalFeaturesTest, MirroredFileGivesTheFeaturesOfTheMirroredImage) {
  const GreyImage g = LoadGrey(kPen);
  const GreyImage mirrored = MirrorImage(g);
  // MirrorImage flips each row.
  ASSERT_EQ(mirrored.width, g.width);
  ASSERT_EQ(mirrored.height, g.height);
  for (int y : {0, 200, 406}) {
    for (int x : {0, 1, 255, 511}) {
      ASSERT_EQ(mirrored.pixels[static_cast<size_t>(y * 512 + x)], g.pixels[static_cast<size_t>(y * 512 + 511 - x)]);
    }
  }
  // The mirrored pixels as a lossless file decode to exactly MirrorImage(g), and give its features.
  PreparedImage prepared;
  GreyImage decoded;
  ASSERT_TRUE(PrepareImage(GreyPng(mirrored), {}, &prepared, &decoded, 512).ok());
  ASSERT_EQ(decoded.pixels, mirrored.pixels);
  const std::vector<LocalFeature> from_file = ExtractLocalFeatures(decoded, 1000);
  EXPECT_TRUE(SameFeatures(from_file, ExtractLocalFeatures(mirrored, 1000)));
  // FAST, Harris and the 3x3 suppression are symmetric under a left-right flip, and at 512 wide the
  // spreading grid's columns map onto each other, so a full-resolution corner at pixel column c reappears at
  // column 511 - c: x' = 4096 - x up to rounding, same y.
  const std::vector<LocalFeature> direct = ExtractLocalFeatures(g, 1000);
  int level0 = 0, paired = 0;
  for (const LocalFeature& f : direct) {
    if (f.level != 0) continue;
    ++level0;
    for (const LocalFeature& m : from_file) {
      if (m.level == 0 && m.y == f.y && (m.x + f.x == 4095 || m.x + f.x == 4096)) {
        ++paired;
        break;
      }
    }
  }
  ASSERT_GT(level0, 50);
  EXPECT_GE(paired, level0 * 9 / 10) << paired << " of " << level0;
  // BRIEF is not mirror-symmetric: the mirrored image's descriptors are not the original's.
  int same_descriptor = 0;
  for (const LocalFeature& f : direct) {
    for (const LocalFeature& m : from_file) same_descriptor += f.descriptor == m.descriptor ? 1 : 0;
  }
  EXPECT_LT(same_descriptor, 10);
}

// A query's mirrored features come from the same corner detection as its direct ones (about half the cost of
// extracting the flipped image again). At full resolution they must be exactly the flipped image's own: FAST,
// Harris and the suppression are symmetric, the 5x5 boxes of the flipped image are this one's, and the
// centroid's x moment only changes sign. At the smaller levels the flipped image's own pyramid samples at a
// phase under a pixel away, so they must agree as features do under a small shift: a feature at about the same
// place (3 pixels at full resolution) whose descriptor is within the 64 bits verification accepts.
TEST(LocalFeaturesTest, MirroredFeaturesFromOneDetectionAreTheFlippedImagesOwn) {
  for (const char* path : {kPen, kBridge, kBridgeRot90, kLabelme}) {
    SCOPED_TRACE(path);
    const GreyImage g = LoadGrey(path);
    std::vector<LocalFeature> mirrored;
    const std::vector<LocalFeature> direct = ExtractLocalFeaturesAndMirrored(g, 1000, &mirrored);
    EXPECT_TRUE(SameFeatures(direct, ExtractLocalFeatures(g, 1000)));
    std::vector<LocalFeature> again;
    ExtractLocalFeaturesAndMirrored(g, 1000, &again);
    EXPECT_TRUE(SameFeatures(mirrored, again));
    const std::vector<LocalFeature> flipped = ExtractLocalFeatures(MirrorImage(g), 1000);
    auto level = [](const std::vector<LocalFeature>& f, int l) {
      std::vector<LocalFeature> out;
      for (const LocalFeature& x : f) {
        if (x.level == l) out.push_back(x);
      }
      return out;
    };
    ASSERT_GE(level(flipped, 0).size(), 100u);
    EXPECT_TRUE(SameFeatures(level(mirrored, 0), level(flipped, 0)));
    int smaller = 0, agreeing = 0;
    for (const LocalFeature& t : flipped) {
      if (t.level == 0) continue;
      ++smaller;
      for (const LocalFeature& m : mirrored) {
        if (m.level == t.level && std::abs(m.x - t.x) <= 24 && std::abs(m.y - t.y) <= 24 && Hamming(m, t) <= 64) {
          ++agreeing;
          break;
        }
      }
    }
    EXPECT_GE(agreeing * 10, smaller * 6) << agreeing << " of " << smaller;
    // Not the direct features again: BRIEF is not mirror-symmetric.
    int same_descriptor = 0;
    for (const LocalFeature& f : direct) {
      for (const LocalFeature& m : mirrored) same_descriptor += f.descriptor == m.descriptor ? 1 : 0;
    }
    EXPECT_LT(same_descriptor, 10);
  }
  // Nothing for an image too small for features, and the output is cleared.
  std::vector<LocalFeature> mirrored(3);
  EXPECT_TRUE(ExtractLocalFeaturesAndMirrored(FlatGrey(40, 40, 7), 1000, &mirrored).empty());
  EXPECT_TRUE(mirrored.empty());
}

TEST(LocalFeaturesTest, FlatAndRampImagesHaveNoFeatures) {
  EXPECT_TRUE(ExtractLocalFeatures(FlatGrey(300, 200, 128), 1000).empty());
  EXPECT_TRUE(ExtractLocalFeatures(FlatGrey(300, 200, 0), 1000).empty());
  EXPECT_TRUE(ExtractLocalFeatures(FlatGrey(300, 200, 255), 1000).empty());
  // A linear ramp has no corner: at most 7 of FAST's 16 circle pixels lie on the brighter side, and the
  // structure tensor has rank one (Harris response negative).
  GreyImage ramp = FlatGrey(300, 200, 0);
  for (int y = 0; y < 200; ++y) {
    for (int x = 0; x < 300; ++x) ramp.pixels[static_cast<size_t>(y * 300 + x)] = static_cast<uint8_t>((x * 255) / 299);
  }
  EXPECT_TRUE(ExtractLocalFeatures(ramp, 1000).empty());
}

TEST(LocalFeaturesTest, ImagesUnderFiftyTwoPixelsASideHaveNoFeatures) {
  // Random noise is full of corners; only the size can explain an empty result.
  EXPECT_FALSE(ExtractLocalFeatures(Noise(64, 64, 1), 100).empty());
  EXPECT_FALSE(ExtractLocalFeatures(Noise(52, 52, 2), 100).empty());
  EXPECT_TRUE(ExtractLocalFeatures(Noise(51, 300, 3), 100).empty());
  EXPECT_TRUE(ExtractLocalFeatures(Noise(300, 51, 4), 100).empty());
  EXPECT_TRUE(ExtractLocalFeatures(Noise(40, 40, 5), 100).empty());
  EXPECT_TRUE(ExtractLocalFeatures(GreyImage{}, 100).empty());
  // Pixels that do not fill width x height are refused, not read past.
  GreyImage short_buffer = Noise(100, 100, 6);
  short_buffer.pixels.resize(100 * 99);
  EXPECT_TRUE(ExtractLocalFeatures(short_buffer, 100).empty());
}

TEST(LocalFeaturesTest, MaxFeaturesIsRespected) {
  const GreyImage g = LoadGrey(kPen);
  EXPECT_TRUE(ExtractLocalFeatures(g, 0).empty());
  EXPECT_TRUE(ExtractLocalFeatures(g, -1).empty());
  // A textured photo has far more corners than these budgets, so each is filled exactly.
  for (int n : {1, 7, 10, 64, 100, 255}) EXPECT_EQ(ExtractLocalFeatures(g, n).size(), static_cast<size_t>(n)) << n;
  EXPECT_LE(ExtractLocalFeatures(g, 1000).size(), 1000u);
  EXPECT_GE(ExtractLocalFeatures(g, 1000).size(), 500u);
}

TEST(LocalFeaturesTest, FeaturesAreSpreadOverTheImage) {
  // The 64 features a bank keeps come from every quarter of the photo, not only from its busiest part.
  const GreyImage g = LoadGrey(kPen);
  const std::vector<LocalFeature> f = ExtractLocalFeatures(g, 64);
  int quarters[4] = {};
  const int mid_x = 2048, mid_y = 4096 * 407 / 512 / 2;
  for (const LocalFeature& x : f) ++quarters[(x.y >= mid_y ? 2 : 0) + (x.x >= mid_x ? 1 : 0)];
  for (int q = 0; q < 4; ++q) EXPECT_GE(quarters[q], 6) << "quarter " << q;
}

TEST(LocalFeaturesTest, CoordinatesAreInTheRangeAndScaledByTheLongSide) {
  // Landscape: x spans 0..4095, y only up to 4096 * 407 / 512 = 3256.
  for (const LocalFeature& f : ExtractLocalFeatures(LoadGrey(kPen), 1000)) {
    ASSERT_LT(f.x, 4096);
    ASSERT_LE(f.y, 3256);
  }
  // Portrait: the other way round (321 x 512: x up to 4096 * 321 / 512 = 2568).
  const std::vector<LocalFeature> portrait = ExtractLocalFeatures(LoadGrey(kBridgeRot90), 1000);
  ASSERT_FALSE(portrait.empty());
  int max_x = 0, max_y = 0;
  for (const LocalFeature& f : portrait) {
    ASSERT_LE(f.x, 2568);
    ASSERT_LT(f.y, 4096);
    max_x = std::max(max_x, int{f.x});
    max_y = std::max(max_y, int{f.y});
  }
  // And they do span the image (the descriptor border is 22 pixels of 512: about 176 units).
  EXPECT_GT(max_x, 2568 - 400);
  EXPECT_GT(max_y, 4096 - 400);
}

// A bright rectangle on a dark background, `k` times the size of a 320 x 200 image: its only corners are those
// of the rectangle, (100, 60) and (219, 139) in the 320 x 200 image.
GreyImage Rectangle(int k, bool portrait) {
  GreyImage g = FlatGrey(320 * k, 200 * k, 40);
  for (int y = 60 * k; y < 140 * k; ++y) {
    for (int x = 100 * k; x < 220 * k; ++x) g.pixels[static_cast<size_t>(y * g.width + x)] = 200;
  }
  if (!portrait) return g;
  GreyImage t = FlatGrey(g.height, g.width, 0);
  for (int y = 0; y < g.height; ++y) {
    for (int x = 0; x < g.width; ++x) t.pixels[static_cast<size_t>(x * t.width + y)] = g.pixels[static_cast<size_t>(y * g.width + x)];
  }
  return t;
}

TEST(LocalFeaturesTest, CornersOfAKnownShapeAreFoundWhereTheyAreAtAnyResolution) {
  // In 1/4096 of the long side (320 units at k = 1) a pixel is 12.8 units; the rectangle's corner pixels have
  // centres at 12.8 * (100.5, 60.5), 12.8 * (219.5, 139.5) and the two mixed ones. A corner found at pyramid
  // level L (each level 4/5 of the one before) is located within about three of that level's pixels.
  const double unit = 4096.0 / 320.0;
  const double cx[2] = {100.5 * unit, 219.5 * unit}, cy[2] = {60.5 * unit, 139.5 * unit};
  for (bool portrait : {false, true}) {
    for (int k : {1, 2, 3}) {
      const std::vector<LocalFeature> f = ExtractLocalFeatures(Rectangle(k, portrait), 64);
      ASSERT_GE(f.size(), 8u) << "k " << k;
      bool seen[2][2] = {};
      for (const LocalFeature& x : f) {
        const double fx = portrait ? x.y : x.x, fy = portrait ? x.x : x.y;
        const double tolerance = 3 * std::pow(1.25, x.level) * unit;
        bool near = false;
        for (int i = 0; i < 2; ++i) {
          for (int j = 0; j < 2; ++j) {
            if (std::abs(fx - cx[i]) <= tolerance && std::abs(fy - cy[j]) <= tolerance) {
              near = seen[i][j] = true;
            }
          }
        }
        EXPECT_TRUE(near) << "k " << k << (portrait ? " portrait" : "") << ": feature at (" << x.x << ", " << x.y
                          << ") level " << int{x.level} << " is not at a corner";
      }
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) EXPECT_TRUE(seen[i][j]) << "k " << k << " corner " << i << j << " missed";
      }
    }
  }
}

TEST(LocalFeaturesTest, FeaturesOfAPhotoAgreeAcrossResolutions) {
  // The photo at long side 512 and at 256 and 924 (the file's own size): most features of the 512 image have a
  // feature of the other within 48 units (3 pixels at 512) and 64 descriptor bits, because coordinates are
  // fractions of the long side whatever the resolution and pyramid level.
  const std::vector<LocalFeature> base = ExtractLocalFeatures(LoadGrey(kPen, 512), 1000);
  for (int side : {256, 1024}) {
    const GreyImage other_image = LoadGrey(kPen, side);
    ASSERT_EQ(other_image.width, side == 256 ? 256 : 924);
    const std::vector<LocalFeature> other = ExtractLocalFeatures(other_image, 1000);
    int found = 0;
    for (const LocalFeature& f : base) {
      for (const LocalFeature& o : other) {
        if (std::abs(f.x - o.x) <= 48 && std::abs(f.y - o.y) <= 48 && Hamming(f, o) < 64) {
          ++found;
          break;
        }
      }
    }
    EXPECT_GE(found, static_cast<int>(base.size()) / 2) << "side " << side << ": " << found << " of " << base.size();
  }
}

TEST(LocalFeaturesTest, DescriptorsChangeLittleUnderJpegReencoding) {
  const GreyImage g = LoadGrey(kPen);
  const std::vector<LocalFeature> before = ExtractLocalFeatures(g, 1000);
  PreparedImage prepared;
  GreyImage reencoded;
  ASSERT_TRUE(PrepareImage(EncodeJpeg(g.pixels, g.width, g.height, 1, 75), {}, &prepared, &reencoded, 512).ok());
  ASSERT_NE(reencoded.pixels, g.pixels);  // the encoding did change pixels
  const std::vector<LocalFeature> after = ExtractLocalFeatures(reencoded, 1000);
  int same_place = 0, close = 0;
  for (const LocalFeature& f : before) {
    for (const LocalFeature& a : after) {
      if (a.x == f.x && a.y == f.y && a.level == f.level) {
        ++same_place;
        close += Hamming(a, f) < 40 ? 1 : 0;
        break;
      }
    }
  }
  // Most corners survive at the same place, and their descriptors stay far closer than unrelated ones (128).
  EXPECT_GE(same_place, static_cast<int>(before.size()) * 6 / 10) << same_place << " of " << before.size();
  EXPECT_GE(close, same_place * 95 / 100) << close << " of " << same_place;
}

}  // namespace
}  // namespace hashbank

