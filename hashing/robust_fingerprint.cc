#include "hashing/robust_fingerprint.h"

#include "absl/strings/str_cat.h"

namespace hashbank {

absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features) {
  if (features.empty()) return absl::InvalidArgumentError("a robust fingerprint needs at least one feature");
  if (features.size() > kRobustMaxFeatures) {
    return absl::InvalidArgumentError(
        absl::StrCat("a robust fingerprint holds at most ", kRobustMaxFeatures, " features"));
  }
  std::string out;
  out.reserve(2 + kRobustFeatureBytes * features.size());
  out.push_back(static_cast<char>(kRobustFormatVersion));
  out.push_back(static_cast<char>(features.size()));
  for (const LocalFeature& f : features) {
    out.push_back(static_cast<char>(f.x >> 4));
    out.push_back(static_cast<char>(f.y >> 4));
    for (size_t byte = 0; byte < 32; ++byte) {
      out.push_back(static_cast<char>((f.descriptor[byte / 8] >> (8 * (byte % 8))) & 0xFF));
    }
  }
  return out;
}

absl::StatusOr<std::vector<LocalFeature>> DecodeRobust(std::string_view bytes) {
  if (bytes.size() < 2) return absl::InvalidArgumentError("robust fingerprint too short");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != kRobustFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("robust fingerprint format ", p[0], " is not supported (",
                                                   kRobustFormatVersion, " is)"));
  }
  const size_t n = p[1];
  if (n == 0) return absl::InvalidArgumentError("robust fingerprint has no features");
  if (bytes.size() != 2 + kRobustFeatureBytes * n) {
    return absl::InvalidArgumentError(absl::StrCat("robust fingerprint of ", n, " features must be ",
                                                   2 + kRobustFeatureBytes * n, " bytes, not ", bytes.size()));
  }
  std::vector<LocalFeature> out(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* f = p + 2 + kRobustFeatureBytes * i;
    out[i].x = static_cast<uint16_t>((f[0] << 4) | 8);
    out[i].y = static_cast<uint16_t>((f[1] << 4) | 8);
    for (size_t byte = 0; byte < 32; ++byte) {
      out[i].descriptor[byte / 8] |= static_cast<uint64_t>(f[2 + byte]) << (8 * (byte % 8));
    }
  }
  return out;
}

}  // namespace hashbank
