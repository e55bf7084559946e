// Geometric verification of the robust fingerprint: does a query image contain a banked image, up to a
// similarity transform (crop, scale, rotation, translation; mirrors through a mirrored query)?
//
// 1. Correspondences: for each banked feature, its nearest and second-nearest query descriptor (Hamming);
//    kept when the nearest is within max_distance and passes the ratio test (nearest < ratio x second), then
//    made one-to-one (each query feature serves its closest banked feature only).
// 2. A similarity transform from every pair of correspondences (exhaustive, so deterministic), scale within
//    [min_scale, max_scale]; the one with the most inliers (mapped banked point within tolerance of its query
//    point) wins, refitted once by least squares on its inliers.
// 3. A match needs at least min_inliers inliers whose convex hull covers at least min_hull of the hull of all
//    banked points: shared overlays (the same caption or logo on unrelated photos) give many inliers in one
//    small strip and are refused by this rule.
//
// Coordinates are in 1/4096 of each image's long side (local_features.h). Descriptors must be salted the same
// way on both sides (or both raw). Pure functions; thread-safe.
#pragma once

#include <span>

#include "hashing/local_features.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {

struct RobustParams {
  int max_distance = 64;      // of 256 bits
  int ratio_num = 4, ratio_den = 5;  // nearest * den < second * num
  double tolerance = 64;      // in 1/4096 of the query's long side (8 px at 512)
  double min_scale = 0.2, max_scale = 5.0;
  int min_inliers = 10;
  double min_hull = 0.10;     // inlier hull area / banked hull area
  double min_image_cover = 0.04;  // inlier hull area / banked image area
};

struct RobustVerdict {
  bool match = false;
  int inliers = 0;
  double hull = 0;            // inlier hull / banked hull
  double image_cover = 0;     // inlier hull / banked image area (the extent passed in)
  double scale = 0;           // query size / banked size of the same content
  double rotation_degrees = 0;
  int correspondences = 0;
};

// One orientation of the query (callers try the direct and the mirrored features and keep the better).
RobustVerdict VerifyRobust(std::span<const LocalFeature> banked, std::span<const LocalFeature> query,
                           const RobustParams& params = {});
// With the banked image's extent (robust_fingerprint.h), for the image-cover rule.
RobustVerdict VerifyRobust(const RobustFingerprint& banked, std::span<const LocalFeature> query,
                           const RobustParams& params = {});

}  // namespace hashbank
