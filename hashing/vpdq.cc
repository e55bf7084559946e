#include "hashing/vpdq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hashing/image_decoder.h"

namespace hashbank {
namespace {

// The dihedral transform that is a left-right mirror (tests/hashing/vpdq_test checks it against a mirrored
// video).
constexpr Dihedral kMirrorDihedral = Dihedral::kFlipY;  // the reference names it for its axis

}  // namespace

absl::StatusOr<VideoHashes> VideoHasher::Hash(std::span<const uint8_t> file, const VideoDecodeOptions& options,
                                              const std::function<void(double, double)>& progress,
                                              const VideoQueryVariants& variants, const KeyframeOptions& keyframes) {
  VideoHashes out;
  out.seconds_per_frame = options.seconds_per_frame;
  // Keyframe candidates: (sampled frame index, luma), every `stride`-th sampled frame (KeyframeOptions).
  struct Candidate {
    size_t index = 0;
    double timestamp = 0;
    int width = 0, height = 0;
    GreyImage grey;
  };
  std::vector<Candidate> kept;
  size_t stride = 1, sampled = 0;
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
    out.frames.push_back({r.hash, r.quality, f.number, t, Hash256{}, r.hash, false});
    if (variants.mirrored) {
      const PdqDihedralResult d = pdq_.HashDihedral(pixels, f.width, f.height, 3);
      out.frames.back().mirrored = d.hashes[static_cast<size_t>(kMirrorDihedral)];
    }
    ContentBox box;
    if (variants.strip_borders && FindContentBox(pixels, f.width, f.height, 3 * f.width, &box)) {
      inner_.resize(static_cast<size_t>(3 * box.width) * static_cast<size_t>(box.height));
      for (int y = 0; y < box.height; ++y) {
        std::copy_n(pixels + (static_cast<size_t>(box.y + y) * static_cast<size_t>(f.width) + static_cast<size_t>(box.x)) * 3,
                    3 * box.width, inner_.data() + static_cast<size_t>(y) * static_cast<size_t>(3 * box.width));
      }
      out.frames.back().unbordered = pdq_.Hash(inner_.data(), box.width, box.height, 3).hash;
      out.frames.back().bordered = true;
    }
    if (keyframes.count > 0 && sampled % stride == 0) {
      Candidate& c = kept.emplace_back();
      c.index = sampled;
      c.timestamp = t;
      c.width = f.width;
      c.height = f.height;
      GreyFromRgb(pixels, f.width, f.height, 3 * f.width, kLocalFeatureSide, &c.grey);
      if (kept.size() > static_cast<size_t>(keyframes.count)) {
        stride *= 2;
        std::erase_if(kept, [stride](const Candidate& x) { return x.index % stride != 0; });
      }
    }
    ++sampled;
    if (progress) progress(t, info.duration_seconds);
    return absl::OkStatus();
  };
  if (absl::Status s = DecodeVideo(file, limits_, options, sink, &out.info); !s.ok()) return s;
  for (const Candidate& c : kept) {
    VideoKeyframe& k = out.keyframes.emplace_back();
    k.timestamp = c.timestamp;
    k.width = c.width;
    k.height = c.height;
    k.features = keyframes.mirrored ? ExtractLocalFeaturesAndMirrored(c.grey, keyframes.features, &k.mirrored)
                                    : ExtractLocalFeatures(c.grey, keyframes.features);
  }
  out.exact = ComputeExactHashes(file);
  return out;
}

bool FindContentBox(const uint8_t* rgb, int width, int height, int stride, ContentBox* box) {
  constexpr int kDark = 40, kSpread = 24;
  auto luma = [&](int x, int y) {
    const uint8_t* p = rgb + static_cast<size_t>(y) * static_cast<size_t>(stride) + 3 * static_cast<size_t>(x);
    return (77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8;
  };
  // Whether pixels (x0..x1) x (y0..y1), a row or a column, are a bar.
  auto bar = [&](int x0, int y0, int x1, int y1) {
    int lo = 255, hi = 0;
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const int l = luma(x, y);
        lo = std::min(lo, l);
        hi = std::max(hi, l);
      }
    }
    return hi < kDark && hi - lo <= kSpread;
  };
  int top = 0, bottom = height - 1;
  while (top < height / 2 && bar(0, top, width - 1, top)) ++top;
  while (bottom > height / 2 && bar(0, bottom, width - 1, bottom)) --bottom;
  int left = 0, right = width - 1;
  while (left < width / 2 && bar(left, top, left, bottom)) ++left;
  while (right > width / 2 && bar(right, top, right, bottom)) --right;
  const int w = right - left + 1, h = bottom - top + 1;
  const bool some = (width - w) * 25 >= width || (height - h) * 25 >= height;  // bars of at least 4 % of a side
  if (!some || 2 * w < width || 2 * h < height || w < 5 || h < 5) return false;
  *box = ContentBox{left, top, w, h};
  return true;
}

std::vector<std::pair<std::string, double>> BankableKeyframes(const VideoHashes& h) {
  std::vector<std::pair<std::string, double>> out;
  for (const VideoKeyframe& k : h.keyframes) {
    if (std::optional<std::string> fp = BankableRobust(k.features, k.width, k.height)) {
      out.emplace_back(std::move(*fp), k.timestamp);
    }
  }
  return out;
}

double VideoHashes::FrameInterval() const {
  if (info.frame_rate <= 0) return 1.0;
  return std::max(1.0, std::floor(seconds_per_frame * info.frame_rate)) / info.frame_rate;
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
    int quality = -1;
    uint64_t number = 0;
    double ts = -1;
    absl::StatusOr<Hash256> pdq = parts.size() == 4 ? Hash256::FromHex(std::string_view(parts[2].data(), parts[2].size())) : absl::InvalidArgumentError("");
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &number) || !absl::SimpleAtoi(parts[1], &quality) ||
        quality < 0 || quality > 100 || !pdq.ok() || !absl::SimpleAtod(parts[3], &ts) || !(ts >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("vpdq line ", line_no, ": expected frame_number,quality(0-100),pdq(64 hex),timestamp(seconds)"));
    }
    frames.push_back({*pdq, quality, number, ts, Hash256{}, *pdq, false});
  }
  return frames;
}

}  // namespace hashbank
