// Tests of the in-process video decoder (hashing/video_decoder.h) and the vPDQ text format (hashing/vpdq.h).
//
// Inputs are made at test time by the ffmpeg command-line tool (scripts/setup.sh installs it) into one temp
// directory for the whole binary, each once: small clips (at most 320x240, at most 4 s) whose frame counts,
// rates, sizes and durations are known from how they were made (testsrc at 30 fps for 3 s = 90 frames),
// never from what the decoder returns. The sample videos of tests/data/vpdq-reference serve as real-world
// files to cut short.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <ostream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "hashing/video_decoder.h"
#include "hashing/vpdq.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using testing::DataPath;
using testing::ReadFileBytes;
using testing::TempDir;
using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------------------
// Clips made by ffmpeg, once per test binary.

class Clips {
 public:
  static Clips& Get() {
    static Clips clips;  // destroyed at exit, after the last test: its directory goes with it
    return clips;
  }

  // The bytes of `name`, made by `ffmpeg <args> <dir>/<name>` the first time (or, when `piped`, written to
  // a pipe: `ffmpeg <args> - > <dir>/<name>`, so that the muxer cannot seek back to fill in a header). An
  // empty vector (and a test failure) if ffmpeg fails.
  const std::vector<uint8_t>& Make(const std::string& name, const std::string& args, bool piped = false) {
    auto it = made_.find(name);
    if (it != made_.end()) return it->second;
    const std::string path = Path(name);
    const std::string command = absl::StrCat("ffmpeg -nostdin -hide_banner -v error -y ", args,
                                             piped ? " - > '" : " '", path, "'");
    std::vector<uint8_t> bytes;
    if (std::system(command.c_str()) == 0) {
      bytes = ReadFileBytes(path);
    } else {
      ADD_FAILURE() << "ffmpeg failed: " << command;
    }
    return made_.emplace(name, std::move(bytes)).first->second;
  }

  std::string Path(const std::string& name) const { return dir_.File(name); }
  std::string Write(const std::string& name, std::string_view content) const { return dir_.Write(name, content); }

 private:
  Clips() : dir_("hashbank-video") {}
  TempDir dir_;
  std::map<std::string, std::vector<uint8_t>> made_;
};

// testsrc (a moving pattern) at `size` and `rate` fps for `seconds`: rate * seconds frames.
std::string TestSrc(const std::string& size, int seconds, int rate = 30) {
  return absl::StrCat("-f lavfi -i testsrc=size=", size, ":rate=", rate, " -t ", seconds);
}
constexpr const char* kH264 = " -c:v libx264 -pix_fmt yuv420p";

// 320x240, 30 fps, 3 s: 90 frames, H.264 in MP4 with the index (moov) at the end (ffmpeg's default).
const std::vector<uint8_t>& Mp4_320x240_3s() { return Clips::Get().Make("base.mp4", TestSrc("320x240", 3) + kH264); }
// The same with the index at the start.
const std::vector<uint8_t>& FaststartMp4() {
  return Clips::Get().Make("faststart.mp4", TestSrc("320x240", 3) + kH264 + " -movflags +faststart");
}

// ---------------------------------------------------------------------------------------------------------
// Decoding into a record of what the sink saw.

struct Decoded {
  absl::Status status;
  VideoInfo info;
  std::vector<uint64_t> numbers;           // frame numbers the sink received, in order
  std::vector<std::pair<int, int>> sizes;  // their width x height
  bool buffers_ok = true;                  // every frame had pixels and stride >= 3 * width
  std::vector<uint64_t> digests;           // FNV-1a of each frame's packed RGB rows
};

Decoded Decode(std::span<const uint8_t> file, const VideoLimits& limits = {}, const VideoDecodeOptions& options = {}) {
  Decoded d;
  d.status = DecodeVideo(
      file, limits, options,
      [&](const RgbFrame& f, const VideoInfo&) -> absl::Status {
        d.numbers.push_back(f.number);
        d.sizes.emplace_back(f.width, f.height);
        if (f.pixels == nullptr || f.stride < 3 * f.width) {
          d.buffers_ok = false;
          return absl::OkStatus();
        }
        uint64_t h = 1469598103934665603ull;
        for (int y = 0; y < f.height; ++y) {
          const uint8_t* row = f.pixels + static_cast<size_t>(y) * static_cast<size_t>(f.stride);
          for (int x = 0; x < 3 * f.width; ++x) h = (h ^ row[x]) * 1099511628211ull;
        }
        d.digests.push_back(h);
        return absl::OkStatus();
      },
      &d.info);
  return d;
}

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

bool Mentions(const absl::Status& s, std::string_view what) {
  const absl::string_view message = s.message();  // absl's own string_view on this platform
  return message.find(absl::string_view(what.data(), what.size())) != absl::string_view::npos;
}

// 0, step, 2 * step, ... below `end`.
std::vector<uint64_t> Multiples(uint64_t step, uint64_t end) {
  std::vector<uint64_t> out;
  for (uint64_t n = 0; n < end; n += step) out.push_back(n);
  return out;
}

std::vector<uint8_t> Head(const std::vector<uint8_t>& v, size_t n) {
  return std::vector<uint8_t>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(n, v.size())));
}

// ---------------------------------------------------------------------------------------------------------
// What is not a video, or not one this decoder accepts.

TEST(VideoDecoderErrors, AnEmptyFileIsInvalidArgumentAndSaysSo) {
  const Decoded d = Decode({});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << d.status;
  EXPECT_TRUE(Mentions(d.status, "empty")) << d.status;
  EXPECT_TRUE(d.numbers.empty());
}

