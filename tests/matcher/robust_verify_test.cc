// Geometric verification of the robust fingerprint (matcher/robust_verify.h).
//
// Real photos, edited the way reposts are (crop, mirror, shrink into a screenshot, rotate): they match with the
// scale and rotation the edit implies, and unrelated photos do not. Synthetic feature sets with known geometry:
// exact transforms give every inlier, and each rule of a verdict (min_inliers, the hull and image-cover rules,
// scale bounds, the ratio test, max_distance, tolerance) decides exactly where it should.
#include "matcher/robust_verify.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "hashing/local_features.h"
#include "hashing/robust_fingerprint.h"
#include "tests/support/grey_edits.h"

namespace hashbank {
namespace {

using testing::CropGrey;
using testing::DoubleGrey;
using testing::FlatGrey;
using testing::HalveGrey;
using testing::LoadGrey;
using testing::PasteGrey;
using testing::RotateGrey;

constexpr char kImages[] = "pdq-reference/images/reg-test-input/";

std::string Describe(const RobustVerdict& v) {
  return "match " + std::to_string(v.match) + ", inliers " + std::to_string(v.inliers) + ", correspondences " +
         std::to_string(v.correspondences) + ", hull " + std::to_string(v.hull) + ", cover " +
         std::to_string(v.image_cover) + ", scale " + std::to_string(v.scale) + ", rotation " +
         std::to_string(v.rotation_degrees);
}

// What the node stores for an image: its bank features through the format-1 encoding, with its aspect ratio.
RobustFingerprint Bank(const GreyImage& image) {
  const std::vector<LocalFeature> f = ExtractLocalFeatures(image, kRobustBankFeatures);
  if (f.empty()) return {};
  const absl::StatusOr<std::string> e = EncodeRobust(f, image.width, image.height);
  EXPECT_TRUE(e.ok()) << e.status();
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(*e);
  EXPECT_TRUE(fp.ok()) << fp.status();
  return fp.ok() ? *fp : RobustFingerprint{};
}

std::vector<LocalFeature> Query(const GreyImage& image) { return ExtractLocalFeatures(image, kRobustQueryFeatures); }
std::vector<LocalFeature> MirroredQuery(const GreyImage& image) {
  return ExtractLocalFeatures(MirrorImage(image), kRobustQueryFeatures);
}

class RobustVerifyPhotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pen_ = new GreyImage(LoadGrey(std::string(kImages) + "pen-and-coaster.png"));
    bridge_ = new GreyImage(LoadGrey(std::string(kImages) + "dih/bridge-1-original.jpg"));
  }
  static void TearDownTestSuite() {
    delete pen_;
    delete bridge_;
  }
  static const GreyImage& Pen() { return *pen_; }        // 512 x 407
  static const GreyImage& Bridge() { return *bridge_; }  // 512 x 321

 private:
  static GreyImage* pen_;
  static GreyImage* bridge_;
};
GreyImage* RobustVerifyPhotoTest::pen_ = nullptr;
GreyImage* RobustVerifyPhotoTest::bridge_ = nullptr;

TEST_F(RobustVerifyPhotoTest, AnImageMatchesItselfAtScaleOneWithoutRotation) {
  const RobustFingerprint bank = Bank(Pen());
  ASSERT_EQ(bank.features.size(), static_cast<size_t>(kRobustBankFeatures));
  const RobustVerdict v = VerifyRobust(bank, Query(Pen()));
  EXPECT_TRUE(v.match) << Describe(v);
  EXPECT_GE(v.inliers, kRobustBankFeatures * 3 / 4) << Describe(v);
  EXPECT_NEAR(v.scale, 1.0, 0.02) << Describe(v);
  EXPECT_NEAR(v.rotation_degrees, 0.0, 1.0) << Describe(v);
  EXPECT_GT(v.hull, 0.9) << Describe(v);
  EXPECT_LE(v.hull, 1.0 + 1e-9);
}

