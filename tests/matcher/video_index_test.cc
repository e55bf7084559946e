// VideoIndex (matcher/video_index.h): banked vPDQ frame lists and the match rule, on synthetic
// frame lists. Every frame is a random 256-bit hash (two random hashes are ~128 bits apart, so unrelated
// frames never come within 31 bits); a near copy of a frame has exactly k bits flipped, so its distance is
// known exactly. Expected counts, percentages, matched times and ranges follow from how each query was built
// (which frames were copied, at which timestamps), never from what the index returns.
#include "matcher/video_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "absl/status/status.h"

namespace hashbank {
namespace {

using Frames = std::vector<VideoFrame>;

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (auto& l : h.limbs) l = rng();
  return h;
}

// `h` with exactly `bits` distinct bits flipped: at distance `bits`.
Hash256 Flip(Hash256 h, int bits, std::mt19937_64& rng) {
  std::set<int> chosen;
  while (static_cast<int>(chosen.size()) < bits) chosen.insert(static_cast<int>(rng() % 256));
  for (int k : chosen) h.limbs[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
  return h;
}

// `n` unrelated frames of quality `quality`, at start, start + interval, ...
Frames RandomVideo(size_t n, std::mt19937_64& rng, double interval = 1.0, double start = 0, int quality = 100) {
  Frames out;
  for (size_t i = 0; i < n; ++i) out.push_back({RandomHash(rng), quality, start + static_cast<double>(i) * interval});
  return out;
}

// Near copies (exactly `bits` flipped) of source[from, to), re-timed from `start` at `interval`, quality 100.
Frames Copy(const Frames& source, size_t from, size_t to, int bits, std::mt19937_64& rng, double start = 0,
            double interval = 1.0) {
  Frames out;
  for (size_t i = from; i < to; ++i) {
    out.push_back({Flip(source[i].pdq, bits, rng), 100, start + static_cast<double>(i - from) * interval});
  }
  return out;
}

// `frames` with timestamps start, start + interval, ... (in the given order).
Frames Retime(Frames frames, double start = 0, double interval = 1.0) {
  for (size_t i = 0; i < frames.size(); ++i) frames[i].timestamp = start + static_cast<double>(i) * interval;
  return frames;
}

Frames Concat(std::initializer_list<Frames> parts) {
  Frames out;
  for (const Frames& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<uint64_t> Ids(const std::vector<VideoMatch>& matches) {
  std::vector<uint64_t> ids;
  for (const VideoMatch& m : matches) ids.push_back(m.id);
  return ids;
}

// --- Excerpts and compilations ---------------------------------------------------------------------------

TEST(VideoIndexTest, ExcerptOfTheMiddleHalfMatchesByQueryPercent) {
  std::mt19937_64 rng(1);
  const Frames banked = RandomVideo(20, rng);  // 20 s at 1 s
  VideoIndex index;
  ASSERT_TRUE(index.Insert(7, banked, 1.0).ok());
  ASSERT_TRUE(index.Insert(8, RandomVideo(20, rng), 1.0).ok());  // unrelated: must not appear
  EXPECT_EQ(index.videos(), 2u);
  EXPECT_EQ(index.frames(), 40u);

  // Banked seconds [5, 15), 8 bits off each, re-timed from 0.
  const Frames excerpt = Copy(banked, 5, 15, 8, rng);
  const std::vector<VideoMatch> m = index.Query(excerpt, 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{7});
  const VideoVerdict& v = m[0].verdict;
  EXPECT_EQ(v.query_frames, 10u);
  EXPECT_EQ(v.query_matched, 10u);
  EXPECT_EQ(v.target_frames, 20u);
  EXPECT_EQ(v.target_matched, 10u);
  EXPECT_DOUBLE_EQ(v.query_percent, 100.0);
  EXPECT_DOUBLE_EQ(v.target_percent, 50.0);
  EXPECT_DOUBLE_EQ(v.matched_seconds, 10.0);
  EXPECT_DOUBLE_EQ(v.query_start, 0.0);
  EXPECT_DOUBLE_EQ(v.query_end, 9.0);
  EXPECT_DOUBLE_EQ(v.target_start, 5.0);
  EXPECT_DOUBLE_EQ(v.target_end, 14.0);
  EXPECT_EQ(v.range_frames, 10u);  // banked frames 5..14
  EXPECT_DOUBLE_EQ(v.range_percent, 100.0);

  // It matched by the query side and the range: with both out of reach (the target side is 50 %), nothing
  // matches; either alone is enough.
  VideoMatchRule strict;
  strict.query_match_percent = 101;
  strict.range_match_percent = 101;
  EXPECT_TRUE(index.Query(excerpt, 1.0, strict).empty());
  strict.query_match_percent = 100;
  EXPECT_EQ(Ids(index.Query(excerpt, 1.0, strict)), std::vector<uint64_t>{7});
  strict.query_match_percent = 101;
  strict.range_match_percent = 100;
  EXPECT_EQ(Ids(index.Query(excerpt, 1.0, strict)), std::vector<uint64_t>{7});
}

TEST(VideoIndexTest, BankedVideoInsideALongerCompilationMatchesByTargetPercent) {
  std::mt19937_64 rng(2);
  const Frames banked = RandomVideo(10, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(3, banked, 1.0).ok());

  // 10 s unrelated, the banked video (8 bits off), 10 s unrelated: 30 frames at 1 s.
  const Frames compilation =
      Retime(Concat({RandomVideo(10, rng), Copy(banked, 0, 10, 8, rng), RandomVideo(10, rng)}));
  const std::vector<VideoMatch> m = index.Query(compilation, 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{3});
  const VideoVerdict& v = m[0].verdict;
  EXPECT_EQ(v.query_frames, 30u);
  EXPECT_EQ(v.query_matched, 10u);
  EXPECT_EQ(v.target_frames, 10u);
  EXPECT_EQ(v.target_matched, 10u);
  EXPECT_NEAR(v.query_percent, 100.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(v.target_percent, 100.0);
  EXPECT_DOUBLE_EQ(v.matched_seconds, 10.0);
  EXPECT_DOUBLE_EQ(v.query_start, 10.0);
  EXPECT_DOUBLE_EQ(v.query_end, 19.0);
  EXPECT_DOUBLE_EQ(v.target_start, 0.0);
  EXPECT_DOUBLE_EQ(v.target_end, 9.0);
  EXPECT_EQ(v.range_frames, 10u);
  EXPECT_DOUBLE_EQ(v.range_percent, 100.0);

  // By the target side (and the range, the whole video): without both, the query's 33 % is not enough.
  VideoMatchRule strict;
  strict.target_match_percent = 101;
  strict.range_match_percent = 101;
  EXPECT_TRUE(index.Query(compilation, 1.0, strict).empty());
  strict.target_match_percent = 100;
  EXPECT_EQ(Ids(index.Query(compilation, 1.0, strict)), std::vector<uint64_t>{3});
}

// Every other banked frame, each followed by an unrelated frame: about half of the query, of the banked video
// and of the matched range — under 80 % everywhere, however long the match.
TEST(VideoIndexTest, HalfOfEverySideIsNoMatchUnderEightyPercentHowEverLong) {
  std::mt19937_64 rng(3);
  const Frames banked = RandomVideo(100, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 1.0).ok());
  Frames query;
  const Frames noise = RandomVideo(50, rng);
  for (size_t i = 0; i < 50; ++i) {
    query.push_back({Flip(banked[2 * i].pdq, 4, rng), 100, 0});
    query.push_back(noise[i]);
  }
  query = Retime(query);
  EXPECT_TRUE(index.Query(query, 1.0, VideoMatchRule{}).empty());
  const VideoVerdict v = CompareVideos(query, 1.0, banked, 1.0, VideoMatchRule{});
  EXPECT_DOUBLE_EQ(v.query_percent, 50.0);
  EXPECT_DOUBLE_EQ(v.target_percent, 50.0);
  EXPECT_EQ(v.range_frames, 99u);  // banked 0..98
  EXPECT_NEAR(v.range_percent, 5000.0 / 99, 1e-9);
  EXPECT_DOUBLE_EQ(v.matched_seconds, 50.0);
  EXPECT_FALSE(IsVideoMatch(v, 100.0, VideoMatchRule{}));

  for (int which = 0; which < 3; ++which) {
    VideoMatchRule half;
    (which == 0 ? half.query_match_percent : which == 1 ? half.target_match_percent : half.range_match_percent) = 50;
    EXPECT_EQ(Ids(index.Query(query, 1.0, half)), std::vector<uint64_t>{1}) << which;
  }
}

// The banked video's second half, then as much unrelated video: 50 % of the query, 50 % of the banked video,
// but all of the banked range it covers — an excerpt inside other content, matched by the range.
TEST(VideoIndexTest, ExcerptInsideUnrelatedContentMatchesByTheRangePercent) {
  std::mt19937_64 rng(15);
  const Frames banked = RandomVideo(100, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 1.0).ok());
  const Frames query = Retime(Concat({Copy(banked, 50, 100, 4, rng), RandomVideo(50, rng)}));
  const std::vector<VideoMatch> m = index.Query(query, 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_DOUBLE_EQ(m[0].verdict.query_percent, 50.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_percent, 50.0);
  EXPECT_EQ(m[0].verdict.range_frames, 50u);
  EXPECT_DOUBLE_EQ(m[0].verdict.range_percent, 100.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.matched_seconds, 50.0);
  VideoMatchRule no_range;
  no_range.range_match_percent = 101;
  EXPECT_TRUE(index.Query(query, 1.0, no_range).empty());
}

// --- The minimum matched time ------------------------------------------------------------------------------

TEST(VideoIndexTest, TwoSharedFramesOfOneSecondEachDoNotMatchButFiveSecondsDo) {
  std::mt19937_64 rng(4);
  const Frames banked = RandomVideo(20, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(5, banked, 1.0).ok());

  // A 2-frame query entirely made of banked frames: 100 % of the query, but 2 s < min_matched_seconds (5).
  const Frames two = Copy(banked, 4, 6, 3, rng);
  const VideoVerdict v = CompareVideos(two, 1.0, banked, 1.0, VideoMatchRule{});
  EXPECT_DOUBLE_EQ(v.query_percent, 100.0);
  EXPECT_DOUBLE_EQ(v.matched_seconds, 2.0);
  EXPECT_FALSE(IsVideoMatch(v, 20.0, VideoMatchRule{}));
  EXPECT_TRUE(index.Query(two, 1.0, VideoMatchRule{}).empty());
  // The same two frames in a longer unrelated video (a shared title card): no match either.
  EXPECT_TRUE(index.Query(Retime(Concat({RandomVideo(9, rng), two, RandomVideo(9, rng)})), 1.0, VideoMatchRule{}).empty());

  // The boundary: 4 s is short, exactly 5 s matches.
  EXPECT_TRUE(index.Query(Copy(banked, 4, 8, 3, rng), 1.0, VideoMatchRule{}).empty());
  const std::vector<VideoMatch> five = index.Query(Copy(banked, 4, 9, 3, rng), 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(five), std::vector<uint64_t>{5});
  EXPECT_DOUBLE_EQ(five[0].verdict.matched_seconds, 5.0);

  // min_matched_seconds = 0: the two frames match.
  VideoMatchRule any_time;
  any_time.min_matched_seconds = 0;
  EXPECT_EQ(Ids(index.Query(two, 1.0, any_time)), std::vector<uint64_t>{5});
}

// The matched time is the banked side's matched frames times its interval, capped by the query's matched span.
TEST(VideoIndexTest, MatchedTimeIsTheBankedSidesTimeWithinTheQuerysSpan) {
  std::mt19937_64 rng(5);
  const Frames banked = RandomVideo(40, rng, 0.5);  // 20 s sampled every 0.5 s
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 0.5).ok());
  // 8 banked frames (4 s of the banked side), queried as one frame every 2 s (16 s of the query side).
  const Frames query = Copy(banked, 10, 18, 5, rng, 0, 2.0);
  VideoMatchRule rule;
  rule.min_matched_seconds = 0;
  std::vector<VideoMatch> m = index.Query(query, 2.0, rule);
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_DOUBLE_EQ(m[0].verdict.matched_seconds, 4.0);
  rule.min_matched_seconds = 4;
  EXPECT_EQ(Ids(index.Query(query, 2.0, rule)), std::vector<uint64_t>{1});
  rule.min_matched_seconds = 4.5;  // the query side spans 16 s, the banked side has only 4 s
  EXPECT_TRUE(index.Query(query, 2.0, rule).empty());
}

// A still shot: ten banked seconds of near-identical frames. One query frame finds all ten, but one query
// frame is one second of the query: it cannot make ten seconds of match.
TEST(VideoIndexTest, OneQueryFrameOfAStillShotCannotAddTime) {
  std::mt19937_64 rng(16);
  const Hash256 still = RandomHash(rng);
  Frames banked;
  for (int i = 0; i < 10; ++i) banked.push_back({Flip(still, 2, rng), 100, static_cast<double>(i)});
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 1.0).ok());
  const Frames one = {{Flip(still, 3, rng), 100, 0}};
  const VideoVerdict v = CompareVideos(one, 1.0, banked, 1.0, VideoMatchRule{});
  EXPECT_EQ(v.target_matched, 10u);
  EXPECT_DOUBLE_EQ(v.query_percent, 100.0);
  EXPECT_DOUBLE_EQ(v.target_percent, 100.0);
  EXPECT_DOUBLE_EQ(v.matched_seconds, 1.0);
  EXPECT_TRUE(index.Query(one, 1.0, VideoMatchRule{}).empty());
  // Five seconds of the same shot in the query: 5 s.
  Frames five;
  for (int i = 0; i < 5; ++i) five.push_back({Flip(still, 3, rng), 100, static_cast<double>(i)});
  const std::vector<VideoMatch> m = index.Query(five, 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_DOUBLE_EQ(m[0].verdict.matched_seconds, 5.0);
}

// The required time is min(min_matched_seconds, half the banked video's indexed time): a 4 s banked video is
// matched by a 2 s excerpt, not by 1 s; a 10 s one needs 5 s.
TEST(VideoIndexTest, ShortBankedVideoIsMatchedByAnExcerptOfHalfItsLength) {
  std::mt19937_64 rng(6);
  const Frames short_video = RandomVideo(4, rng);
  const Frames ten = RandomVideo(10, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, short_video, 1.0).ok());
  ASSERT_TRUE(index.Insert(2, ten, 1.0).ok());

