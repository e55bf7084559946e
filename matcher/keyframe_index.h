// KeyframeIndex: the keyframes of banked videos — a few frames of each, spread over it, each a robust
// fingerprint (salted local features, hashing/robust_fingerprint.h) — and the rule by which a query video's
// keyframes make a banked video match. Keyframes catch what every frame's PDQ misses: crops, overlays,
// mirrored crops (docs/matching.md, "Video").
//
// The rule: a query keyframe verifies a banked keyframe as an image query does (RobustIndex: voting, then
// geometric verification). A banked video matches when at least two of its keyframes are verified, by at
// least two different query keyframes (one of each if it has a single keyframe): a single similar frame —
// a logo, one shared shot — does not make a video match (a video with one bankable keyframe excepted).
//
// The rule does not use the keyframes' times: two banked keyframes of one shared scene (a title card over two
// keyframes' span, a mostly static video) can still make a match.
//
// Ownership: keyframes are held in their stored encoding in one RobustIndex, under dense keyframe ids of
// their own; `owner_` maps each id to its video's id. Thread-safety: all methods may be called concurrently;
// `mu_` guards the id maps (taken before the RobustIndex's own lock, never the other way). Errors: Insert
// refuses a video already present (AlreadyExists), more than kMaxKeyframes keyframes, or one that is malformed
// or has fewer than kMinRobustFeatures or more than kMaxRobustFeatures features (InvalidArgument, naming it;
// every keyframe is checked first, so nothing of the video is kept then).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "hashing/local_features.h"
#include "hashing/vpdq.h"
#include "matcher/robust_index.h"

namespace hashbank {

// One keyframe of a query video, its local features salted.
struct VideoKeyframeQuery {
  std::vector<LocalFeature> direct, mirrored;
  double timestamp = 0;
};

class KeyframeIndex {
 public:
  static constexpr size_t kMaxKeyframes = kMaxVideoKeyframes;

  struct Hit {
    uint64_t video = 0;
    RobustIndex::Hit best;  // the verified pair with the most inliers
    int keyframes = 0;      // banked keyframes verified
    int queries = 0;        // query keyframes that verified one
  };

  // A video's keyframes (stored encodings). `bulk` as RobustIndex (FinishBulk before queries).
  absl::Status Insert(uint64_t video, std::span<const std::string> encoded, bool bulk = false) ABSL_LOCKS_EXCLUDED(mu_);
  void FinishBulk();
  // Forgets a video's keyframes; no effect for an unknown video.
  void Remove(uint64_t video) ABSL_LOCKS_EXCLUDED(mu_);

  // The banked videos the rule matches, most keyframes first.
  std::vector<Hit> Query(std::span<const VideoKeyframeQuery> salted) const ABSL_LOCKS_EXCLUDED(mu_);

  size_t videos() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t keyframes() const { return index_.size(); }
  size_t MemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  RobustIndex index_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> owner_ ABSL_GUARDED_BY(mu_);  // keyframe id -> video
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, uint32_t>> of_ ABSL_GUARDED_BY(mu_);  // video -> (first id, count)
};

}  // namespace hashbank