// FFmpeg's probe accepts the best-scoring demuxer, however low its score: some random buffers score 1 as MP3.
// That is no recognition; random bytes are unrecognised data, not a container this node does not accept.
TEST(VideoDecoderErrors, RandomBytesAreNotARecognisedContainer) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (size_t size : {size_t{16}, size_t{4096}, size_t{200'000}}) {
      std::mt19937 rng(seed);
      std::vector<uint8_t> bytes(size);
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
      const Decoded d = Decode(bytes);
      EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << "seed " << seed << " size " << size << ": " << d.status;
      EXPECT_TRUE(Mentions(d.status, "not a recognised video container")) << d.status;
      EXPECT_TRUE(d.numbers.empty());
    }
  }
}

// FFmpeg recognises images (as its image-pipe demuxers) but they are no container this decoder accepts: the
// error names the image format FFmpeg saw.
TEST(VideoDecoderErrors, PngAndJpegImagesAreRefusedNamingWhatTheyAre) {
  const std::vector<uint8_t>& png = Clips::Get().Make("image.png", "-f lavfi -i testsrc=size=64x48 -frames:v 1");
  const std::vector<uint8_t>& jpeg = Clips::Get().Make("image.jpg", "-f lavfi -i testsrc=size=64x48 -frames:v 1");
  ASSERT_FALSE(png.empty());
  ASSERT_FALSE(jpeg.empty());
  const Decoded p = Decode(png);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kUnimplemented) << p.status;
  EXPECT_TRUE(Mentions(p.status, "png")) << p.status;
  EXPECT_TRUE(p.numbers.empty());
  const Decoded j = Decode(jpeg);
  EXPECT_EQ(j.status.code(), absl::StatusCode::kUnimplemented) << j.status;
  EXPECT_TRUE(Mentions(j.status, "jpeg")) << j.status;
  EXPECT_TRUE(j.numbers.empty());
}

TEST(VideoDecoderErrors, ATextFileIsNotAVideo) {
  std::string text;
  for (int i = 0; i < 50; ++i) absl::StrAppend(&text, "Line ", i, ": this is a plain text file, not a video.\n");
  const Decoded d = Decode(Bytes(text));
  EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << d.status;
  EXPECT_TRUE(Mentions(d.status, "not a recognised video container")) << d.status;
  EXPECT_TRUE(d.numbers.empty());
}

// A playlist or concat script that names a real, decodable file on this machine: had the decoder followed
// it, decoding would succeed. It must be refused without opening anything.
TEST(VideoDecoderErrors, PlaylistsAndConcatScriptsAreNotFollowed) {
  const std::vector<uint8_t>& ts = Clips::Get().Make("segment.ts", TestSrc("160x120", 1) + kH264);
  ASSERT_FALSE(ts.empty());
  ASSERT_TRUE(Decode(ts).status.ok()) << "the referenced segment itself decodes";
  const std::string segment = Clips::Get().Path("segment.ts");

  const std::string hls = absl::StrCat("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n",
                                       "#EXTINF:1.0,\n", segment, "\n#EXTINF:1.0,\nfile://", segment,
                                       "\n#EXT-X-ENDLIST\n");
  const Decoded h = Decode(Bytes(hls));
  EXPECT_EQ(h.status.code(), absl::StatusCode::kUnimplemented) << h.status;
  EXPECT_TRUE(Mentions(h.status, "hls")) << h.status;
  EXPECT_TRUE(h.numbers.empty());
  EXPECT_EQ(h.info.decoded_frames, 0u);

  const std::string concat = absl::StrCat("ffconcat version 1.0\nfile '", segment, "'\nfile '", segment, "'\n");
  const Decoded c = Decode(Bytes(concat));
  EXPECT_EQ(c.status.code(), absl::StatusCode::kUnimplemented) << c.status;
  EXPECT_TRUE(Mentions(c.status, "concat")) << c.status;
  EXPECT_TRUE(c.numbers.empty());
  EXPECT_EQ(c.info.decoded_frames, 0u);
}

TEST(VideoDecoderErrors, AudioOnlyFilesHaveNoVideoStream) {
  const std::string sine = "-f lavfi -i sine=frequency=440:duration=1";
  for (const auto& [name, args] : {std::pair<std::string, std::string>{"sine.m4a", sine + " -c:a aac"},
                                   {"sine.ogg", sine + " -c:a libvorbis"}}) {
    const std::vector<uint8_t>& audio = Clips::Get().Make(name, args);
    ASSERT_FALSE(audio.empty()) << name;
    const Decoded d = Decode(audio);
    EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << name << ": " << d.status;
    EXPECT_TRUE(Mentions(d.status, "no video stream")) << name << ": " << d.status;
    EXPECT_TRUE(d.numbers.empty());
  }
}

TEST(VideoDecoderErrors, AnUnacceptedCodecIsUnimplementedAndNamed) {
  const std::vector<uint8_t>& ffv1 = Clips::Get().Make("ffv1.mkv", TestSrc("64x48", 1) + " -c:v ffv1");
  ASSERT_FALSE(ffv1.empty());
  const Decoded d = Decode(ffv1);
  EXPECT_EQ(d.status.code(), absl::StatusCode::kUnimplemented) << d.status;
  EXPECT_TRUE(Mentions(d.status, "\"ffv1\"")) << d.status;
  EXPECT_TRUE(d.numbers.empty());
}

// An MP4 cut short: an error (InvalidArgument, naming the truncation), never a crash and never success with
// fewer frames than the file held.
void ExpectTruncatedIsRefused(const std::vector<uint8_t>& whole, double fraction, const std::string& what) {
  const size_t cut = static_cast<size_t>(static_cast<double>(whole.size()) * fraction);
  const std::vector<uint8_t> part = Head(whole, cut);
  const Decoded d = Decode(part);
  EXPECT_FALSE(d.status.ok()) << what << " cut at " << fraction * 100 << "% (" << cut << " of " << whole.size()
                              << " bytes) decoded OK with " << d.info.decoded_frames << " frames";
  EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << what << " at " << fraction << ": " << d.status;
}

