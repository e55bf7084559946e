#include "matcher/video_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

constexpr int kFrameBits = 16;
constexpr uint64_t kFrameMask = (uint64_t{1} << kFrameBits) - 1;

void SortUnique(std::vector<uint32_t>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

// Percentages and matched time from the counts (query_matched etc. already set).
void Finish(VideoVerdict* v, double query_interval, double target_interval) {
  v->query_percent = v->query_frames == 0 ? 0 : 100.0 * static_cast<double>(v->query_matched) / static_cast<double>(v->query_frames);
  v->target_percent =
      v->target_frames == 0 ? 0 : 100.0 * static_cast<double>(v->target_matched) / static_cast<double>(v->target_frames);
  v->range_percent =
      v->range_frames == 0 ? 0 : 100.0 * static_cast<double>(v->target_matched) / static_cast<double>(v->range_frames);
  // The banked video's matched time, no more than the query's matched span: a query sampled more densely
  // than the bank (or a static shot matching one banked frame many times) cannot add time.
  v->matched_seconds = v->query_matched == 0 ? 0
                                             : std::min(static_cast<double>(v->target_matched) * target_interval,
                                                        v->query_end - v->query_start + query_interval);
}

}  // namespace

double BankedSeconds(std::span<const VideoFrame> frames, double frame_interval, int min_quality) {
  if (frames.empty()) return 0;
  size_t indexed = 0;
  for (const VideoFrame& f : frames) indexed += f.quality >= min_quality ? 1 : 0;
  const double span = frames.back().timestamp - frames.front().timestamp + frame_interval;
  return std::max(span, static_cast<double>(indexed) * frame_interval);
}

bool IsVideoMatch(const VideoVerdict& v, double target_seconds, const VideoMatchRule& rule) {
  if (v.query_matched == 0 || v.target_matched == 0) return false;
  const bool share = v.query_percent >= rule.query_match_percent || v.target_percent >= rule.target_match_percent ||
                     v.range_percent >= rule.range_match_percent;
  const double required = std::min(rule.min_matched_seconds, 0.5 * target_seconds);
  return share && v.matched_seconds + 1e-9 >= required;
}

VideoVerdict CompareVideos(std::span<const VideoFrame> query, double query_interval, std::span<const VideoFrame> target,
                           double target_interval, const VideoMatchRule& rule) {
  VideoVerdict v;
  std::vector<const VideoFrame*> q, t;
  for (const VideoFrame& f : query) {
    if (f.quality >= rule.min_quality) q.push_back(&f);
  }
  for (const VideoFrame& f : target) {
    if (f.quality >= rule.min_quality) t.push_back(&f);
  }
  v.query_frames = q.size();
  v.target_frames = t.size();
  std::vector<bool> t_hit(t.size(), false);
  bool any = false;
  for (const VideoFrame* a : q) {
    bool hit = false;
    for (size_t j = 0; j < t.size(); ++j) {
      if (HammingDistance(a->pdq, t[j]->pdq) <= rule.max_distance) {
        hit = true;
        if (!t_hit[j]) {
          t_hit[j] = true;
          ++v.target_matched;
          if (!any || t[j]->timestamp < v.target_start) v.target_start = t[j]->timestamp;
          if (!any || t[j]->timestamp > v.target_end) v.target_end = t[j]->timestamp;
          any = true;
        }
      }
    }
    if (hit) {
      if (v.query_matched == 0 || a->timestamp < v.query_start) v.query_start = a->timestamp;
      if (v.query_matched == 0 || a->timestamp > v.query_end) v.query_end = a->timestamp;
      ++v.query_matched;
    }
  }
  for (const VideoFrame* f : t) {
    if (any && f->timestamp >= v.target_start && f->timestamp <= v.target_end) ++v.range_frames;
  }
  Finish(&v, query_interval, target_interval);
  return v;
}

absl::Status VideoIndex::Insert(uint64_t id, std::span<const VideoFrame> frames, double frame_interval, bool bulk) {
  if (frames.size() > kMaxVideoFrames) {
    return absl::InvalidArgumentError(absl::StrCat("a video has at most ", kMaxVideoFrames, " frames"));
  }
  if (id > (std::numeric_limits<uint64_t>::max() >> kFrameBits)) return absl::InvalidArgumentError("video id too large");
  Video video;
  video.interval = static_cast<float>(frame_interval > 0 ? frame_interval : 1.0);
  video.seconds = static_cast<float>(BankedSeconds(frames, video.interval, min_quality_));
  video.timestamps.assign(frames.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<std::pair<Hash256, uint64_t>> postings;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].quality < min_quality_) continue;
    video.timestamps[i] = static_cast<float>(frames[i].timestamp);
    ++video.indexed;
    postings.emplace_back(frames[i].pdq, (id << kFrameBits) | i);
  }
  {
    absl::MutexLock lock(&mu_);
    if (!videos_.emplace(id, std::move(video)).second) {
      return absl::InvalidArgumentError(absl::StrCat("video ", id, " is already indexed"));
    }
    if (bulk) {
      pending_.insert(pending_.end(), postings.begin(), postings.end());
      return absl::OkStatus();
    }
  }
  // Postings after the table entry: a query that sees a posting always finds its video.
  absl::StatusOr<size_t> inserted = pdq_.InsertBatch(postings);
  return inserted.ok() ? absl::OkStatus() : inserted.status();
}

