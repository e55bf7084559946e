// The robust fingerprint: the stored form of an image's local features (local_features.h), a signal type of
// its own ("robust") beside PDQ. Format version 1, all integers unsigned:
//
//   byte 0      version (1)
//   byte 1      n, the number of features (1..255)
//   byte 2      aspect: round(255 x short side / long side), 0 if unknown
//   byte 3      flags: bit 0 set when the image is taller than wide; other bits 0
//   n times     x, y (one byte each: the coordinate in 1/256 of the image's long side), then the 256-bit
//               descriptor as 32 bytes, bit k = bit (k % 8) of byte k / 8
//
// so 4 + 34 n bytes. Coordinates are kept coarse on purpose (docs/threat-model.md): 1/256 of the long side is
// enough for geometric verification and reveals less of the image's layout than full resolution.
//
// Pure functions; thread-safe. DecodeRobust returns InvalidArgument naming what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hashing/local_features.h"

namespace hashbank {

inline constexpr uint8_t kRobustFormatVersion = 1;
// Features kept per banked image, and extracted from a query image (each orientation).
inline constexpr int kRobustBankFeatures = 64;
inline constexpr int kRobustQueryFeatures = 1000;
inline constexpr size_t kRobustFeatureBytes = 34;
inline constexpr size_t kRobustMaxFeatures = 255;
// A bankable fingerprint has at least kMinRobustFeatures features (fewer can never reach the verification's
// inliers) and at most kMaxRobustFeatures (what is extracted: more would reveal more of the image than
// docs/threat-model.md describes and make each verification against it slower, quadratically).
inline constexpr size_t kMinRobustFeatures = 10;
inline constexpr size_t kMaxRobustFeatures = static_cast<size_t>(kRobustBankFeatures);
inline constexpr size_t kRobustHeaderBytes = 4;
inline constexpr size_t kRobustMaxBytes = kRobustHeaderBytes + kRobustFeatureBytes * kRobustMaxFeatures;

// A decoded fingerprint: its features and the image's extent in feature coordinates (1/4096 of the long side;
// the long side is 4096, the short side from the aspect byte; both 4096 when the aspect is unknown).
struct RobustFingerprint {
  std::vector<LocalFeature> features;
  int extent_x = kLocalCoordRange, extent_y = kLocalCoordRange;
  uint8_t aspect = 0;     // the header's aspect byte (0: unknown)
  bool portrait = false;  // the header's flag
};

// Encodes up to 255 features in the given order, coordinates quantised to 1/256 of the long side.
// InvalidArgument if `features` is empty or longer than 255.
absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features);
// The same with the image's aspect ratio (width and height of the image the features came from, > 0).
absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features, int width, int height);
absl::StatusOr<RobustFingerprint> DecodeRobustFingerprint(std::string_view bytes);
// Re-encodes a decoded fingerprint (its features in the given order, its aspect byte and flag unchanged).
absl::StatusOr<std::string> EncodeRobustFingerprint(const RobustFingerprint& fingerprint);

// The fingerprint to bank for an image's features (ImageHashes::features at kRobustBankFeatures), or nullopt
// when there are fewer than kMinRobustFeatures (flat or tiny images).
std::optional<std::string> BankableRobust(std::span<const LocalFeature> features, int width, int height);

// Decodes; coordinates come back at the centre of their 1/256 cell (in 1/4096 units), score and level 0.
absl::StatusOr<std::vector<LocalFeature>> DecodeRobust(std::string_view bytes);

}  // namespace hashbank