TEST(VideoDecoderErrors, TruncatedMp4sAreRefused) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  ASSERT_TRUE(Decode(mp4).status.ok());
  for (double f : {0.1, 0.5, 0.9}) ExpectTruncatedIsRefused(mp4, f, "generated mp4");
  // A real-world file (the index at the end or at the start, whichever it has).
  const std::vector<uint8_t> sample = ReadFileBytes(DataPath("vpdq-reference/videos/test-padded-dimensions.mp4"));
  for (double f : {0.1, 0.5, 0.9}) ExpectTruncatedIsRefused(sample, f, "test-padded-dimensions.mp4");
}

TEST(VideoDecoderErrors, AFaststartMp4CutInTheMiddleIsRefused) {
  const std::vector<uint8_t>& mp4 = FaststartMp4();
  ASSERT_FALSE(mp4.empty());
  const Decoded whole = Decode(mp4);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.info.decoded_frames, 90u);
  ExpectTruncatedIsRefused(mp4, 0.5, "faststart mp4");
  const Decoded d = Decode(Head(mp4, mp4.size() / 2));
  EXPECT_TRUE(Mentions(d.status, "truncated")) << d.status;
}

// With the index first, every cut after it leaves a file that opens: each must still be refused, up to the
// very last bytes (one frame's worth of data missing is still a truncated file).
TEST(VideoDecoderErrors, AFaststartMp4CutAnywhereIsRefused) {
  const std::vector<uint8_t>& mp4 = FaststartMp4();
  ASSERT_FALSE(mp4.empty());
  for (int percent = 5; percent <= 95; percent += 5) ExpectTruncatedIsRefused(mp4, percent / 100.0, "faststart mp4");
  for (double f : {0.97, 0.98, 0.99}) ExpectTruncatedIsRefused(mp4, f, "faststart mp4");
  for (size_t missing : {size_t{1}, size_t{10}, size_t{100}}) {
    const Decoded d = Decode(Head(mp4, mp4.size() - missing));
    EXPECT_FALSE(d.status.ok()) << "the last " << missing << " bytes missing: decoded OK with " << d.info.decoded_frames
                                << " frames";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Limits.

TEST(VideoDecoderLimits, MaxFileBytesIsCheckedBeforeAnythingIsParsed) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded over = Decode(mp4, VideoLimits{.max_file_bytes = mp4.size() - 1});
  EXPECT_EQ(over.status.code(), absl::StatusCode::kResourceExhausted) << over.status;
  EXPECT_TRUE(Mentions(over.status, absl::StrCat(mp4.size()))) << over.status;
  EXPECT_TRUE(Mentions(over.status, absl::StrCat(mp4.size() - 1))) << over.status;
  EXPECT_TRUE(over.numbers.empty());
  EXPECT_EQ(over.info.container, "") << "nothing is parsed";
  EXPECT_EQ(over.info.decoded_frames, 0u);

  // Even random bytes (which would be InvalidArgument) are refused for their size first.
  const std::vector<uint8_t> junk(1000, 0xAB);
  EXPECT_EQ(Decode(junk, VideoLimits{.max_file_bytes = 999}).status.code(), absl::StatusCode::kResourceExhausted);

  const Decoded exact = Decode(mp4, VideoLimits{.max_file_bytes = mp4.size()});
  EXPECT_TRUE(exact.status.ok()) << exact.status;
}

TEST(VideoDecoderLimits, WidthHeightAndPixelsAreBounded) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const VideoLimits tight[] = {VideoLimits{.max_width = 100}, VideoLimits{.max_width = 319}, VideoLimits{.max_height = 239},
                               VideoLimits{.max_pixels = 320 * 240 - 1}};
  for (const VideoLimits& limits : tight) {
    const Decoded d = Decode(mp4, limits);
    EXPECT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted) << d.status;
    EXPECT_TRUE(Mentions(d.status, "320x240")) << d.status;
    EXPECT_TRUE(d.numbers.empty()) << "refused before any frame reaches the sink";
    EXPECT_EQ(d.info.decoded_frames, 0u);
  }
  const Decoded exact = Decode(mp4, VideoLimits{.max_width = 320, .max_height = 240, .max_pixels = 320 * 240});
  EXPECT_TRUE(exact.status.ok()) << exact.status;
  EXPECT_EQ(exact.info.width, 320);
  EXPECT_EQ(exact.info.height, 240);
}

TEST(VideoDecoderLimits, DurationFromTheContainerIsBoundedBeforeDecoding) {
  const std::vector<uint8_t>& mp4 = Clips::Get().Make("4s.mp4", TestSrc("160x120", 4) + kH264);
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, VideoLimits{.max_duration_seconds = 2});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted) << d.status;
  EXPECT_TRUE(Mentions(d.status, "4.0 s")) << d.status;
  EXPECT_TRUE(d.numbers.empty());
  EXPECT_EQ(d.info.decoded_frames, 0u) << "the container says 4 s: nothing needs decoding to know";

  const Decoded ok = Decode(mp4, VideoLimits{.max_duration_seconds = 4.5});
  EXPECT_TRUE(ok.status.ok()) << ok.status;
  EXPECT_NEAR(ok.info.duration_seconds, 4.0, 0.05);
  EXPECT_EQ(ok.info.decoded_frames, 120u);
}

