// The query-side variants of a video's frames (VideoQueryVariants): the mirror image's PDQ and the PDQ of the
// content inside black bars (FindContentBox), checked against clips that really are mirrored or letterboxed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hashing/vpdq.h"
#include "tests/support/video_clips.h"

namespace hashbank {
namespace {

using testing::VideoClips;

// A w x h RGB frame of noise-like texture (x*y pattern), with `bars` rows of black at top and bottom and
// `side` columns at left and right.
std::vector<uint8_t> Frame(int w, int h, int bars, int side, uint8_t bar_level = 0) {
  std::vector<uint8_t> f(static_cast<size_t>(3 * w * h));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool bar = y < bars || y >= h - bars || x < side || x >= w - side;
      const uint8_t v = bar ? bar_level : static_cast<uint8_t>(60 + (x * 7 + y * 13 + x * y) % 180);
      for (int c = 0; c < 3; ++c) f[static_cast<size_t>(3 * (y * w + x) + c)] = v;
    }
  }
  return f;
}

TEST(FindContentBox, LetterboxBarsAreCutOffExactly) {
  const std::vector<uint8_t> f = Frame(320, 240, 30, 0);
  ContentBox box;
  ASSERT_TRUE(FindContentBox(f.data(), 320, 240, 3 * 320, &box));
  EXPECT_EQ(box.x, 0);
  EXPECT_EQ(box.y, 30);
  EXPECT_EQ(box.width, 320);
  EXPECT_EQ(box.height, 180);
}

TEST(FindContentBox, PillarboxBarsAreCutOffExactly) {
  const std::vector<uint8_t> f = Frame(640, 360, 0, 80, 16);  // studio-range black (luma 16)
  ContentBox box;
  ASSERT_TRUE(FindContentBox(f.data(), 640, 360, 3 * 640, &box));
  EXPECT_EQ(box.x, 80);
  EXPECT_EQ(box.width, 480);
  EXPECT_EQ(box.y, 0);
  EXPECT_EQ(box.height, 360);
}

TEST(FindContentBox, NoBarsThinBarsGreyBarsAndDarkFramesAreLeftAlone) {
  ContentBox box;
  const std::vector<uint8_t> none = Frame(320, 240, 0, 0);
  EXPECT_FALSE(FindContentBox(none.data(), 320, 240, 3 * 320, &box));
  const std::vector<uint8_t> thin = Frame(320, 240, 4, 0);  // 8 of 240 rows: under 4 % of the height
  EXPECT_FALSE(FindContentBox(thin.data(), 320, 240, 3 * 320, &box));
  const std::vector<uint8_t> grey = Frame(320, 240, 30, 0, 128);  // mid-grey bands are content, not bars
  EXPECT_FALSE(FindContentBox(grey.data(), 320, 240, 3 * 320, &box));
  const std::vector<uint8_t> dark(3 * 320 * 240, 5);  // an all-dark frame has no content box
  EXPECT_FALSE(FindContentBox(dark.data(), 320, 240, 3 * 320, &box));
}

absl::StatusOr<VideoHashes> HashClip(const std::string& bytes, const VideoQueryVariants& variants) {
  VideoHasher hasher{VideoLimits{}};
  return hasher.Hash({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                     VideoDecodeOptions{.seconds_per_frame = 1}, {}, variants);
}

TEST(VideoQueryVariants, TheMirroredHashOfAMirroredClipIsTheOriginalsHash) {
  const std::string& original = VideoClips::Get().Banked();
  const std::string& mirrored = VideoClips::Get().Mirrored();
  ASSERT_FALSE(original.empty());
  ASSERT_FALSE(mirrored.empty());
  absl::StatusOr<VideoHashes> a = HashClip(original, {});
  absl::StatusOr<VideoHashes> b = HashClip(mirrored, {.mirrored = true});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->frames.size(), b->frames.size());
  int close = 0, direct_far = 0;
  for (size_t i = 0; i < a->frames.size(); ++i) {
    if (HammingDistance(a->frames[i].pdq, b->frames[i].mirrored) <= 31) ++close;  // re-encoding moves a few bits
    if (HammingDistance(a->frames[i].pdq, b->frames[i].pdq) > 31) ++direct_far;  // and the unmirrored hash is far
  }
  EXPECT_EQ(close, static_cast<int>(a->frames.size()));
  EXPECT_EQ(direct_far, static_cast<int>(a->frames.size()));
}

TEST(VideoQueryVariants, TheContentOfALetterboxedClipHashesLikeTheOriginal) {
  const std::string& original = VideoClips::Get().Banked();
  // The banked clip (320x240) scaled to 320x180 and padded back to 320x240 with black bars, then re-encoded.
  const std::string& boxed = VideoClips::Get().Make(
      "letterbox.mp4", "-i '" + VideoClips::Get().Path("banked.mp4") + "'" +
                           " -vf scale=320:180,pad=320:240:0:30 -c:v libx264 -pix_fmt yuv420p -an");
  ASSERT_FALSE(original.empty());
  ASSERT_FALSE(boxed.empty());
  absl::StatusOr<VideoHashes> a = HashClip(original, {});
  absl::StatusOr<VideoHashes> b = HashClip(boxed, {.strip_borders = true});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->frames.size(), b->frames.size());
  int bordered = 0, close = 0, direct_close = 0;
  for (size_t i = 0; i < a->frames.size(); ++i) {
    bordered += b->frames[i].bordered ? 1 : 0;
    if (HammingDistance(a->frames[i].pdq, b->frames[i].unbordered) <= 31) ++close;
    if (HammingDistance(a->frames[i].pdq, b->frames[i].pdq) <= 31) ++direct_close;
  }
  EXPECT_EQ(bordered, static_cast<int>(a->frames.size()));
  EXPECT_GE(close, static_cast<int>(a->frames.size()) - 1);  // a squeeze to 3/4 height, within PDQ's tolerance
  EXPECT_LT(direct_close, close);  // the bars are what kept the frames apart
}

}  // namespace
}  // namespace hashbank
