// Local features for edit-robust matching: oriented FAST corners with Harris ranking over a 6-level pyramid
// and a 256-bit rotated-BRIEF descriptor each (the shape of ORB), computed in integer arithmetic only so that
// every machine, and the WebAssembly build, gives the same bytes for the same image.
//
// Why our own and not OpenCV's ORB: the hashing module must compile to WebAssembly with the project's own
// code (issue #13: a victim hashes on her device, bit-identical to the node), and OpenCV's ORB uses floating
// point (Gaussian blur, atan2, bilinear resize in float) whose last bits differ across builds. docs/matching.md
// gives the recipe, its parameters and what was measured.
//
// Input: a GreyImage (image_decoder.h), normally the decoder's luma at long side kLocalFeatureSide.
// Coordinates are normalised: 0..4095 spans the long side of the input, so features of the same image at two
// resolutions agree.
//
// Pure functions; thread-safe (the sampling pattern is a constant table built once, thread-safely).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hashing/image_decoder.h"

namespace hashbank {

// The long side at which local features are extracted (the decoder's grey image).
inline constexpr int kLocalFeatureSide = 512;
// Coordinates run 0 .. kLocalCoordRange - 1 along the input's long side.
inline constexpr int kLocalCoordRange = 4096;

struct LocalFeature {
  std::array<uint64_t, 4> descriptor{};  // bit i = test i; bit k is bit (k % 64) of limb k / 64
  uint16_t x = 0, y = 0;                 // in 1/4096 of the long side
  int64_t score = 0;                     // Harris response (ranking only; not stored)
  uint8_t level = 0;                     // pyramid level (not stored)
};

// Up to `max_features` features, strongest first within each pyramid level's quota, spread over the image.
// Images too small for a descriptor patch (short side under 52 pixels) give none.
std::vector<LocalFeature> ExtractLocalFeatures(const GreyImage& image, int max_features);

// ExtractLocalFeatures, and in `mirrored` the features of the image flipped left to right (queries also look
// for mirrored copies: BRIEF is not mirror-symmetric), from one corner detection: the flipped image's features
// at full resolution (as ExtractLocalFeatures(MirrorImage(image)) gives them, but for two equal neighbouring
// Harris responses), and at the smaller pyramid levels those of this image's levels flipped (the downscale's
// sampling phase differs by under a pixel). About the cost of one extraction instead of two.
std::vector<LocalFeature> ExtractLocalFeaturesAndMirrored(const GreyImage& image, int max_features,
                                                          std::vector<LocalFeature>* mirrored);

// The image flipped left to right.
GreyImage MirrorImage(const GreyImage& image);

}  // namespace hashbank