// Matroska written to a pipe has no duration in its header: the limit applies to frame timestamps as they
// are decoded, so decoding stops a little past 2 s of a 4 s video.
TEST(VideoDecoderLimits, DurationIsBoundedWhileDecodingWhenTheContainerDoesNotSay) {
  const std::vector<uint8_t>& mkv = Clips::Get().Make(
      "no-duration.mkv", "-f lavfi -i testsrc=size=160x120:rate=30:duration=4" + std::string(kH264) + " -f matroska",
      /*piped=*/true);
  ASSERT_FALSE(mkv.empty());
  const Decoded whole = Decode(mkv);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  EXPECT_EQ(whole.info.decoded_frames, 120u);
  EXPECT_NEAR(whole.info.duration_seconds, 119.0 / 30, 0.05) << "the last frame's timestamp";

  // Decoding every frame: frames 0..60 are within 2 s (60 / 30 = 2.0); frame 61 is over.
  const Decoded d = Decode(mkv, VideoLimits{.max_duration_seconds = 2}, VideoDecodeOptions{.decode_every_frame = true});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted) << d.status;
  EXPECT_EQ(d.info.decoded_frames, 62u);
  EXPECT_EQ(d.numbers, Multiples(30, 61));

  // By default (H.264 in Matroska, one frame a second) the timestamps are read before decoding: the last
  // frame's 3.97 s is refused before any frame is decoded.
  const Decoded early = Decode(mkv, VideoLimits{.max_duration_seconds = 2});
  EXPECT_EQ(early.status.code(), absl::StatusCode::kResourceExhausted) << early.status;
  EXPECT_TRUE(Mentions(early.status, "4.0 s long")) << early.status;
  EXPECT_EQ(early.info.decoded_frames, 0u);
  EXPECT_TRUE(early.numbers.empty());
}

// MPEG-TS timestamps start where the muxer chose (ffmpeg: 1.4 s), not at 0: a 3 s clip is 3 s long.
TEST(VideoDecoderLimits, DurationIsMeasuredFromTheStartOfTheStream) {
  const std::vector<uint8_t>& ts = Clips::Get().Make("3s.ts", TestSrc("160x120", 3) + kH264);
  ASSERT_FALSE(ts.empty());
  const Decoded d = Decode(ts, VideoLimits{.max_duration_seconds = 3.5});
  EXPECT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.info.decoded_frames, 90u);
  EXPECT_NEAR(d.info.duration_seconds, 3.0, 0.1);
}

TEST(VideoDecoderLimits, MaxFramesCountsDecodedFrames) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded over = Decode(mp4, VideoLimits{.max_frames = 89});
  EXPECT_EQ(over.status.code(), absl::StatusCode::kResourceExhausted) << over.status;
  EXPECT_TRUE(Mentions(over.status, "89")) << over.status;
  EXPECT_EQ(over.numbers, Multiples(30, 89)) << "frames before the limit were sampled as usual";

  const Decoded few = Decode(mp4, VideoLimits{.max_frames = 10});
  EXPECT_EQ(few.status.code(), absl::StatusCode::kResourceExhausted) << few.status;
  EXPECT_EQ(few.numbers, std::vector<uint64_t>{0});

  const Decoded exact = Decode(mp4, VideoLimits{.max_frames = 90});
  EXPECT_TRUE(exact.status.ok()) << exact.status;
  EXPECT_EQ(exact.info.decoded_frames, 90u);
}

TEST(VideoDecoderLimits, ZeroDecodeSecondsIsDeadlineExceeded) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, VideoLimits{.max_decode_seconds = 0});
  EXPECT_EQ(d.status.code(), absl::StatusCode::kDeadlineExceeded) << d.status;
  EXPECT_TRUE(d.numbers.empty());
}

// ---------------------------------------------------------------------------------------------------------
// Sampling and the frames handed over.

TEST(VideoDecoderSampling, OneFrameASecondAtThirtyFps) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 1.0});
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.numbers, (std::vector<uint64_t>{0, 30, 60}));
  EXPECT_EQ(d.info.decoded_frames, 90u);
  EXPECT_DOUBLE_EQ(d.info.frame_rate, 30.0);
  EXPECT_NEAR(d.info.duration_seconds, 3.0, 0.05);
  EXPECT_EQ(d.info.codec, "h264");
  EXPECT_NE(d.info.container.find("mp4"), std::string::npos) << d.info.container;
  EXPECT_EQ(d.info.width, 320);
  EXPECT_EQ(d.info.height, 240);
  for (const auto& size : d.sizes) EXPECT_EQ(size, (std::pair<int, int>{320, 240}));
  EXPECT_TRUE(d.buffers_ok);

  // The hasher's timestamps: frame number / frame rate.
  VideoHasher hasher{VideoLimits{}};
  absl::StatusOr<VideoHashes> h = hasher.Hash(mp4, VideoDecodeOptions{.seconds_per_frame = 1.0});
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->frames.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h->frames[i].frame_number, 30 * i);
    EXPECT_DOUBLE_EQ(h->frames[i].timestamp, static_cast<double>(i));
    EXPECT_GE(h->frames[i].quality, 50) << "testsrc is detailed";
  }
  EXPECT_NE(h->frames[0].pdq, h->frames[1].pdq) << "testsrc moves";
  EXPECT_EQ(FormatVpdqText(h->frames).substr(0, 2), "0,");
}

TEST(VideoDecoderSampling, ZeroSecondsPerFrameGivesEveryFrame) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0});
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.numbers, Multiples(1, 90));
}

TEST(VideoDecoderSampling, HalfASecondIsEveryFifteenthFrame) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0.5});
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.numbers, (std::vector<uint64_t>{0, 15, 30, 45, 60, 75}));
}

// A rate that is no whole number of frames: the step is int(seconds_per_frame * fps) (0.1 * 30 = 3.0000000000000004 -> 3;
// 0.11 * 30 = 3.3 -> 3), and a step under one frame is one frame.
TEST(VideoDecoderSampling, TheStepIsTruncatedAndAtLeastOne) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  EXPECT_EQ(Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0.11}).numbers, Multiples(3, 90));
  EXPECT_EQ(Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0.01}).numbers, Multiples(1, 90));
  EXPECT_EQ(Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 10}).numbers, std::vector<uint64_t>{0});
}

TEST(VideoDecoderSampling, DownsamplingConvertsToTheGivenSize) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const Decoded d = Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = 1.0, .downsample_width = 64, .downsample_height = 48});
  ASSERT_TRUE(d.status.ok()) << d.status;
  ASSERT_EQ(d.sizes.size(), 3u);
  for (const auto& size : d.sizes) EXPECT_EQ(size, (std::pair<int, int>{64, 48}));
  EXPECT_EQ(d.info.width, 320) << "info keeps the stream's size";
}

