#include "hashing/robust_fingerprint.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hashbank {

namespace {

absl::StatusOr<std::string> Encode(std::span<const LocalFeature> features, int aspect, bool portrait) {
  if (features.empty()) return absl::InvalidArgumentError("a robust fingerprint needs at least one feature");
  if (features.size() > kRobustMaxFeatures) {
    return absl::InvalidArgumentError(
        absl::StrCat("a robust fingerprint holds at most ", kRobustMaxFeatures, " features"));
  }
  std::string out;
  out.reserve(kRobustHeaderBytes + kRobustFeatureBytes * features.size());
  out.push_back(static_cast<char>(kRobustFormatVersion));
  out.push_back(static_cast<char>(features.size()));
  out.push_back(static_cast<char>(aspect));
  out.push_back(static_cast<char>(aspect != 0 && portrait ? 1 : 0));
  for (const LocalFeature& f : features) {
    out.push_back(static_cast<char>(f.x >> 4));
    out.push_back(static_cast<char>(f.y >> 4));
    for (size_t byte = 0; byte < 32; ++byte) {
      out.push_back(static_cast<char>((f.descriptor[byte / 8] >> (8 * (byte % 8))) & 0xFF));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features) {
  return Encode(features, 0, false);
}

absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features, int width, int height) {
  int aspect = 0;
  if (width > 0 && height > 0) {
    const int64_t lo = std::min(width, height), hi = std::max(width, height);
    aspect = static_cast<int>(std::max<int64_t>(1, (255 * lo + hi / 2) / hi));
  }
  return Encode(features, aspect, height > width);
}

std::optional<std::string> BankableRobust(std::span<const LocalFeature> features, int width, int height) {
  if (features.size() < kMinRobustFeatures) return std::nullopt;
  const size_t n = std::min(features.size(), kMaxRobustFeatures);
  absl::StatusOr<std::string> encoded = EncodeRobust(features.first(n), width, height);
  if (!encoded.ok()) return std::nullopt;  // unreachable: 10..64 features always encode
  return *std::move(encoded);
}

absl::StatusOr<std::string> EncodeRobustFingerprint(const RobustFingerprint& fingerprint) {
  return Encode(fingerprint.features, fingerprint.aspect, fingerprint.portrait);
}

absl::StatusOr<std::vector<LocalFeature>> DecodeRobust(std::string_view bytes) {
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(bytes);
  if (!fp.ok()) return fp.status();
  return std::move(fp->features);
}

absl::StatusOr<RobustFingerprint> DecodeRobustFingerprint(std::string_view bytes) {
  if (bytes.size() < kRobustHeaderBytes) return absl::InvalidArgumentError("robust fingerprint too short");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != kRobustFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("robust fingerprint format ", p[0], " is not supported (",
                                                   kRobustFormatVersion, " is)"));
  }
  const size_t n = p[1];
  if (n == 0) return absl::InvalidArgumentError("robust fingerprint has no features");
  if (bytes.size() != kRobustHeaderBytes + kRobustFeatureBytes * n) {
    return absl::InvalidArgumentError(absl::StrCat("robust fingerprint of ", n, " features must be ",
                                                   kRobustHeaderBytes + kRobustFeatureBytes * n, " bytes, not ",
                                                   bytes.size()));
  }
  const int aspect = p[2];
  if (p[3] > 1 || (aspect == 0 && p[3] != 0)) {
    return absl::InvalidArgumentError("robust fingerprint has unknown flags");
  }
  RobustFingerprint fp;
  fp.aspect = static_cast<uint8_t>(aspect);
  fp.portrait = (p[3] & 1) != 0;
  if (aspect != 0) {
    const int short_side = (kLocalCoordRange * aspect + 127) / 255;
    (p[3] & 1 ? fp.extent_x : fp.extent_y) = short_side;
  }
  std::vector<LocalFeature>& out = fp.features;
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* f = p + kRobustHeaderBytes + kRobustFeatureBytes * i;
    out[i].x = static_cast<uint16_t>((f[0] << 4) | 8);
    out[i].y = static_cast<uint16_t>((f[1] << 4) | 8);
    for (size_t byte = 0; byte < 32; ++byte) {
      out[i].descriptor[byte / 8] |= static_cast<uint64_t>(f[2 + byte]) << (8 * (byte % 8));
    }
  }
  return fp;
}

}  // namespace hashbank