  const std::vector<VideoMatch> m = index.Query(Copy(short_video, 1, 3, 6, rng), 1.0, VideoMatchRule{});
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_DOUBLE_EQ(m[0].verdict.matched_seconds, 2.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.query_percent, 100.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_percent, 50.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_start, 1.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_end, 2.0);
  EXPECT_TRUE(index.Query(Copy(short_video, 1, 2, 6, rng), 1.0, VideoMatchRule{}).empty());

  EXPECT_TRUE(index.Query(Copy(ten, 3, 7, 6, rng), 1.0, VideoMatchRule{}).empty());  // 4 s < 5 s
  EXPECT_EQ(Ids(index.Query(Copy(ten, 3, 8, 6, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{2});

  // The whole short video inside a long compilation: 100 % of it, 4 s >= 2 s.
  const Frames compilation = Retime(Concat({RandomVideo(30, rng), Copy(short_video, 0, 4, 6, rng), RandomVideo(30, rng)}));
  EXPECT_EQ(Ids(index.Query(compilation, 1.0, VideoMatchRule{})), std::vector<uint64_t>{1});
}

// --- Quality --------------------------------------------------------------------------------------------------

TEST(VideoIndexTest, FramesBelowMinQualityAreNeitherIndexedNorCounted) {
  std::mt19937_64 rng(7);
  Frames banked = RandomVideo(10, rng);
  constexpr size_t kLow[] = {1, 3, 5, 7};
  constexpr size_t kIndexed[] = {0, 2, 4, 6, 8, 9};
  for (size_t i : kLow) banked[i].quality = 49;  // below the index's 50
  banked[0].quality = 50;                                 // exactly at it: indexed
  VideoIndex index(50);
  ASSERT_TRUE(index.Insert(9, banked, 1.0).ok());
  EXPECT_EQ(index.frames(), 6u);  // 0, 2, 4, 6, 8, 9
  EXPECT_EQ(index.videos(), 1u);

  VideoMatchRule rule;
  rule.min_matched_seconds = 0;
  // Exact copies of every banked frame at quality 100: the 4 low-quality banked frames are not there to hit.
  const std::vector<VideoMatch> all = index.Query(Copy(banked, 0, 10, 0, rng), 1.0, rule);
  ASSERT_EQ(Ids(all), std::vector<uint64_t>{9});
  EXPECT_EQ(all[0].verdict.query_frames, 10u);
  EXPECT_EQ(all[0].verdict.query_matched, 6u);
  EXPECT_EQ(all[0].verdict.target_frames, 6u);
  EXPECT_EQ(all[0].verdict.target_matched, 6u);
  EXPECT_DOUBLE_EQ(all[0].verdict.target_percent, 100.0);
  EXPECT_DOUBLE_EQ(all[0].verdict.target_start, 0.0);
  EXPECT_DOUBLE_EQ(all[0].verdict.target_end, 9.0);

  // Copies of only the low-quality banked frames hit nothing.
  Frames low;
  for (size_t i : kLow) low.push_back({banked[i].pdq, 100, static_cast<double>(low.size())});
  EXPECT_TRUE(index.Query(low, 1.0, rule).empty());

  // Query frames below the rule's min_quality are not counted: the 6 indexed frames at quality 100 plus 4
  // unrelated frames at quality 30 are 6 query frames, all matched.
  Frames query;
  for (size_t i : kIndexed) query.push_back({banked[i].pdq, 100, 0});
  for (const VideoFrame& f : RandomVideo(4, rng, 1.0, 0, 30)) query.push_back(f);
  query = Retime(query);
  const std::vector<VideoMatch> counted = index.Query(query, 1.0, rule);
  ASSERT_EQ(Ids(counted), std::vector<uint64_t>{9});
  EXPECT_EQ(counted[0].verdict.query_frames, 6u);
  EXPECT_EQ(counted[0].verdict.query_matched, 6u);
  EXPECT_DOUBLE_EQ(counted[0].verdict.query_percent, 100.0);

  // Exact copies of indexed frames, but at quality 49 in the query: nothing is queried.
  Frames weak;
  for (size_t i : kIndexed) weak.push_back({banked[i].pdq, 49, static_cast<double>(weak.size())});
  EXPECT_TRUE(index.Query(weak, 1.0, rule).empty());
  weak[0].quality = 50;  // one frame at the floor is queried, and matches its frame
  const std::vector<VideoMatch> one = index.Query(weak, 1.0, rule);
  ASSERT_EQ(Ids(one), std::vector<uint64_t>{9});
  EXPECT_EQ(one[0].verdict.query_frames, 1u);
  EXPECT_EQ(one[0].verdict.target_matched, 1u);
}

// --- Distance -------------------------------------------------------------------------------------------------

TEST(VideoIndexTest, DistanceExactlyMaxDistanceMatchesAndOneMoreDoesNot) {
  std::mt19937_64 rng(8);
  const Frames banked = RandomVideo(10, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(4, banked, 1.0).ok());

  const VideoMatchRule rule;  // max_distance 31
  const std::vector<VideoMatch> at = index.Query(Copy(banked, 0, 10, 31, rng), 1.0, rule);
  ASSERT_EQ(Ids(at), std::vector<uint64_t>{4});
  EXPECT_EQ(at[0].verdict.query_matched, 10u);
  EXPECT_EQ(at[0].verdict.target_matched, 10u);
  EXPECT_TRUE(index.Query(Copy(banked, 0, 10, 32, rng), 1.0, rule).empty());

  VideoMatchRule tight;
  tight.max_distance = 10;
  EXPECT_EQ(Ids(index.Query(Copy(banked, 0, 10, 10, rng), 1.0, tight)), std::vector<uint64_t>{4});
  EXPECT_TRUE(index.Query(Copy(banked, 0, 10, 11, rng), 1.0, tight).empty());
  tight.max_distance = 0;
  EXPECT_EQ(Ids(index.Query(Copy(banked, 0, 10, 0, rng), 1.0, tight)), std::vector<uint64_t>{4});
  EXPECT_TRUE(index.Query(Copy(banked, 0, 10, 1, rng), 1.0, tight).empty());

  // The brute force draws the same line.
  EXPECT_EQ(CompareVideos(Copy(banked, 0, 10, 31, rng), 1.0, banked, 1.0, rule).query_matched, 10u);
  EXPECT_EQ(CompareVideos(Copy(banked, 0, 10, 32, rng), 1.0, banked, 1.0, rule).query_matched, 0u);
}

// --- Remove and Insert errors -----------------------------------------------------------------------------------

TEST(VideoIndexTest, RemoveMakesAVideoUnmatchableAndLeavesTheOthers) {
  std::mt19937_64 rng(9);
  const Frames a = RandomVideo(12, rng), b = RandomVideo(15, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, a, 1.0).ok());
  ASSERT_TRUE(index.Insert(2, b, 1.0).ok());
  ASSERT_EQ(Ids(index.Query(Copy(a, 0, 12, 5, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{1});

  index.Remove(1, a);
  EXPECT_EQ(index.videos(), 1u);
  EXPECT_EQ(index.frames(), 15u);
  EXPECT_TRUE(index.Query(Copy(a, 0, 12, 5, rng), 1.0, VideoMatchRule{}).empty());
  EXPECT_TRUE(index.Query(Copy(a, 0, 12, 0, rng), 1.0, VideoMatchRule{.min_matched_seconds = 0}).empty());
  EXPECT_EQ(Ids(index.Query(Copy(b, 0, 15, 5, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{2});

  // Unknown ids and a second removal are ignored.
  index.Remove(99, b);
  index.Remove(1, a);
  EXPECT_EQ(index.videos(), 1u);
  EXPECT_EQ(index.frames(), 15u);
  EXPECT_EQ(Ids(index.Query(Copy(b, 0, 15, 5, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{2});

  // The id can be used again.
  ASSERT_TRUE(index.Insert(1, a, 1.0).ok());
  EXPECT_EQ(Ids(index.Query(Copy(a, 0, 12, 5, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{1});
  index.Remove(2, b);
  index.Remove(1, a);
  EXPECT_EQ(index.videos(), 0u);
  EXPECT_EQ(index.frames(), 0u);
}

TEST(VideoIndexTest, DuplicateIdIsRefusedAndTheFirstVideoStays) {
  std::mt19937_64 rng(10);
  const Frames first = RandomVideo(10, rng), second = RandomVideo(10, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(6, first, 1.0).ok());
  const absl::Status dup = index.Insert(6, second, 1.0);
  EXPECT_EQ(dup.code(), absl::StatusCode::kInvalidArgument) << dup;
  EXPECT_EQ(index.videos(), 1u);
  EXPECT_EQ(index.frames(), 10u);
  EXPECT_EQ(Ids(index.Query(Copy(first, 0, 10, 3, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{6});
  EXPECT_TRUE(index.Query(Copy(second, 0, 10, 3, rng), 1.0, VideoMatchRule{}).empty());
}

TEST(VideoIndexTest, AtMostKMaxVideoFramesFramesAndIdsThatFitBesideTheFrameIndex) {
  ASSERT_EQ(kMaxVideoFrames, 65535u);
  std::mt19937_64 rng(11);
  VideoIndex index;
  const Frames too_many = RandomVideo(kMaxVideoFrames + 1, rng);
  const absl::Status over = index.Insert(1, too_many, 1.0);
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument) << over;
  EXPECT_EQ(index.videos(), 0u);
  EXPECT_EQ(index.frames(), 0u);

  // Exactly the maximum: accepted, and its last frame (index 65534) resolves to its own timestamp.
  const Frames most(too_many.begin(), too_many.end() - 1);
  ASSERT_TRUE(index.Insert(2, most, 1.0).ok());
  EXPECT_EQ(index.frames(), kMaxVideoFrames);
  VideoMatchRule rule;
  rule.min_matched_seconds = 0;
  const std::vector<VideoMatch> last = index.Query(Copy(most, kMaxVideoFrames - 1, kMaxVideoFrames, 2, rng), 1.0, rule);
  ASSERT_EQ(Ids(last), std::vector<uint64_t>{2});
  EXPECT_DOUBLE_EQ(last[0].verdict.target_start, 65534.0);
  EXPECT_DOUBLE_EQ(last[0].verdict.target_end, 65534.0);
  EXPECT_EQ(last[0].verdict.target_frames, kMaxVideoFrames);

  // Ids carry the frame index in their low 16 bits: the largest id is 2^48 - 1.
  const Frames small = RandomVideo(5, rng);
  const uint64_t largest = (uint64_t{1} << 48) - 1;
  EXPECT_EQ(index.Insert(largest + 1, small, 1.0).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(index.Insert(largest, small, 1.0).ok());
  EXPECT_EQ(Ids(index.Query(Copy(small, 0, 5, 2, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{largest});
}

// --- Ranges and order ----------------------------------------------------------------------------------------

TEST(VideoIndexTest, RangesAreTheFirstAndLastMatchedTimestampsOnEachSide) {
  std::mt19937_64 rng(12);
  const Frames banked = RandomVideo(20, rng, 0.5);  // t = 0, 0.5, ..., 9.5
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 0.5).ok());
  VideoMatchRule rule;
  rule.min_matched_seconds = 0;
  rule.query_match_percent = 50;  // 3 of the 6 query frames match

  // Query frames at t = 1, 2, 4 (plus unrelated frames at 0, 3, 5) copying banked frames 12, 3, 7, out of
  // order: banked t = 6.0, 1.5, 3.5. The target range is the earliest and latest banked frame matched.
  const Frames noise = RandomVideo(3, rng);
  const Frames query = {{noise[0].pdq, 100, 0.0},
                        {Flip(banked[12].pdq, 4, rng), 100, 1.0},
                        {Flip(banked[3].pdq, 4, rng), 100, 2.0},
                        {noise[1].pdq, 100, 3.0},
                        {Flip(banked[7].pdq, 4, rng), 100, 4.0},
                        {noise[2].pdq, 100, 5.0}};
  const std::vector<VideoMatch> m = index.Query(query, 1.0, rule);
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_EQ(m[0].verdict.query_matched, 3u);
  EXPECT_DOUBLE_EQ(m[0].verdict.query_start, 1.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.query_end, 4.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_start, 1.5);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_end, 6.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.matched_seconds, 1.5);  // 3 banked frames x 0.5 s < 3 query frames x 1 s

  const VideoVerdict brute = CompareVideos(query, 1.0, banked, 0.5, rule);
  EXPECT_DOUBLE_EQ(brute.query_start, 1.0);
  EXPECT_DOUBLE_EQ(brute.query_end, 4.0);
  EXPECT_DOUBLE_EQ(brute.target_start, 1.5);
  EXPECT_DOUBLE_EQ(brute.target_end, 6.0);
}

TEST(VideoIndexTest, MatchesAreSortedByTheLargestPercentageThenById) {
  std::mt19937_64 rng(13);
  const Frames twenty = RandomVideo(20, rng), ten = RandomVideo(10, rng), thirty = RandomVideo(30, rng);
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, twenty, 1.0).ok());
  ASSERT_TRUE(index.Insert(2, ten, 1.0).ok());
  ASSERT_TRUE(index.Insert(3, thirty, 1.0).ok());
  // All of `ten`, 16 of `twenty`'s frames (2..17, contiguous: its range share is 100 %), and every other
  // frame of `thirty` from 0 to 28 (15 frames: target 50 %, range 15 of 29 = 51.7 %, query 15 / 41 = 36.6 %).
  Frames alternate;
  for (size_t i = 0; i < 30; i += 2) {
    Frames one = Copy(thirty, i, i + 1, 3, rng);
    alternate.insert(alternate.end(), one.begin(), one.end());
  }
  const Frames query = Retime(Concat({Copy(ten, 0, 10, 3, rng), Copy(twenty, 2, 18, 3, rng), alternate}));
  VideoMatchRule rule;
  rule.range_match_percent = 50;
  const std::vector<VideoMatch> m = index.Query(query, 1.0, rule);
  // 1 and 2 tie at 100 % (2's target share, 1's range share): by id; 3 after them.
  ASSERT_EQ(Ids(m), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(m[0].verdict.range_percent, 100.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_percent, 80.0);
  EXPECT_DOUBLE_EQ(m[1].verdict.target_percent, 100.0);
  EXPECT_NEAR(m[2].verdict.range_percent, 100.0 * 15 / 29, 1e-9);
}

// --- The index agrees with the brute force ----------------------------------------------------------------

TEST(VideoIndexTest, QueryAgreesWithCompareVideosOnRandomCases) {
  std::mt19937_64 rng(20240801);
  constexpr double kIntervals[] = {0.5, 1.0, 2.0};
  constexpr int kDistances[] = {0, 8, 31, 40};
  constexpr double kSeconds[] = {0, 1, 2.5, 5, 10};
  int matched_cases = 0, hit_but_unmatched = 0;
  for (int c = 0; c < 50; ++c) {
    SCOPED_TRACE(::testing::Message() << "case " << c);
    VideoIndex index(50);
    std::map<uint64_t, std::pair<Frames, double>> banked;
    const int videos = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < videos; ++k) {
      const size_t n = 1 + rng() % 30;
      const double interval = kIntervals[rng() % 3];
      Frames f = RandomVideo(n, rng, interval);
      for (size_t i = 0; i < n; ++i) {
        if (rng() % 5 == 0) f[i].quality = static_cast<int>(rng() % 101);  // some below 50
        if (i > 0 && rng() % 6 == 0) f[i].pdq = Flip(f[i - 1].pdq, static_cast<int>(rng() % 6), rng);  // a still scene
      }
      const uint64_t id = 100 + static_cast<uint64_t>(k);
      ASSERT_TRUE(index.Insert(id, f, interval).ok());
      banked[id] = {std::move(f), interval};
    }
    // The query: runs copied from banked videos (0..40 bits off: across the distance limits) and unrelated runs.
    const double query_interval = kIntervals[rng() % 3];
    Frames query;
    const int runs = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < runs; ++r) {
      if (rng() % 4 == 0) {
        for (const VideoFrame& f : RandomVideo(1 + rng() % 8, rng)) query.push_back(f);
        continue;
      }
      const Frames& source = banked[100 + rng() % static_cast<uint64_t>(videos)].first;
      const size_t from = rng() % source.size();
      const size_t to = from + 1 + rng() % (source.size() - from);
      for (size_t i = from; i < to; ++i) {
        query.push_back({Flip(source[i].pdq, static_cast<int>(rng() % 41), rng), static_cast<int>(30 + rng() % 71), 0});
      }
    }
    query = Retime(query, 0, query_interval);
    VideoMatchRule rule;
    rule.min_quality = 50;
    rule.max_distance = kDistances[rng() % 4];
    rule.query_match_percent = static_cast<double>(1 + rng() % 100);
    rule.target_match_percent = static_cast<double>(1 + rng() % 100);
    rule.range_match_percent = static_cast<double>(1 + rng() % 100);
    rule.min_matched_seconds = kSeconds[rng() % 5];

    std::map<uint64_t, VideoVerdict> expected;
    for (const auto& [id, video] : banked) {
      const VideoVerdict v = CompareVideos(query, query_interval, video.first, video.second, rule);
      // The banked length by its definition (video_index.h): the frames' span or indexed frames x interval.
      size_t indexed = 0;
      for (const VideoFrame& f : video.first) indexed += f.quality >= 50 ? 1 : 0;
      const double span = video.first.back().timestamp - video.first.front().timestamp + video.second;
      if (IsVideoMatch(v, std::max(span, static_cast<double>(indexed) * video.second), rule)) {
        expected[id] = v;
      } else if (v.query_matched > 0) {
        ++hit_but_unmatched;
      }
    }
    const std::vector<VideoMatch> got = index.Query(query, query_interval, rule);
    std::vector<uint64_t> want_ids;
    for (const auto& [id, v] : expected) want_ids.push_back(id);
    std::vector<uint64_t> got_ids = Ids(got);
    std::sort(got_ids.begin(), got_ids.end());
    ASSERT_EQ(got_ids, want_ids);
    matched_cases += expected.empty() ? 0 : 1;
    for (size_t i = 0; i < got.size(); ++i) {
      const VideoVerdict& g = got[i].verdict;
      const VideoVerdict& w = expected.at(got[i].id);
      EXPECT_EQ(g.query_frames, w.query_frames);
      EXPECT_EQ(g.query_matched, w.query_matched);
      EXPECT_EQ(g.target_frames, w.target_frames);
      EXPECT_EQ(g.target_matched, w.target_matched);
      EXPECT_EQ(g.range_frames, w.range_frames);
      EXPECT_NEAR(g.query_percent, w.query_percent, 1e-9);
      EXPECT_NEAR(g.target_percent, w.target_percent, 1e-9);
      EXPECT_NEAR(g.range_percent, w.range_percent, 1e-9);
      EXPECT_NEAR(g.matched_seconds, w.matched_seconds, 1e-9);
      EXPECT_NEAR(g.query_start, w.query_start, 1e-6);
      EXPECT_NEAR(g.query_end, w.query_end, 1e-6);
      EXPECT_NEAR(g.target_start, w.target_start, 1e-6);
      EXPECT_NEAR(g.target_end, w.target_end, 1e-6);
      if (i > 0) {
        const VideoVerdict& p = got[i - 1].verdict;
        EXPECT_GE(std::max({p.query_percent, p.target_percent, p.range_percent}),
                  std::max({g.query_percent, g.target_percent, g.range_percent}))
            << "best first";
      }
    }
  }
  // The cases exercised both outcomes.
  EXPECT_GE(matched_cases, 10);
  EXPECT_GE(hit_but_unmatched, 5);
}

// Timestamps need only be non-decreasing (a submitted vPDQ list may repeat one). The range is a time range:
// every indexed frame whose timestamp lies in it counts, as the brute force counts them.
TEST(VideoIndexTest, RangeCountsEveryFrameInsideTheMatchedTimesEvenWithRepeatedTimestamps) {
  std::mt19937_64 rng(17);
  Frames banked = RandomVideo(6, rng);
  // t = 0, 1, 1, 2, 3, 4: frames 1 and 2 share t = 1.
  const double times[] = {0, 1, 1, 2, 3, 4};
  for (size_t i = 0; i < banked.size(); ++i) banked[i].timestamp = times[i];
  VideoIndex index;
  ASSERT_TRUE(index.Insert(1, banked, 1.0).ok());
  VideoMatchRule rule;
  rule.min_matched_seconds = 0;
  rule.query_match_percent = 100;
  // Copies of frames 2 and 4 (t = 1 and 3): the matched range [1, 3] holds frames 1, 2, 3, 4.
  const Frames query = {{banked[2].pdq, 100, 0}, {banked[4].pdq, 100, 1}};
  const VideoVerdict brute = CompareVideos(query, 1.0, banked, 1.0, rule);
  EXPECT_DOUBLE_EQ(brute.target_start, 1.0);
  EXPECT_DOUBLE_EQ(brute.target_end, 3.0);
  EXPECT_EQ(brute.range_frames, 4u);
  const std::vector<VideoMatch> m = index.Query(query, 1.0, rule);
  ASSERT_EQ(Ids(m), std::vector<uint64_t>{1});
  EXPECT_DOUBLE_EQ(m[0].verdict.target_start, 1.0);
  EXPECT_DOUBLE_EQ(m[0].verdict.target_end, 3.0);
  EXPECT_EQ(m[0].verdict.range_frames, 4u) << "frame 1 (t = 1) is inside the matched range [1, 3]";
  EXPECT_DOUBLE_EQ(m[0].verdict.range_percent, 50.0);
}

// --- Bulk load --------------------------------------------------------------------------------------------------

TEST(VideoIndexTest, BulkLoadAnswersAsIncrementalInsertsAndDropsVideosRemovedMeanwhile) {
  std::mt19937_64 rng(18);
  std::vector<Frames> videos;
  for (int k = 0; k < 6; ++k) videos.push_back(RandomVideo(8 + static_cast<size_t>(k) * 3, rng));
  videos[2][1].quality = 10;  // one frame not indexed
  VideoIndex incremental, bulk;
  for (size_t k = 0; k < videos.size(); ++k) {
    ASSERT_TRUE(incremental.Insert(k + 1, videos[k], 1.0).ok());
    ASSERT_TRUE(bulk.Insert(k + 1, videos[k], 1.0, /*bulk=*/true).ok());
  }
  EXPECT_EQ(bulk.videos(), videos.size());
  bulk.Remove(4, videos[3]);  // withdrawn during the load
  incremental.Remove(4, videos[3]);
  EXPECT_EQ(bulk.Insert(2, videos[0], 1.0, true).code(), absl::StatusCode::kInvalidArgument);  // a duplicate still is
  ASSERT_TRUE(bulk.FinishBulk().ok());
  EXPECT_EQ(bulk.videos(), incremental.videos());
  EXPECT_EQ(bulk.frames(), incremental.frames());
  EXPECT_EQ(bulk.frames(), 8u + 11 + (14 - 1) + 20 + 23);  // video 4 (17 frames) removed; video 3 has one below 50
  for (size_t k = 0; k < videos.size(); ++k) {
    const Frames query = Copy(videos[k], 0, videos[k].size(), 5, rng);
    const std::vector<VideoMatch> a = incremental.Query(query, 1.0, VideoMatchRule{});
    const std::vector<VideoMatch> b = bulk.Query(query, 1.0, VideoMatchRule{});
    EXPECT_EQ(Ids(b), Ids(a)) << k;
    EXPECT_EQ(Ids(b), k == 3 ? std::vector<uint64_t>{} : std::vector<uint64_t>{k + 1}) << k;
    if (!a.empty() && !b.empty()) {
      EXPECT_EQ(b[0].verdict.target_frames, a[0].verdict.target_frames);
      EXPECT_EQ(b[0].verdict.target_matched, a[0].verdict.target_matched);
    }
  }
  // After the load, inserts and removals are incremental again.
  const Frames late = RandomVideo(10, rng);
  ASSERT_TRUE(bulk.Insert(50, late, 1.0).ok());
  EXPECT_EQ(Ids(bulk.Query(Copy(late, 0, 10, 2, rng), 1.0, VideoMatchRule{})), std::vector<uint64_t>{50});
  bulk.Remove(1, videos[0]);
  EXPECT_TRUE(bulk.Query(Copy(videos[0], 0, videos[0].size(), 2, rng), 1.0, VideoMatchRule{}).empty());

  // A bulk load is for an empty index: after an ordinary insert, FinishBulk refuses.
  VideoIndex mixed;
  ASSERT_TRUE(mixed.Insert(1, videos[0], 1.0).ok());
  ASSERT_TRUE(mixed.Insert(2, videos[1], 1.0, true).ok());
  EXPECT_EQ(mixed.FinishBulk().code(), absl::StatusCode::kFailedPrecondition);
  // Nothing pending: FinishBulk has nothing to do.
  VideoIndex idle;
  EXPECT_TRUE(idle.FinishBulk().ok());
}

// --- Memory ------------------------------------------------------------------------------------------------------

TEST(VideoIndexTest, MemoryBytesGrowsWithFrames) {
  std::mt19937_64 rng(14);
  VideoIndex index;
  const size_t empty = index.MemoryBytes();
  ASSERT_TRUE(index.Insert(1, RandomVideo(100, rng), 1.0).ok());
  const size_t hundred = index.MemoryBytes();
  EXPECT_GT(hundred, empty);
  ASSERT_TRUE(index.Insert(2, RandomVideo(1000, rng), 1.0).ok());
  const size_t more = index.MemoryBytes();
  // Each indexed frame holds at least its 32-byte hash and its 4-byte timestamp.
  EXPECT_GE(more - hundred, 1000u * 36) << hundred << " -> " << more;
  EXPECT_GE(more - empty, 1100u * 36);
}

}  // namespace
}  // namespace hashbank
