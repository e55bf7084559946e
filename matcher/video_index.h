// VideoIndex: banked videos (vPDQ frame lists) and the match of a query video against all of them.
//
// A video is a list of frames (PDQ hash, quality, timestamp). Frames of quality >= the index's min_quality
// (the node's quality floor) go into one PdqIndex (exact radius search, the same structure as image PDQ)
// under the id (video << 16 | frame). A query probes that index once per query frame; every video hit by some
// frame is then judged from the index's hits, which are exactly the pairs the brute force of the reference
// (facebook/ThreatExchange vpdq matchTwoHashBrute) would find:
//   query_percent  = query frames (quality >= rule.min_quality) within max_distance of some frame of the video
//   target_percent = the video's frames within max_distance of some query frame
//   range_percent  = the video's matched frames among its frames timed from its first match to its last
// and matched if any of the three reaches its threshold — query: an excerpt of a banked video; target: a
// banked video inside a longer compilation; range: an excerpt whatever the query's sampling rate and phase —
// AND matched_seconds (the video's matched frames x its frame interval, at most the query's matched span) is
// at least min(rule.min_matched_seconds, half the banked video's length), so that a few similar frames
// (a title card, a logo) never make a match. The reference compares with distance < tolerance; here <=.
//
// Memory: the PdqIndex entry of each indexed frame plus 4 bytes (its timestamp) per frame and 40 bytes per
// video (MemoryBytes counts all). The frame hashes themselves are not kept here: Remove takes them back.
//
// Thread-safety: every method is safe to call concurrently (mu_ guards the video table; the PdqIndex has its
// own lock). Errors: InvalidArgument for a video over kMaxVideoFrames frames or an id already present.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "hashing/hash256.h"
#include "matcher/pdq_index.h"

namespace hashbank {

// Frames a banked video may have (ids carry the frame index in 16 bits).
inline constexpr size_t kMaxVideoFrames = 65535;

struct VideoFrame {
  Hash256 pdq;
  int quality = 0;       // 0..100
  double timestamp = 0;  // seconds from the start
};

// One way of looking at a query video: its frames as hashed, mirrored, or with black bars cut off.
struct VideoQueryPass {
  std::vector<VideoFrame> frames;
  bool mirrored = false;
  bool bars_removed = false;
};

struct VideoMatchRule {
  int max_distance = 31;             // a frame pair matches within this PDQ distance
  int min_quality = 50;              // frames below are neither indexed nor queried
  double query_match_percent = 80;   // of the query's frames found in the video (an excerpt)
  double target_match_percent = 80;  // of the video's frames found in the query (a compilation)
  double range_match_percent = 80;   // of the video's frames inside the matched time range (an excerpt)
  double min_matched_seconds = 5;    // matched media time on both sides (see above)
};

struct VideoVerdict {
  size_t query_frames = 0, query_matched = 0;    // frames of quality >= min_quality, and of those matched
  size_t target_frames = 0, target_matched = 0;
  size_t range_frames = 0;                       // the video's frames from target_start to target_end
  double query_percent = 0, target_percent = 0, range_percent = 0;
  double matched_seconds = 0;                    // banked matched frames x interval, at most the query's matched span
  double query_start = 0, query_end = 0;         // first and last matched timestamp, query side
  double target_start = 0, target_end = 0;       // and banked side
};

struct VideoMatch {
  uint64_t id = 0;
  VideoVerdict verdict;
};

class VideoIndex {
 public:
  // Adds a banked video. `frame_interval` is the media time one frame stands for (its sampling interval).
  // With `bulk` (the first load at start), its frames wait for FinishBulk, which loads them all at once into
  // the compact layout (PdqIndex::BulkLoad); no query may run in between.
  absl::Status Insert(uint64_t id, std::span<const VideoFrame> frames, double frame_interval, bool bulk = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends a bulk load (FailedPrecondition if frames were inserted otherwise before it).
  absl::Status FinishBulk() ABSL_LOCKS_EXCLUDED(mu_);
  // Removes it; `frames` are the same frames it was inserted with. Unknown ids are ignored.
  void Remove(uint64_t id, std::span<const VideoFrame> frames) ABSL_LOCKS_EXCLUDED(mu_);
  // Every banked video that matches `query` by `rule`, best first (by the largest of the three percentages).
  std::vector<VideoMatch> Query(std::span<const VideoFrame> query, double query_interval,
                                const VideoMatchRule& rule) const ABSL_LOCKS_EXCLUDED(mu_);
  // The minimum frame quality indexed (fixed at construction: frames below are not stored).
  explicit VideoIndex(int min_quality = 50) : min_quality_(min_quality) {}

  size_t videos() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t frames() const;  // indexed frames
  size_t MemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Video {
    std::vector<float> timestamps;  // of the indexed frames, by frame index (NaN: not indexed)
    uint32_t indexed = 0;           // frames of quality >= min_quality_
    float interval = 1;
    float seconds = 0;              // the banked length (BankedSeconds)
  };
  const int min_quality_;
  PdqIndex pdq_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Video> videos_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<Hash256, uint64_t>> pending_ ABSL_GUARDED_BY(mu_);  // a bulk load's postings
};

// The reference's percentages and the matched time for one pair of frame lists, by brute force (what the
// index computes; used by tests and by callers holding both lists).
VideoVerdict CompareVideos(std::span<const VideoFrame> query, double query_interval, std::span<const VideoFrame> target,
                           double target_interval, const VideoMatchRule& rule);
// The length a banked video counts for in the matched-time rule: its frames' time span (first to last
// timestamp plus one interval, all frames) or its indexed frames x interval, the larger. A mostly flat video
// with one good frame is long, so one matching frame never makes half of it.
double BankedSeconds(std::span<const VideoFrame> frames, double frame_interval, int min_quality);
// Whether a verdict is a match by `rule` (target_seconds: the banked video's BankedSeconds).
bool IsVideoMatch(const VideoVerdict& v, double target_seconds, const VideoMatchRule& rule);

}  // namespace hashbank