TEST(VideoDecoderSampling, InvalidOptionsAreInvalidArgument) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  const VideoDecodeOptions bad[] = {
      {.seconds_per_frame = -1},
      {.seconds_per_frame = -0.001},
      {.seconds_per_frame = 1, .downsample_width = 64, .downsample_height = 0},
      {.seconds_per_frame = 1, .downsample_width = 0, .downsample_height = 64},
      {.seconds_per_frame = 1, .downsample_width = -64, .downsample_height = -64},
      {.seconds_per_frame = 1, .downsample_width = 64, .downsample_height = -1},
  };
  for (const VideoDecodeOptions& o : bad) {
    const Decoded d = Decode(mp4, {}, o);
    EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument)
        << o.seconds_per_frame << " " << o.downsample_width << "x" << o.downsample_height << ": " << d.status;
    EXPECT_TRUE(d.numbers.empty());
  }
}

// A seconds_per_frame that is not a number (or infinite) has no frame step: refused, not cast to an integer.
TEST(VideoDecoderSampling, NonFiniteSecondsPerFrameIsInvalidArgument) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  for (double spf : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    const Decoded d = Decode(mp4, {}, VideoDecodeOptions{.seconds_per_frame = spf});
    EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << spf << ": " << d.status;
  }
}

// A solid colour survives YUV 4:2:0 and back within a few levels per channel, in R, G, B order.
TEST(VideoDecoderSampling, FramesArePackedRgbInTheRightOrder) {
  const std::vector<uint8_t>& mp4 =
      Clips::Get().Make("colour.mp4", "-f lavfi -i color=c=0xC83250:size=64x48:rate=10 -t 1" + std::string(kH264));
  ASSERT_FALSE(mp4.empty());
  int frames = 0, off = 0;
  const absl::Status s = DecodeVideo(
      mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0},
      [&](const RgbFrame& f, const VideoInfo&) -> absl::Status {
        ++frames;
        for (int y = 0; y < f.height; ++y) {
          const uint8_t* row = f.pixels + static_cast<ptrdiff_t>(y) * f.stride;
          for (int x = 0; x < f.width; ++x) {
            if (std::abs(row[3 * x] - 0xC8) > 6 || std::abs(row[3 * x + 1] - 0x32) > 6 || std::abs(row[3 * x + 2] - 0x50) > 6) {
              ++off;
            }
          }
        }
        return absl::OkStatus();
      },
      nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(frames, 10);
  EXPECT_EQ(off, 0);
}

TEST(VideoDecoderSampling, AnErrorFromTheSinkStopsDecodingAndIsReturned) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  int calls = 0;
  VideoInfo info;
  const absl::Status s = DecodeVideo(
      mp4, {}, VideoDecodeOptions{.seconds_per_frame = 0},
      [&](const RgbFrame&, const VideoInfo&) -> absl::Status {
        return ++calls == 5 ? absl::CancelledError("enough") : absl::OkStatus();
      },
      &info);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(s.message(), "enough");
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(info.decoded_frames, 5u);
}

// ---------------------------------------------------------------------------------------------------------
// Frames that are not sampled and that no frame refers to are not decoded (VideoDecodeOptions), and that
// changes nothing of what the sink sees: the same frame numbers and the same pixels as a decode of every
// frame, which is the independent oracle here (a decode of every frame never skips). Clips with B-frames
// (x264's and x265's defaults, x264 with 8 B-frames in a pyramid), an MP4 whose edit list drops its first
// frames (cut with -ss and -c copy), and one with a variable frame rate.

struct SkipCase {
  const char* file;
  const char* args;
  bool skips;  // whether frames can be skipped: H.264 or HEVC in MP4/MOV or Matroska
};

void PrintTo(const SkipCase& c, std::ostream* os) { *os << c.file; }

class VideoDecoderSkipping : public ::testing::TestWithParam<SkipCase> {};

TEST_P(VideoDecoderSkipping, SampledFramesAreThoseOfADecodeOfEveryFrame) {
  const SkipCase& c = GetParam();
  // The edit-list case cuts this one (each test may run in a process of its own).
  ASSERT_FALSE(Clips::Get().Make("skip-x264.mp4", absl::StrCat(TestSrc("320x240", 4), kH264)).empty());
  const std::vector<uint8_t>& file =
      Clips::Get().Make(c.file, absl::StrReplaceAll(c.args, {{"$SRC", TestSrc("320x240", 4)},
                                                             {"$DIR", Clips::Get().Path("")}}));
  ASSERT_FALSE(file.empty());
  for (const double seconds : {1.0, 0.5, 0.1}) {
    SCOPED_TRACE(seconds);
    const Decoded every = Decode(file, {}, VideoDecodeOptions{.seconds_per_frame = seconds, .decode_every_frame = true});
    const Decoded fast = Decode(file, {}, VideoDecodeOptions{.seconds_per_frame = seconds});
    ASSERT_TRUE(every.status.ok()) << every.status;
    ASSERT_TRUE(fast.status.ok()) << fast.status;
    ASSERT_GE(every.numbers.size(), 3u);
    EXPECT_EQ(fast.numbers, every.numbers);
    EXPECT_EQ(fast.digests, every.digests) << "the sampled frames' pixels";
    EXPECT_EQ(fast.info.decoded_frames, every.info.decoded_frames);
    EXPECT_NEAR(fast.info.duration_seconds, every.info.duration_seconds, 1e-9);
    EXPECT_EQ(every.info.skipped_frames, 0u);
    if (c.skips && static_cast<uint64_t>(seconds * fast.info.frame_rate) > 1) {  // not when every frame is sampled
      EXPECT_GT(fast.info.skipped_frames, 0u) << "B-frames nothing refers to were decoded anyway";
    } else {
      EXPECT_EQ(fast.info.skipped_frames, 0u);
    }
    EXPECT_LT(fast.info.skipped_frames, fast.info.decoded_frames - fast.numbers.size() + 1);
  }
  // And the sampled frames are those of the sampling of a decode of every frame at 0 s (every frame hashed).
  const Decoded all = Decode(file, {}, VideoDecodeOptions{.seconds_per_frame = 0});
  const Decoded fast = Decode(file, {}, VideoDecodeOptions{.seconds_per_frame = 1.0});
  ASSERT_TRUE(all.status.ok()) << all.status;
  ASSERT_TRUE(fast.status.ok()) << fast.status;
  const uint64_t step = static_cast<uint64_t>(fast.info.frame_rate);
  std::vector<uint64_t> numbers, digests;
  for (size_t i = 0; i < all.numbers.size(); ++i) {
    if (all.numbers[i] % step != 0) continue;
    numbers.push_back(all.numbers[i]);
    digests.push_back(all.digests[i]);
  }
  EXPECT_EQ(fast.numbers, numbers);
  EXPECT_EQ(fast.digests, digests);
}

