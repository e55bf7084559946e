#include "hashing/vpdq.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hashbank {
namespace {

// The dihedral transform that is a left-right mirror (tests/hashing/vpdq_test checks it against a mirrored
// video).
constexpr Dihedral kMirrorDihedral = Dihedral::kFlipX;

}  // namespace

absl::StatusOr<VideoHashes> VideoHasher::Hash(std::span<const uint8_t> file, const VideoDecodeOptions& options,
                                              const std::function<void(double, double)>& progress, bool mirrored) {
  VideoHashes out;
  out.seconds_per_frame = options.seconds_per_frame;
  const FrameSink sink = [&](const RgbFrame& f, const VideoInfo& info) -> absl::Status {
    if (f.width < 5 || f.height < 5) {
      return absl::InvalidArgumentError(absl::StrCat("video: frames of ", f.width, "x", f.height, " are too small to hash"));
    }
    // PdqHasher reads packed rows; the decoder's rows may be padded.
    const uint8_t* pixels = f.pixels;
    if (f.stride != 3 * f.width) {
      packed_.resize(static_cast<size_t>(3 * f.width) * static_cast<size_t>(f.height));
      for (int y = 0; y < f.height; ++y) {
        std::copy_n(f.pixels + static_cast<size_t>(y) * static_cast<size_t>(f.stride), 3 * f.width,
                    packed_.data() + static_cast<size_t>(y) * static_cast<size_t>(3 * f.width));
      }
      pixels = packed_.data();
    }
    // The reference's pdqHash256FromFloatLuma: the plain path (a 64x64 frame skips the filter).
    const PdqResult r = pdq_.Hash(pixels, f.width, f.height, 3);
    const double t = static_cast<double>(f.number) / info.frame_rate;
    out.frames.push_back({r.hash, r.quality, f.number, t, Hash256{}});
    if (mirrored) {
      const PdqDihedralResult d = pdq_.HashDihedral(pixels, f.width, f.height, 3);
      out.frames.back().mirrored = d.hashes[static_cast<size_t>(kMirrorDihedral)];
    }
    if (progress) progress(t, info.duration_seconds);
    return absl::OkStatus();
  };
  if (absl::Status s = DecodeVideo(file, limits_, options, sink, &out.info); !s.ok()) return s;
  out.exact = ComputeExactHashes(file);
  return out;
}

std::string FormatVpdqText(std::span<const VpdqFrame> frames) {
  std::string out;
  out.reserve(frames.size() * 80);
  char ts[48];
  for (const VpdqFrame& f : frames) {
    std::snprintf(ts, sizeof(ts), "%.3f", f.timestamp);
    absl::StrAppend(&out, f.frame_number, ",", f.quality, ",", f.pdq.ToHex(), ",", ts, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<VpdqFrame>> ParseVpdqText(std::string_view text) {
  std::vector<VpdqFrame> frames;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::vector<absl::string_view> parts = absl::StrSplit(line, ',');
    VpdqFrame f;
    int quality = -1;
    uint64_t number = 0;
    double ts = -1;
    absl::StatusOr<Hash256> pdq = parts.size() == 4 ? Hash256::FromHex(std::string_view(parts[2].data(), parts[2].size())) : absl::InvalidArgumentError("");
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &number) || !absl::SimpleAtoi(parts[1], &quality) ||
        quality < 0 || quality > 100 || !pdq.ok() || !absl::SimpleAtod(parts[3], &ts) || !(ts >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("vpdq line ", line_no, ": expected frame_number,quality(0-100),pdq(64 hex),timestamp(seconds)"));
    }
    frames.push_back({*pdq, quality, number, ts, Hash256{}});
  }
  return frames;
}

}  // namespace hashbank