TEST_F(RobustVerifyPhotoTest, CropMatchesWithTheScaleOfItsSmallerLongSide) {
  // A 400 x 320 crop: the same content in 1/4096 of a 400-pixel long side instead of 512, so scale 512 / 400.
  const RobustVerdict v = VerifyRobust(Bank(Pen()), Query(CropGrey(Pen(), 60, 40, 400, 320)));
  EXPECT_TRUE(v.match) << Describe(v);
  EXPECT_GE(v.inliers, 10);
  EXPECT_NEAR(v.scale, 512.0 / 400.0, 0.05 * 512.0 / 400.0) << Describe(v);
  EXPECT_NEAR(v.rotation_degrees, 0.0, 2.0) << Describe(v);
  // Only part of the banked image is present.
  EXPECT_LT(v.hull, 0.9) << Describe(v);

  const RobustVerdict b = VerifyRobust(Bank(Bridge()), Query(CropGrey(Bridge(), 100, 50, 300, 250)));
  EXPECT_TRUE(b.match) << Describe(b);
  EXPECT_NEAR(b.scale, 512.0 / 300.0, 0.05 * 512.0 / 300.0) << Describe(b);
}

TEST_F(RobustVerifyPhotoTest, MirroredCropMatchesOnlyThroughTheMirroredQuery) {
  const GreyImage repost = MirrorImage(CropGrey(Pen(), 60, 40, 400, 320));
  const RobustFingerprint bank = Bank(Pen());
  const RobustVerdict direct = VerifyRobust(bank, Query(repost));
  const RobustVerdict mirrored = VerifyRobust(bank, MirroredQuery(repost));
  EXPECT_FALSE(direct.match) << Describe(direct);
  EXPECT_TRUE(mirrored.match) << Describe(mirrored);
  EXPECT_NEAR(mirrored.scale, 512.0 / 400.0, 0.05 * 512.0 / 400.0) << Describe(mirrored);
  EXPECT_NEAR(mirrored.rotation_degrees, 0.0, 2.0) << Describe(mirrored);
  // And the unmirrored photo does not match through the mirrored query.
  EXPECT_FALSE(VerifyRobust(bank, MirroredQuery(Pen())).match);
}

TEST_F(RobustVerifyPhotoTest, HalfSizePasteIntoAScreenshotMatchesAtScaleOneHalf) {
  // Shrunk to 256 x 203 and pasted into a 512-wide canvas: content at half its banked size in the same units.
  const RobustFingerprint bank = Bank(Pen());
  const GreyImage half = HalveGrey(Pen());
  const RobustVerdict on_flat = VerifyRobust(bank, Query(PasteGrey(FlatGrey(512, 400, 235), half, 150, 100)));
  EXPECT_TRUE(on_flat.match) << Describe(on_flat);
  EXPECT_NEAR(on_flat.scale, 0.5, 0.075) << Describe(on_flat);
  EXPECT_NEAR(on_flat.rotation_degrees, 0.0, 2.0) << Describe(on_flat);

  // On top of another photo (a busy background that brings features of its own).
  const GreyImage background = DoubleGrey(LoadGrey(std::string(kImages) + "labelme-subset/q0291.jpg"));
  ASSERT_EQ(background.width, 512);
  const RobustVerdict on_photo = VerifyRobust(bank, Query(PasteGrey(background, half, 200, 250)));
  EXPECT_TRUE(on_photo.match) << Describe(on_photo);
  EXPECT_NEAR(on_photo.scale, 0.5, 0.075) << Describe(on_photo);

  const RobustVerdict bridge =
      VerifyRobust(Bank(Bridge()), Query(PasteGrey(FlatGrey(512, 512, 20), HalveGrey(Bridge()), 10, 300)));
  EXPECT_TRUE(bridge.match) << Describe(bridge);
  EXPECT_NEAR(bridge.scale, 0.5, 0.075) << Describe(bridge);
}

TEST_F(RobustVerifyPhotoTest, RotationIsRecoveredWithItsSign) {
  // RotateGrey(d) moves a point p to R(d)(p - c) + c in image coordinates; the verdict's rotation is the angle of
  // the banked-to-query similarity in the same coordinates, so it is d.
  const RobustFingerprint bank = Bank(Pen());
  for (double degrees : {10.0, -15.0, 30.0}) {
    const RobustVerdict v = VerifyRobust(bank, Query(RotateGrey(Pen(), degrees)));
    EXPECT_TRUE(v.match) << degrees << ": " << Describe(v);
    EXPECT_NEAR(v.rotation_degrees, degrees, 2.0) << Describe(v);
    EXPECT_NEAR(v.scale, 1.0, 0.05) << Describe(v);
  }
}