INSTANTIATE_TEST_SUITE_P(
    Generated, VideoDecoderSkipping,
    ::testing::Values(
        SkipCase{"skip-x264.mp4", "(made above)", true},
        SkipCase{"skip-x264-b8.mkv", "$SRC -c:v libx264 -x264-params bframes=8:b-pyramid=normal -pix_fmt yuv420p",
                 true},
        SkipCase{"skip-x265.mp4", "$SRC -c:v libx265 -x265-params log-level=0 -pix_fmt yuv420p", true},
        SkipCase{"skip-x265.mkv", "$SRC -c:v libx265 -x265-params log-level=0 -pix_fmt yuv420p", true},
        SkipCase{"skip-editlist.mp4", "-ss 0.35 -i $DIRskip-x264.mp4 -c copy", true},
        SkipCase{"skip-vfr.mp4",
                 "$SRC -vf setpts='if(lt(N\\,40)\\,PTS\\,PTS*1.7)' -fps_mode vfr -c:v libx264 -pix_fmt yuv420p",
                 true},
        SkipCase{"skip-x264.ts", "$SRC -c:v libx264 -pix_fmt yuv420p", false},
        SkipCase{"skip-vp9.webm", "$SRC -c:v libvpx-vp9 -deadline realtime -cpu-used 8", false}),
    [](const ::testing::TestParamInfo<SkipCase>& param_info) {
      return absl::StrReplaceAll(param_info.param.file, {{".", "_"}, {"-", "_"}});
    });

// ---------------------------------------------------------------------------------------------------------
// Other containers and codecs: 3 s at 30 fps, one frame a second.

struct ContainerCase {
  const char* file;
  const char* args;
  const char* container;  // one of FFmpeg's names for the demuxer
  const char* codec;
};

void PrintTo(const ContainerCase& c, std::ostream* os) { *os << c.file; }

class VideoDecoderContainers : public ::testing::TestWithParam<ContainerCase> {};

TEST_P(VideoDecoderContainers, DecodeTheExpectedFrames) {
  const ContainerCase& c = GetParam();
  const std::vector<uint8_t>& file = Clips::Get().Make(c.file, TestSrc("160x120", 3) + " " + c.args);
  ASSERT_FALSE(file.empty());
  const Decoded d = Decode(file);
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.numbers, (std::vector<uint64_t>{0, 30, 60}));
  EXPECT_EQ(d.info.decoded_frames, 90u);
  EXPECT_DOUBLE_EQ(d.info.frame_rate, 30.0);
  EXPECT_EQ(d.info.codec, c.codec);
  EXPECT_NE(d.info.container.find(c.container), std::string::npos) << d.info.container;
  for (const auto& size : d.sizes) EXPECT_EQ(size, (std::pair<int, int>{160, 120}));
  EXPECT_TRUE(d.buffers_ok);
  EXPECT_TRUE(LooksLikeVideo(Head(file, 1024))) << c.file;
}

