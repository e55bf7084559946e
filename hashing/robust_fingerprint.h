// The robust fingerprint: the stored form of an image's local features (local_features.h), a signal type of
// its own ("robust") beside PDQ. Format version 1, all integers unsigned:
//
//   byte 0      version (1)
//   byte 1      n, the number of features (1..255)
//   n times     x, y (one byte each: the coordinate in 1/256 of the image's long side), then the 256-bit
//               descriptor as 32 bytes, bit k = bit (k % 8) of byte k / 8
//
// so 2 + 34 n bytes. Coordinates are kept coarse on purpose (docs/threat-model.md): 1/256 of the long side is
// enough for geometric verification and reveals less of the image's layout than full resolution.
//
// Pure functions; thread-safe. DecodeRobust returns InvalidArgument naming what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
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
inline constexpr size_t kRobustMaxBytes = 2 + kRobustFeatureBytes * kRobustMaxFeatures;

// Encodes up to 255 features in the given order, coordinates quantised to 1/256 of the long side.
// InvalidArgument if `features` is empty or longer than 255.
absl::StatusOr<std::string> EncodeRobust(std::span<const LocalFeature> features);

// Decodes; coordinates come back at the centre of their 1/256 cell (in 1/4096 units), score and level 0.
absl::StatusOr<std::vector<LocalFeature>> DecodeRobust(std::string_view bytes);

}  // namespace hashbank