TEST_F(RobustVerifyPhotoTest, UnrelatedPhotosDoNotMatch) {
  std::vector<GreyImage> images = {Pen(), Bridge()};
  for (const char* name : {"q0003", "q0004", "q0122", "q0291", "q0746", "q1050", "q2821"}) {
    images.push_back(LoadGrey(std::string(kImages) + "labelme-subset/" + name + ".jpg"));
    ASSERT_GT(images.back().width, 0) << name;
  }
  std::vector<RobustFingerprint> banks;
  std::vector<std::vector<LocalFeature>> direct, mirrored;
  for (const GreyImage& g : images) {
    banks.push_back(Bank(g));
    direct.push_back(Query(g));
    mirrored.push_back(MirroredQuery(g));
  }
  int textured = 0;
  for (size_t b = 0; b < images.size(); ++b) {
    if (banks[b].features.size() >= static_cast<size_t>(kRobustBankFeatures)) ++textured;
    for (size_t q = 0; q < images.size(); ++q) {
      if (b == q) continue;
      const RobustVerdict d = VerifyRobust(banks[b], direct[q]);
      const RobustVerdict m = VerifyRobust(banks[b], mirrored[q]);
      EXPECT_FALSE(d.match) << "bank " << b << ", query " << q << ": " << Describe(d);
      EXPECT_FALSE(m.match) << "bank " << b << ", query " << q << " mirrored: " << Describe(m);
    }
  }
  EXPECT_GE(textured, 5);  // most of them had a full fingerprint to be confused by
}

// ------------------------------------------------------------------------------------------ synthetic

LocalFeature Feature(std::mt19937_64& rng, double x, double y) {
  LocalFeature f;
  for (uint64_t& limb : f.descriptor) limb = rng();
  f.x = static_cast<uint16_t>(std::lround(x));
  f.y = static_cast<uint16_t>(std::lround(y));
  return f;
}

// n x n grid points from `lo` to `hi` on both axes.
std::vector<LocalFeature> Grid(std::mt19937_64& rng, int n, double lo, double hi) {
  std::vector<LocalFeature> out;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) out.push_back(Feature(rng, lo + (hi - lo) * i / (n - 1), lo + (hi - lo) * j / (n - 1)));
  }
  return out;
}

struct Transform {
  double scale = 1, degrees = 0, tx = 0, ty = 0;
  // Where the transform puts the point (x, y).
  std::pair<double, double> Map(double x, double y) const {
    const double t = degrees * std::numbers::pi / 180, c = scale * std::cos(t), s = scale * std::sin(t);
    return {c * x - s * y + tx, s * x + c * y + ty};
  }
  LocalFeature operator()(LocalFeature f) const {
    const auto [x, y] = Map(f.x, f.y);
    EXPECT_TRUE(x >= 0 && x <= 4095 && y >= 0 && y <= 4095) << "test bug: point off the image";
    f.x = static_cast<uint16_t>(std::lround(x));
    f.y = static_cast<uint16_t>(std::lround(y));
    return f;
  }
};

std::vector<LocalFeature> Apply(const Transform& t, const std::vector<LocalFeature>& in) {
  std::vector<LocalFeature> out;
  for (const LocalFeature& f : in) out.push_back(t(f));
  return out;
}

void AddDistractors(std::mt19937_64& rng, int n, std::vector<LocalFeature>* query) {
  for (int i = 0; i < n; ++i) query->push_back(Feature(rng, static_cast<double>(rng() % 4096), static_cast<double>(rng() % 4096)));
}