absl::Status VideoIndex::FinishBulk() {
  std::vector<std::pair<Hash256, uint64_t>> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  if (pending.empty()) return absl::OkStatus();
  return pdq_.BulkLoad(pending);
}

void VideoIndex::Remove(uint64_t id, std::span<const VideoFrame> frames) {
  {
    absl::MutexLock lock(&mu_);
    if (videos_.erase(id) == 0) return;
    if (!pending_.empty()) {  // removed during a bulk load: its postings never reach the index
      std::erase_if(pending_, [id](const std::pair<Hash256, uint64_t>& p) { return (p.second >> kFrameBits) == id; });
      return;
    }
  }
  for (size_t i = 0; i < frames.size() && i <= kFrameMask; ++i) {
    if (frames[i].quality < min_quality_) continue;
    (void)pdq_.Remove(frames[i].pdq, (id << kFrameBits) | i);  // NotFound only for a frame never inserted
  }
}

std::vector<VideoMatch> VideoIndex::Query(std::span<const VideoFrame> query, double query_interval,
                                          const VideoMatchRule& rule) const {
  struct Hits {
    std::vector<uint32_t> query, target;
  };
  absl::flat_hash_map<uint64_t, Hits> hits;
  size_t query_frames = 0;
  const int min_quality = std::max(rule.min_quality, 0);
  for (size_t qi = 0; qi < query.size(); ++qi) {
    if (query[qi].quality < min_quality) continue;
    ++query_frames;
    for (const PdqMatch& m : pdq_.Query(query[qi].pdq, rule.max_distance)) {
      Hits& h = hits[m.id >> kFrameBits];
      if (h.query.empty() || h.query.back() != qi) h.query.push_back(static_cast<uint32_t>(qi));
      h.target.push_back(static_cast<uint32_t>(m.id & kFrameMask));
      // A static query against a static banked shot hits the same frames over and over: keep the list at most
      // a few times the video's length.
      if (h.target.size() > 4 * kMaxVideoFrames) SortUnique(&h.target);
    }
  }
  std::vector<VideoMatch> out;
  absl::ReaderMutexLock lock(&mu_);
  for (auto& [id, h] : hits) {
    const auto it = videos_.find(id);
    if (it == videos_.end()) continue;  // removed since the probe
    const Video& video = it->second;
    SortUnique(&h.target);
    VideoVerdict v;
    v.query_frames = query_frames;
    v.query_matched = h.query.size();
    v.target_frames = video.indexed;
    v.target_matched = h.target.size();
    v.query_start = query[h.query.front()].timestamp;
    v.query_end = query[h.query.back()].timestamp;
    v.target_start = video.timestamps[h.target.front()];
    v.target_end = video.timestamps[h.target.back()];
    // Indexed frames timed from the first match to the last (by time, as CompareVideos counts them: equal
    // timestamps may stand on either side of a matched frame).
    for (const float t : video.timestamps) {
      if (!std::isnan(t) && t >= v.target_start && t <= v.target_end) ++v.range_frames;
    }
    Finish(&v, query_interval, video.interval);
    if (IsVideoMatch(v, video.seconds, rule)) out.push_back({id, v});
  }
  std::sort(out.begin(), out.end(), [](const VideoMatch& a, const VideoMatch& b) {
    const double sa = std::max({a.verdict.query_percent, a.verdict.target_percent, a.verdict.range_percent});
    const double sb = std::max({b.verdict.query_percent, b.verdict.target_percent, b.verdict.range_percent});
    return sa != sb ? sa > sb : a.id < b.id;
  });
  return out;
}

size_t VideoIndex::videos() const {
  absl::ReaderMutexLock lock(&mu_);
  return videos_.size();
}

size_t VideoIndex::frames() const { return pdq_.size(); }

size_t VideoIndex::MemoryBytes() const {
  size_t bytes = pdq_.MemoryBytes();
  absl::ReaderMutexLock lock(&mu_);
  bytes += videos_.capacity() * (sizeof(uint64_t) + sizeof(Video));
  for (const auto& [id, v] : videos_) bytes += v.timestamps.capacity() * sizeof(float);
  return bytes;
}

}  // namespace hashbank
