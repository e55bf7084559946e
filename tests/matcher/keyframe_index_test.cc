// KeyframeIndex (matcher/keyframe_index.h): the rule that makes a video match by its keyframes, on synthetic
// fingerprints (random descriptors, so which keyframe a query frame shares features with is known exactly).
#include "matcher/keyframe_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "hashing/robust_fingerprint.h"

namespace hashbank {
namespace {

std::vector<LocalFeature> RandomFeatures(std::mt19937_64& rng, size_t n) {
  std::vector<LocalFeature> out(n);
  for (LocalFeature& f : out) {
    for (uint64_t& limb : f.descriptor) limb = rng();
    f.x = static_cast<uint16_t>(500 + rng() % 3000);
    f.y = static_cast<uint16_t>(500 + rng() % 3000);
  }
  return out;
}

// A query frame showing banked keyframe `fp`: its features scaled by 0.9 and moved (a crop), a few bits off,
// among 300 features of other content.
std::vector<LocalFeature> Seen(std::mt19937_64& rng, const std::vector<LocalFeature>& fp) {
  std::vector<LocalFeature> out;
  for (LocalFeature f : fp) {
    f.x = static_cast<uint16_t>(std::lround(0.9 * f.x + 200));
    f.y = static_cast<uint16_t>(std::lround(0.9 * f.y + 50));
    f.descriptor[rng() % 4] ^= uint64_t{1} << (rng() % 64);
    out.push_back(f);
  }
  for (const LocalFeature& f : RandomFeatures(rng, 300)) out.push_back(f);
  return out;
}

class KeyframeIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(7);
    for (size_t v = 0; v < 3; ++v) {
      std::vector<std::string> encoded;
      keyframes_.emplace_back();
      for (int k = 0; k < (v == 2 ? 1 : 4); ++k) {  // video 2 has a single keyframe
        keyframes_[v].push_back(RandomFeatures(rng, 64));
        encoded.push_back(*EncodeRobust(keyframes_[v].back(), 640, 360));
      }
      ASSERT_TRUE(index_.Insert(100 + v, encoded).ok());
    }
  }
  VideoKeyframeQuery Frame(int video, int keyframe) {
    return {Seen(rng_, keyframes_[static_cast<size_t>(video)][static_cast<size_t>(keyframe)]), {}, 0};
  }
  VideoKeyframeQuery Unrelated() { return {RandomFeatures(rng_, 400), {}, 0}; }

  KeyframeIndex index_;
  std::vector<std::vector<std::vector<LocalFeature>>> keyframes_;
  std::mt19937_64 rng_{11};
};

TEST_F(KeyframeIndexTest, TwoVerifiedKeyframesMakeAMatchAndOneDoesNot) {
  EXPECT_EQ(index_.videos(), 3u);
  EXPECT_EQ(index_.keyframes(), 9u);
  // One keyframe of video 0 seen (twice, by two query frames): one similar frame is not a video.
  std::vector<VideoKeyframeQuery> q{Frame(0, 1), Frame(0, 1), Unrelated()};
  EXPECT_TRUE(index_.Query(q).empty());
  // Two of its keyframes, by two query frames.
  q = {Unrelated(), Frame(0, 1), Frame(0, 3)};
  std::vector<KeyframeIndex::Hit> hits = index_.Query(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].video, 100u);
  EXPECT_EQ(hits[0].keyframes, 2);
  EXPECT_EQ(hits[0].queries, 2);
  EXPECT_GE(hits[0].best.verdict.inliers, 10);
  EXPECT_NEAR(hits[0].best.verdict.scale, 0.9, 0.02);
  // A video with a single keyframe matches by it.
  q = {Frame(2, 0)};
  hits = index_.Query(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].video, 102u);
  // Nothing for unrelated frames.
  q = {Unrelated(), Unrelated(), Unrelated()};
  EXPECT_TRUE(index_.Query(q).empty());
}

TEST_F(KeyframeIndexTest, MirroredFeaturesAndMostKeyframesFirst) {
  // The query's mirrored features carry video 1; its direct ones video 0 (three keyframes).
  std::vector<VideoKeyframeQuery> q{Frame(0, 0), Frame(0, 2), Frame(0, 3)};
  q[0].mirrored = Seen(rng_, keyframes_[1][0]);
  q[1].mirrored = Seen(rng_, keyframes_[1][2]);
  const std::vector<KeyframeIndex::Hit> hits = index_.Query(q);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].video, 100u);
  EXPECT_EQ(hits[0].keyframes, 3);
  EXPECT_FALSE(hits[0].best.mirrored);
  EXPECT_EQ(hits[1].video, 101u);
  EXPECT_EQ(hits[1].keyframes, 2);
  EXPECT_TRUE(hits[1].best.mirrored);
}

TEST_F(KeyframeIndexTest, RemovedVideosAreNotFoundAndBadInsertsKeepNothing) {
  index_.Remove(100);
  index_.Remove(999);  // unknown: nothing happens
  std::vector<VideoKeyframeQuery> q{Frame(0, 0), Frame(0, 1)};
  EXPECT_TRUE(index_.Query(q).empty());
  EXPECT_EQ(index_.videos(), 2u);
  // Re-inserting the removed video is allowed; inserting a present one is not.
  std::vector<std::string> encoded;
  for (const auto& k : keyframes_[0]) encoded.push_back(*EncodeRobust(k, 640, 360));
  EXPECT_TRUE(index_.Insert(100, encoded).ok());
  EXPECT_EQ(index_.Query(q).size(), 1u);
  EXPECT_EQ(index_.Insert(101, encoded).code(), absl::StatusCode::kAlreadyExists);
  // Too many keyframes, or a malformed one: refused, and the video is not indexed at all.
  std::vector<std::string> nine(9, encoded[0]);
  EXPECT_EQ(index_.Insert(200, nine).code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> bad{encoded[0], encoded[1], "not a fingerprint"};
  EXPECT_EQ(index_.Insert(201, bad).code(), absl::StatusCode::kInvalidArgument);
  // A peer's keyframe of 65 features (more than a node banks) or of 9 (too few to verify): refused too.
  std::mt19937_64 rng(3);
  for (const size_t n : {size_t{65}, size_t{9}}) {
    const std::vector<std::string> odd{encoded[0], *EncodeRobust(RandomFeatures(rng, n), 640, 360)};
    EXPECT_EQ(index_.Insert(202, odd).code(), absl::StatusCode::kInvalidArgument) << n;
  }
  EXPECT_EQ(index_.videos(), 3u);
  EXPECT_EQ(index_.keyframes(), 9u) << "nothing of the refused videos was inserted";
  const std::vector<std::string> two{encoded[0], encoded[1]};
  EXPECT_TRUE(index_.Insert(201, two).ok());  // the id was not taken
}

}  // namespace
}  // namespace hashbank