void FlipBits(std::mt19937_64& rng, int n, LocalFeature* f) {
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[static_cast<size_t>(i)] = i;
  std::shuffle(bits.begin(), bits.end(), rng);
  for (int i = 0; i < n; ++i) {
    const int k = bits[static_cast<size_t>(i)];
    f->descriptor[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
  }
}

TEST(RobustVerifySyntheticTest, ExactSimilarityGivesEveryInlierAndItsParameters) {
  std::mt19937_64 rng(1);
  const std::vector<LocalFeature> bank = Grid(rng, 7, 300, 3800);  // 49 points
  const Transform t{0.6, 20, 1200, 300};
  std::vector<LocalFeature> query = Apply(t, bank);
  AddDistractors(rng, 200, &query);
  std::shuffle(query.begin(), query.end(), rng);
  const RobustVerdict v = VerifyRobust(bank, query);
  EXPECT_TRUE(v.match) << Describe(v);
  EXPECT_EQ(v.correspondences, 49);
  EXPECT_EQ(v.inliers, 49);
  EXPECT_NEAR(v.scale, 0.6, 0.005) << Describe(v);
  EXPECT_NEAR(v.rotation_degrees, 20.0, 0.2) << Describe(v);
  EXPECT_NEAR(v.hull, 1.0, 1e-9);
  // Without an extent the banked image is taken as 4096 x 4096: the grid covers (3500 / 4096)^2 of it.
  EXPECT_NEAR(v.image_cover, (3500.0 * 3500.0) / (4096.0 * 4096.0), 1e-3);
  // Rotations beyond 90 degrees and negative ones are similarities too (about the grid's centre, 2050).
  for (double degrees : {-35.0, 120.0, 180.0}) {
    const double rad = degrees * std::numbers::pi / 180;
    const Transform about{1.0, degrees, 2050 - (std::cos(rad) * 2050 - std::sin(rad) * 2050),
                          2050 - (std::sin(rad) * 2050 + std::cos(rad) * 2050)};
    const std::vector<LocalFeature> small = Grid(rng, 5, 1000, 3100);
    const RobustVerdict w = VerifyRobust(small, Apply(about, small));
    EXPECT_TRUE(w.match) << degrees << ": " << Describe(w);
    EXPECT_EQ(w.inliers, 25);
    // 180 and -180 are the same rotation.
    const double diff = std::remainder(w.rotation_degrees - degrees, 360.0);
    EXPECT_NEAR(diff, 0.0, 0.2) << Describe(w);
  }
}

TEST(RobustVerifySyntheticTest, FewerThanMinInliersIsNotAMatch) {
  std::mt19937_64 rng(2);
  const std::vector<LocalFeature> bank = Grid(rng, 6, 200, 3900);  // 36 points
  const Transform t{1.0, 0, 50, 40};
  // The query shares 9 well-spread points (the 6 x 6 grid's corners, edge midpoints and a centre one).
  const std::vector<size_t> shared = {0, 5, 30, 35, 2, 12, 17, 32, 14};
  auto query_with = [&](size_t n) {
    std::vector<LocalFeature> q;
    for (size_t i = 0; i < n; ++i) q.push_back(t(bank[shared[i]]));
    std::mt19937_64 noise(7);
    AddDistractors(noise, 100, &q);
    return q;
  };
  const std::vector<LocalFeature> nine = query_with(9);
  const RobustVerdict v = VerifyRobust(bank, nine);
  EXPECT_FALSE(v.match) << Describe(v);
  EXPECT_EQ(v.correspondences, 9);
  EXPECT_LT(v.inliers, 10);
  // The same nine are a match once nine are enough: it was the count that decided.
  RobustParams nine_enough;
  nine_enough.min_inliers = 9;
  const RobustVerdict w = VerifyRobust(bank, nine, nine_enough);
  EXPECT_TRUE(w.match) << Describe(w);
  EXPECT_EQ(w.inliers, 9);
  // And a tenth shared point makes it a match under the defaults.
  std::vector<LocalFeature> ten = nine;
  ten.push_back(t(bank[21]));
  const RobustVerdict x = VerifyRobust(bank, ten);
  EXPECT_TRUE(x.match) << Describe(x);
  EXPECT_EQ(x.inliers, 10);
}

TEST(RobustVerifySyntheticTest, InliersBunchedInOneCornerAreRefusedByTheHullAndCoverRules) {
  std::mt19937_64 rng(3);
  // 49 banked points over the whole image, and 16 more in a 600 x 600 corner.
  std::vector<LocalFeature> bank = Grid(rng, 7, 300, 3800);
  const std::vector<LocalFeature> corner = Grid(rng, 4, 300, 900);
  bank.insert(bank.end(), corner.begin(), corner.end());
  // A query with every banked descriptor, but only the corner's points where the similarity puts them: the
  // rest moved at random, far (a shared caption on unrelated photos looks like this). Far: the tolerance (64
  // units) lets a hypothesis bend by about 64 / 600 over the 600-unit corner, enough to take in an outlier
  // displaced by up to a tenth of its distance from the corner; 1500 units is out of that reach.
  const Transform t{1.1, 5, 400, 200};
  std::vector<LocalFeature> query;
  for (size_t i = 0; i < bank.size(); ++i) {
    if (i >= 49) {
      query.push_back(t(bank[i]));
    } else {
      // Anywhere at least 1500 units from where the similarity would put it.
      const auto [at_x, at_y] = t.Map(bank[i].x, bank[i].y);
      LocalFeature moved = bank[i];
      do {
        moved.x = static_cast<uint16_t>(rng() % 4096);
        moved.y = static_cast<uint16_t>(rng() % 4096);
      } while (std::hypot(moved.x - at_x, moved.y - at_y) < 1500);
      query.push_back(moved);
    }
  }
  const RobustVerdict v = VerifyRobust(bank, query);
  EXPECT_FALSE(v.match) << Describe(v);
  EXPECT_EQ(v.inliers, 16) << Describe(v);  // more than min_inliers
  // Hull of the corner: 600 x 600 of the banked hull 3500 x 3500 (2.9 %); of the 4096 x 4096 image, 2.1 %.
  EXPECT_NEAR(v.hull, 600.0 * 600.0 / (3500.0 * 3500.0), 0.001) << Describe(v);
  EXPECT_LT(v.image_cover, 0.04);
  // Each rule on its own refuses it; without both it would be a match.
  RobustParams no_hull_rule;
  no_hull_rule.min_hull = 0;
  EXPECT_FALSE(VerifyRobust(bank, query, no_hull_rule).match);
  RobustParams no_cover_rule;
  no_cover_rule.min_image_cover = 0;
  EXPECT_FALSE(VerifyRobust(bank, query, no_cover_rule).match);
  RobustParams neither;
  neither.min_hull = 0;
  neither.min_image_cover = 0;
  EXPECT_TRUE(VerifyRobust(bank, query, neither).match);
}

TEST(RobustVerifySyntheticTest, ImageCoverUsesTheBankedExtent) {
  // The same 25 points, a 1400 x 1400 square: 11.7 % of a square image (4096 x 4096), 16 % of a landscape one
  // whose short side is 3000 units.
  std::mt19937_64 rng(4);
  RobustFingerprint fp;
  fp.features = Grid(rng, 5, 1000, 2400);
  const std::vector<LocalFeature> query = fp.features;
  RobustVerdict v = VerifyRobust(fp, query);
  EXPECT_NEAR(v.image_cover, 1400.0 * 1400.0 / (4096.0 * 4096.0), 1e-3);
  fp.extent_y = 3000;
  v = VerifyRobust(fp, query);
  EXPECT_NEAR(v.image_cover, 1400.0 * 1400.0 / (4096.0 * 3000.0), 1e-3);
  // With a cover floor between the two, only the smaller image passes.
  RobustParams params;
  params.min_image_cover = 0.14;
  fp.extent_y = 4096;
  EXPECT_FALSE(VerifyRobust(fp, query, params).match);
  fp.extent_y = 3000;
  EXPECT_TRUE(VerifyRobust(fp, query, params).match);
}

TEST(RobustVerifySyntheticTest, ScaleOutsideTheBoundsIsNotAMatch) {
  std::mt19937_64 rng(5);
  const std::vector<LocalFeature> bank = Grid(rng, 6, 100, 4000);
  // 0.25 is inside [0.2, 5], 0.15 is not; both keep every point on the image.
  const RobustVerdict inside = VerifyRobust(bank, Apply(Transform{0.25, 0, 100, 100}, bank));
  EXPECT_TRUE(inside.match) << Describe(inside);
  EXPECT_NEAR(inside.scale, 0.25, 0.01);
  const RobustVerdict outside = VerifyRobust(bank, Apply(Transform{0.15, 0, 100, 100}, bank));
  EXPECT_FALSE(outside.match) << Describe(outside);
  // The other way: banked points in a 600-unit square, seen 4.5 and 5.6 times larger. (Such a small part of the
  // banked image also fails the image-cover rule, 2 % < 4 %, which is left out here to test the bound alone.)
  RobustParams no_cover;
  no_cover.min_image_cover = 0;
  const std::vector<LocalFeature> small = Grid(rng, 6, 100, 700);
  const RobustVerdict up = VerifyRobust(small, Apply(Transform{4.5, 0, 100, 100}, small), no_cover);
  EXPECT_TRUE(up.match) << Describe(up);
  EXPECT_NEAR(up.scale, 4.5, 0.05);
  EXPECT_FALSE(VerifyRobust(small, Apply(Transform{5.6, 0, 100, 100}, small), no_cover).match);
  EXPECT_FALSE(VerifyRobust(small, Apply(Transform{4.5, 0, 100, 100}, small)).match);
}

TEST(RobustVerifySyntheticTest, AmbiguousDescriptorsFailTheRatioTest) {
  std::mt19937_64 rng(6);
  const std::vector<LocalFeature> bank = Grid(rng, 6, 200, 3900);
  std::vector<LocalFeature> query = bank;
  // Every descriptor twice in the query: the nearest is no better than the second nearest.
  for (const LocalFeature& f : bank) {
    LocalFeature twin = f;
    twin.x = static_cast<uint16_t>(4095 - f.x);
    query.push_back(twin);
  }
  const RobustVerdict v = VerifyRobust(bank, query);
  EXPECT_FALSE(v.match) << Describe(v);
  EXPECT_EQ(v.correspondences, 0);
  // A twin 20 bits further than the copy passes (0 < 0.8 x 20).
  std::vector<LocalFeature> distinct = bank;
  for (const LocalFeature& f : bank) {
    LocalFeature twin = f;
    FlipBits(rng, 20, &twin);
    twin.x = static_cast<uint16_t>(4095 - f.x);
    distinct.push_back(twin);
  }
  EXPECT_TRUE(VerifyRobust(bank, distinct).match);
}

TEST(RobustVerifySyntheticTest, DescriptorDistanceAndPositionToleranceBound) {
  std::mt19937_64 rng(7);
  const std::vector<LocalFeature> bank = Grid(rng, 6, 200, 3900);
  // 40 of 256 bits changed is within max_distance (64): still a match; 70 is not.
  for (int bits : {40, 70}) {
    std::vector<LocalFeature> query = bank;
    for (LocalFeature& f : query) FlipBits(rng, bits, &f);
    const RobustVerdict v = VerifyRobust(bank, query);
    EXPECT_EQ(v.match, bits <= 64) << bits << ": " << Describe(v);
    EXPECT_EQ(v.correspondences, bits <= 64 ? 36 : 0) << bits;
  }
  // Each point moved 30 units from where the identity puts it (within the 64 tolerance): all inliers. Half of
  // them moved 150 units: those are outliers.
  std::vector<LocalFeature> jitter = bank, far = bank;
  for (size_t i = 0; i < bank.size(); ++i) {
    jitter[i].x = static_cast<uint16_t>(bank[i].x + (i % 2 ? 30 : -30));
    if (i % 2) far[i].y = static_cast<uint16_t>(bank[i].y + 150);
  }
  RobustVerdict v = VerifyRobust(bank, jitter);
  EXPECT_TRUE(v.match) << Describe(v);
  EXPECT_EQ(v.inliers, 36);
  v = VerifyRobust(bank, far);
  EXPECT_TRUE(v.match) << Describe(v);
  EXPECT_EQ(v.inliers, 18) << Describe(v);
}

// The header: the winning hypothesis is "refitted once by least squares on its inliers". Stored coordinates are
// cell centres (16 units apart), so a similarity from two points is off by up to 16 / (their distance) radians,
// while a least-squares fit over ~64 points spread over 3000 units is good to a few hundredths of a degree.
TEST(RobustVerifySyntheticTest, ReportedTransformIsTheLeastSquaresRefitOverTheInliers) {
  std::mt19937_64 rng(9);
  const Transform t{0.8, 10, 600, 100};
  double worst_degrees = 0, worst_scale = 0;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<LocalFeature> raw;
    for (int i = 0; i < 64; ++i) {
      raw.push_back(Feature(rng, static_cast<double>(500 + rng() % 3000), static_cast<double>(500 + rng() % 3000)));
    }
    const absl::StatusOr<RobustFingerprint> stored = DecodeRobustFingerprint(*EncodeRobust(raw));
    ASSERT_TRUE(stored.ok());
    const RobustVerdict v = VerifyRobust(*stored, Apply(t, raw));
    ASSERT_TRUE(v.match) << Describe(v);
    worst_degrees = std::max(worst_degrees, std::abs(v.rotation_degrees - 10));
    worst_scale = std::max(worst_scale, std::abs(v.scale / 0.8 - 1));
  }
  EXPECT_LT(worst_degrees, 0.25);
  EXPECT_LT(worst_scale, 0.005);
}

TEST(RobustVerifySyntheticTest, TooFewFeaturesGiveAnEmptyVerdict) {
  std::mt19937_64 rng(8);
  const std::vector<LocalFeature> bank = Grid(rng, 5, 200, 3900);
  EXPECT_FALSE(VerifyRobust(bank, std::vector<LocalFeature>{}).match);
  EXPECT_FALSE(VerifyRobust(std::vector<LocalFeature>{}, bank).match);
  EXPECT_FALSE(VerifyRobust(std::vector<LocalFeature>(bank.begin(), bank.begin() + 2), bank).match);
}

}  // namespace
}  // namespace hashbank