INSTANTIATE_TEST_SUITE_P(
    Generated, VideoDecoderContainers,
    ::testing::Values(
        ContainerCase{"vp9.webm", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8", "webm", "vp9"},
        ContainerCase{"vp8.webm", "-c:v libvpx -deadline realtime -cpu-used 8", "webm", "vp8"},
        ContainerCase{"h264.mkv", "-c:v libx264 -pix_fmt yuv420p", "matroska", "h264"},
        ContainerCase{"mpeg4.avi", "-c:v mpeg4", "avi", "mpeg4"},
        ContainerCase{"h264.ts", "-c:v libx264 -pix_fmt yuv420p", "mpegts", "h264"},
        ContainerCase{"flv1.flv", "-c:v flv", "flv", "flv1"},
        ContainerCase{"mpeg2.mpg", "-c:v mpeg2video", "mpeg", "mpeg2video"},
        ContainerCase{"theora.ogv", "-c:v libtheora", "ogg", "theora"},
        ContainerCase{"h264.mov", "-c:v libx264 -pix_fmt yuv420p", "mov", "h264"},
        ContainerCase{"mjpeg.avi", "-c:v mjpeg -pix_fmt yuvj420p", "avi", "mjpeg"}),
    [](const ::testing::TestParamInfo<ContainerCase>& param_info) {
      return absl::StrReplaceAll(param_info.param.file, {{".", "_"}});
    });

// Two H.264 streams of different sizes, one after the other in one transport stream: frames change size
// mid-stream. Every frame is converted to the stream's size; and the size limit applies to every frame.
TEST(VideoDecoderStreams, AFrameSizeChangeMidStreamIsHandled) {
  const std::vector<uint8_t>& small = Clips::Get().Make("small.ts", TestSrc("160x120", 1) + kH264);
  const std::vector<uint8_t>& large = Clips::Get().Make("large.ts", TestSrc("320x240", 1) + kH264);
  ASSERT_FALSE(small.empty());
  ASSERT_FALSE(large.empty());
  std::vector<uint8_t> both = small;
  both.insert(both.end(), large.begin(), large.end());

  const Decoded d = Decode(both, {}, VideoDecodeOptions{.seconds_per_frame = 0});
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_EQ(d.info.decoded_frames, 60u);
  EXPECT_EQ(d.numbers, Multiples(1, 60));
  EXPECT_EQ(d.info.width, 160);
  for (const auto& size : d.sizes) EXPECT_EQ(size, (std::pair<int, int>{160, 120}));
  EXPECT_TRUE(d.buffers_ok);

  // The stream header says 160x120; the second half's frames are 320x240.
  const Decoded limited = Decode(both, VideoLimits{.max_width = 200, .max_height = 200}, VideoDecodeOptions{.seconds_per_frame = 0});
  EXPECT_EQ(limited.status.code(), absl::StatusCode::kResourceExhausted) << limited.status;
  EXPECT_TRUE(Mentions(limited.status, "320x240")) << limited.status;
  EXPECT_EQ(limited.numbers, Multiples(1, 30)) << "the small frames went through before";
}

// ---------------------------------------------------------------------------------------------------------
// LooksLikeVideo.

TEST(LooksLikeVideo, TrueForTheHeadsOfAcceptedContainers) {
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  const std::vector<uint8_t>& faststart = FaststartMp4();
  ASSERT_FALSE(mp4.empty());
  ASSERT_FALSE(faststart.empty());
  EXPECT_TRUE(LooksLikeVideo(Head(mp4, 16)));
  EXPECT_TRUE(LooksLikeVideo(Head(faststart, 16)));
  for (const char* sample : {"doorknob-hd-no-bar", "pattern-sd-grey-bar", "test-padded-dimensions"}) {
    EXPECT_TRUE(LooksLikeVideo(Head(ReadFileBytes(DataPath(absl::StrCat("vpdq-reference/videos/", sample, ".mp4"))), 64)))
        << sample;
  }
  // Signatures by hand: each container's first bytes as its specification writes them.
  const std::string_view heads[] = {
      "\x00\x00\x00\x20" "ftypisom\x00\x00\x02\x00"sv,      // MP4
      "\x00\x00\x00\x14" "ftypqt  "sv,                      // QuickTime
      "\x00\x00\x00\x08" "wide\x00\x00\x10\x00" "mdat"sv,  // QuickTime without ftyp
      "\x1A\x45\xDF\xA3\x9F\x42\x86\x81"sv,                 // EBML: Matroska / WebM
      "RIFF\x10\x00\x00\x00" "AVI LIST"sv,                  // AVI
      "FLV\x01\x05\x00\x00\x00\x09"sv,                      // FLV
      "OggS\x00\x02\x00\x00"sv,                              // Ogg
      "\x00\x00\x01\xBA\x44\x00\x04\x00"sv,                 // MPEG-PS pack header
  };
  for (std::string_view h : heads) EXPECT_TRUE(LooksLikeVideo(Bytes(h))) << absl::CEscape(absl::string_view(h.data(), h.size()));
  std::string ts(564, '\xFF');  // three 188-byte transport packets
  ts[0] = ts[188] = ts[376] = 0x47;
  EXPECT_TRUE(LooksLikeVideo(Bytes(ts)));
  std::string m2ts(576, '\xFF');  // three 192-byte packets: a 4-byte time code, then the sync byte
  m2ts[4] = m2ts[196] = m2ts[388] = 0x47;
  EXPECT_TRUE(LooksLikeVideo(Bytes(m2ts)));
}

TEST(LooksLikeVideo, FalseForStillImagesThatShareAVideoContainersStructure) {
  // HEIF and AVIF photos are ISO BMFF files with an ftyp box; their major brand marks them as stills.
  for (std::string_view brand : {"heic"sv, "mif1"sv, "avif"sv}) {
    std::string head("\x00\x00\x00\x18" "ftyp", 8);
    head += brand;
    head += std::string(8, '\0');
    EXPECT_FALSE(LooksLikeVideo(Bytes(head))) << brand;
  }
  // A GIF starts with 'G' (0x47, the TS sync byte); one that also has it at 188 and 376 is still a GIF.
  std::string gif = "GIF89a" + std::string(600, '\0');
  gif[188] = gif[376] = 0x47;
  EXPECT_FALSE(LooksLikeVideo(Bytes(gif)));
}

TEST(LooksLikeVideo, FalseForImagesEmptyAndShortBuffers) {
  const std::vector<uint8_t>& png = Clips::Get().Make("image.png", "-f lavfi -i testsrc=size=64x48 -frames:v 1");
  const std::vector<uint8_t>& jpeg = Clips::Get().Make("image.jpg", "-f lavfi -i testsrc=size=64x48 -frames:v 1");
  ASSERT_FALSE(png.empty());
  ASSERT_FALSE(jpeg.empty());
  EXPECT_FALSE(LooksLikeVideo(png));
  EXPECT_FALSE(LooksLikeVideo(jpeg));
  EXPECT_FALSE(LooksLikeVideo({}));
  const std::vector<uint8_t>& mp4 = Mp4_320x240_3s();
  ASSERT_FALSE(mp4.empty());
  for (size_t n = 0; n < 8; ++n) EXPECT_FALSE(LooksLikeVideo(Head(mp4, n))) << n << " bytes of an mp4";
  EXPECT_FALSE(LooksLikeVideo(Bytes("\x1A\x45\xDF"sv)));
  EXPECT_FALSE(LooksLikeVideo(Bytes("RIFF\x10\x00\x00\x00" "AVI"sv)));  // 11 bytes: "AVI " incomplete
  EXPECT_FALSE(LooksLikeVideo(Bytes("RIFF\x24\x00\x00\x00" "WAVEfmt "sv)));  // RIFF, but audio
  EXPECT_FALSE(LooksLikeVideo(Bytes("FLV")));
  EXPECT_FALSE(LooksLikeVideo(Bytes("Ogg")));
  EXPECT_FALSE(LooksLikeVideo(Bytes("\x00\x00\x01"sv)));
  std::string one_packet(188, '\xFF');  // one transport packet: not enough to tell
  one_packet[0] = 0x47;
  EXPECT_FALSE(LooksLikeVideo(Bytes(one_packet)));
  EXPECT_FALSE(LooksLikeVideo(Bytes("#EXTM3U\n#EXT-X-VERSION:3\n")));
  EXPECT_FALSE(LooksLikeVideo(Bytes("hello, this is text and not a video at all\n")));
}

// ---------------------------------------------------------------------------------------------------------
// The reference's text format.

Hash256 HashFromHex(std::string_view hex) {
  absl::StatusOr<Hash256> h = Hash256::FromHex(hex);
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? *h : Hash256{};
}

VpdqFrame Frame(std::string_view hex, int quality, uint64_t number, double timestamp) {
  VpdqFrame f;
  f.pdq = HashFromHex(hex);
  f.quality = quality;
  f.frame_number = number;
  f.timestamp = timestamp;
  return f;
}

TEST(VpdqText, FormatWritesTheReferenceLines) {
  const std::vector<VpdqFrame> frames = {
      Frame("b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86", 100, 0, 0.0),
      Frame("0000000000000000000000000000000000000000000000000000000000000001", 7, 2, 2.0 / 30),
      Frame("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 0, 12345, 411.5),
  };
  EXPECT_EQ(FormatVpdqText(frames),
            "0,100,b2dc981be36c994787bc16811edcda81d20b855627b6bff86e8ba1050b44ff86,0.000\n"
            "2,7,0000000000000000000000000000000000000000000000000000000000000001,0.067\n"
            "12345,0,ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff,411.500\n");
  EXPECT_EQ(FormatVpdqText({}), "");
}

TEST(VpdqText, ParseAndFormatRoundTrip) {
  // The reference's own file: parsed and formatted again, byte for byte.
  const std::string reference = testing::ReadFileText(DataPath("vpdq-reference/hashes/pattern-sd-grey-bar.txt"));
  absl::StatusOr<std::vector<VpdqFrame>> parsed = ParseVpdqText(reference);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), 206u);  // one line per frame of a 206-frame video
  EXPECT_EQ(FormatVpdqText(*parsed), reference);

  // Frames of our own: everything but the timestamp's digits past the third decimal comes back.
  std::mt19937_64 rng(7);
  std::vector<VpdqFrame> frames;
  for (uint64_t i = 0; i < 40; ++i) {
    VpdqFrame f;
    for (uint64_t& limb : f.pdq.limbs) limb = rng();
    f.quality = static_cast<int>(rng() % 101);
    f.frame_number = i * 15;
    f.timestamp = static_cast<double>(f.frame_number) / 29.97;
    frames.push_back(f);
  }
  absl::StatusOr<std::vector<VpdqFrame>> back = ParseVpdqText(FormatVpdqText(frames));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ((*back)[i].pdq, frames[i].pdq);
    EXPECT_EQ((*back)[i].quality, frames[i].quality);
    EXPECT_EQ((*back)[i].frame_number, frames[i].frame_number);
    EXPECT_NEAR((*back)[i].timestamp, frames[i].timestamp, 0.0005);
  }
}

