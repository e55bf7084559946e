#include "tests/support/video_clips.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace hashbank::testing {
namespace {

constexpr char kH264[] = " -c:v libx264 -pix_fmt yuv420p";
constexpr char kTestSrc2[] = "-f lavfi -i testsrc2=size=320x240:rate=30";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

VideoClips& VideoClips::Get() {
  static VideoClips clips;
  return clips;
}

VideoClips::VideoClips() : dir_("hashbank-clips") {}

std::string VideoClips::Path(const std::string& name) const { return dir_.File(name); }

const std::string& VideoClips::Make(const std::string& name, const std::string& args) {
  auto it = made_.find(name);
  if (it != made_.end()) return it->second;
  const std::string command = "ffmpeg -nostdin -hide_banner -v error -y " + args + " '" + Path(name) + "'";
  std::string bytes;
  if (std::system(command.c_str()) == 0) {
    bytes = ReadAll(Path(name));
    if (bytes.empty()) ADD_FAILURE() << "ffmpeg wrote nothing: " << command;
  } else {
    ADD_FAILURE() << "ffmpeg failed: " << command;
  }
  return made_.emplace(name, std::move(bytes)).first->second;
}

const std::string& VideoClips::Banked() {
  return Make("banked.mp4", std::string(kTestSrc2) + " -t 12" + kH264);
}

const std::string& VideoClips::Trim() {
  Banked();
  // Seeking before -i while re-encoding is frame-exact: the output starts at the banked clip's 3 s.
  return Make("trim.mp4", "-ss 3 -i '" + Path("banked.mp4") + "' -t 6" + kH264);
}

const std::string& VideoClips::Compilation() {
  Banked();
  const std::string before = Path("compilation-before.mp4"), after = Path("compilation-after.mp4");
  Make("compilation-before.mp4", "-f lavfi -i mandelbrot=size=320x240:rate=30 -t 6" + std::string(kH264));
  // Another part of the Mandelbrot set, zooming in (the game of life would do too, but its noise makes
  // megabytes).
  Make("compilation-after.mp4",
       "-f lavfi -i mandelbrot=size=320x240:rate=30:start_x=-0.75:start_y=0.1:start_scale=0.3:end_scale=0.01:"
       "end_pts=180:outer=normalized_iteration_count -t 6" +
           std::string(kH264));
  return Make("compilation.mp4", "-i '" + before + "' -i '" + Path("banked.mp4") + "' -i '" + after +
                                     "' -filter_complex '[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]' -map '[v]'" + kH264);
}

const std::string& VideoClips::HalfScale() {
  Banked();
  return Make("half.mp4", "-i '" + Path("banked.mp4") + "' -vf scale=160:120" + kH264);
}

const std::string& VideoClips::Mirrored() {
  Banked();
  return Make("mirrored.mp4", "-i '" + Path("banked.mp4") + "' -vf hflip" + kH264);
}

const std::string& VideoClips::Cropped() {
  Banked();
  return Make("cropped.mp4", "-i '" + Path("banked.mp4") + "' -vf crop=272:204:40:28" + kH264);
}

const std::string& VideoClips::Letterboxed() {
  Banked();
  return Make("letterboxed.mp4", "-i '" + Path("banked.mp4") + "' -vf scale=320:180,pad=320:240:0:30:black" + kH264);
}

const std::string& VideoClips::Unrelated() {
  return Make("unrelated.mp4", "-f lavfi -i cellauto=size=320x240:rate=30:rule=110:seed=3 -t 8" + std::string(kH264));
}

const std::string& VideoClips::FlatBlack() {
  return Make("black.mp4", "-f lavfi -i color=black:size=320x240:rate=30 -t 3" + std::string(kH264));
}

const std::string& VideoClips::Ffv1Mkv() {
  return Make("ffv1.mkv", std::string(kTestSrc2) + " -t 2 -c:v ffv1");
}

}  // namespace hashbank::testing
