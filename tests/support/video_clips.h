// VideoClips: small video files made at test time by the ffmpeg command-line tool (scripts/setup.sh installs
// it), for tests that send videos to a node (the video API and federation tests).
//
// Each clip is made once per test process into one temp directory (removed at exit) and returned as its
// bytes, ready for a request body. What a clip contains is known from how it was made — rate, duration, which
// part of which source — never from what the node computes of it, so tests derive their expectations (frame
// counts, matched ranges) from the recipes below.
//
// The clips (320x240, 30 fps, H.264 in MP4 unless said otherwise):
//   Banked()        testsrc2 (a moving pattern, every second different) for 12 s: 360 frames, 12 at 1 fps
//   Trim()          Banked() seconds [3, 9): its middle half, re-encoded, 6 s
//   Compilation()   6 s of mandelbrot + Banked() + 6 s of another mandelbrot zoom, concatenated: 24 s (about
//                   2 MB), Banked() at [6, 18)
//   HalfScale()     Banked() scaled to 160x120, re-encoded
//   Mirrored()      Banked() mirrored left to right (hflip), re-encoded
//   Letterboxed()   Banked() scaled to 320x180 inside black bars of 30 rows above and below (320x240)
//   Cropped()       Banked() cropped off-centre to 272x204 from (40, 28): 28 % of the area gone, re-encoded
//   Unrelated()     cellauto (rule 110), 8 s: nothing in common with the others
//   FlatBlack()     plain black, 3 s: every frame's PDQ quality is 0
//   Ffv1Mkv()       testsrc2 for 2 s in FFV1 (lossless) in Matroska: a codec the node does not decode
//
// Errors: a failed ffmpeg run fails the calling test (gtest ADD_FAILURE) and gives an empty string.
// Thread-compatible: call from the test's thread.
#pragma once

#include <map>
#include <string>

#include "tests/support/temp_dir.h"

namespace hashbank::testing {

class VideoClips {
 public:
  // The one instance of this process.
  static VideoClips& Get();

  // The bytes of `name`, made by `ffmpeg <args> <dir>/<name>` the first time.
  const std::string& Make(const std::string& name, const std::string& args);
  // The path of a clip in the temp directory (made or not).
  std::string Path(const std::string& name) const;

  const std::string& Banked();
  const std::string& Trim();
  const std::string& Compilation();
  const std::string& HalfScale();
  const std::string& Mirrored();
  const std::string& Letterboxed();
  const std::string& Cropped();
  const std::string& Unrelated();
  const std::string& FlatBlack();
  const std::string& Ffv1Mkv();

 private:
  VideoClips();
  TempDir dir_;  // removed at exit, after the last test
  std::map<std::string, std::string> made_;
};

}  // namespace hashbank::testing