TEST(VpdqText, BlankLinesAndCarriageReturnsAreAccepted) {
  const std::string hex(64, 'a');
  absl::StatusOr<std::vector<VpdqFrame>> p =
      ParseVpdqText(absl::StrCat("\n0,50,", hex, ",0.000\r\n\r\n30,60,", hex, ",1.000\n\n"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[1].frame_number, 30u);
  EXPECT_EQ((*p)[1].quality, 60);
  EXPECT_DOUBLE_EQ((*p)[1].timestamp, 1.0);
  EXPECT_TRUE(ParseVpdqText("").ok());
  EXPECT_TRUE(ParseVpdqText("").value().empty());
}

TEST(VpdqText, MalformedLinesAreRefusedNamingTheLine) {
  const std::string hex(64, '0');
  const std::string good = absl::StrCat("0,100,", hex, ",0.000\n");
  const std::string bad_lines[] = {
      absl::StrCat("30,100,", hex),                       // three fields
      absl::StrCat("30,100,", hex, ",1.000,extra"),       // five fields
      absl::StrCat("30,101,", hex, ",1.000"),             // quality over 100
      absl::StrCat("30,-1,", hex, ",1.000"),              // quality under 0
      absl::StrCat("30,100,", hex.substr(1), ",1.000"),   // 63 hex digits
      absl::StrCat("30,100,", hex, "0,1.000"),            // 65 hex digits
      absl::StrCat("30,100,g", hex.substr(1), ",1.000"),  // not hex
      absl::StrCat("30,100,", hex, ",-1.000"),            // negative timestamp
      absl::StrCat("30,100,", hex, ",nan"),               // not a number
      absl::StrCat("30,100,", hex, ",one"),
      absl::StrCat("-30,100,", hex, ",1.000"),            // negative frame number
      absl::StrCat("x,100,", hex, ",1.000"),
      absl::StrCat(",100,", hex, ",1.000"),
      "garbage",
  };
  for (const std::string& bad : bad_lines) {
    // Line 4: two good lines and a blank one come first.
    absl::StatusOr<std::vector<VpdqFrame>> p = ParseVpdqText(absl::StrCat(good, good, "\n", bad, "\n", good));
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Mentions(p.status(), "line 4:")) << bad << ": " << p.status();
  }
}

}  // namespace
}  // namespace hashbank
