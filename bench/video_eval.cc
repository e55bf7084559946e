// video_eval: recall and false matches of video matching (vPDQ through VideoIndex, and keyframes through
// KeyframeIndex: the node's rules) on the acceptance set of tools/acceptance/make_video_edits.py, and hashing
// speed on its videos.
//
//   video_eval DIR tune|holdout [seconds_per_frame=1] [query_pct=80] [target_pct=80] [min_seconds=5]
//              [query_seconds_per_frame=seconds_per_frame] [range_pct=80]
//
// Banks every bank video of the set; queries every edited copy (expects its source, and nothing else) and
// every unrelated clip and every bank video against the others (expects nothing). Salting is left out: it is
// a bit permutation and mask of each hash, which keeps every distance (tests/crypto check it).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "hashing/robust_fingerprint.h"
#include "hashing/vpdq.h"
#include "matcher/keyframe_index.h"
#include "matcher/video_index.h"

using namespace hashbank;

namespace {

struct Item {
  std::string kind, file, source, edit;
  std::vector<VideoFrame> frames, mirrored, unbordered;
  bool bordered = false;
  double interval = 1;
  std::vector<std::string> keyframes;          // banked: robust fingerprints (as the node banks them)
  std::vector<VideoKeyframeQuery> queries;     // queried: keyframes' features, direct and mirrored
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: video_eval DIR tune|holdout [seconds_per_frame] [query_pct] [target_pct] [min_seconds]\n");
    return 2;
  }
  const std::string dir = argv[1], set = argv[2];
  const double spf = argc > 3 ? std::atof(argv[3]) : 1.0;
  VideoMatchRule rule;
  if (argc > 4) rule.query_match_percent = std::atof(argv[4]);
  if (argc > 5) rule.target_match_percent = std::atof(argv[5]);
  if (argc > 6) rule.min_matched_seconds = std::atof(argv[6]);
  const double query_spf = argc > 7 ? std::atof(argv[7]) : spf;
  if (argc > 8) rule.range_match_percent = std::atof(argv[8]);

  std::ifstream manifest(dir + "/manifest.tsv");
  std::string line;
  std::getline(manifest, line);
  std::vector<Item> items;
  while (std::getline(manifest, line)) {
    std::stringstream ss(line);
    std::string s;
    Item it;
    std::getline(ss, s, '\t');
    std::getline(ss, it.kind, '\t');
    std::getline(ss, it.file, '\t');
    std::getline(ss, it.source, '\t');
    std::getline(ss, it.edit, '\t');
    if (s == set) items.push_back(std::move(it));
  }
  VideoLimits limits;
  VideoHasher hasher(limits);
  double media_seconds = 0, wall_seconds = 0;
  size_t frames_hashed = 0;
  for (Item& it : items) {
    std::vector<uint8_t> bytes;
    if (!ReadFileBounded(dir + "/" + it.file, limits.max_file_bytes, &bytes).ok()) {
      std::fprintf(stderr, "cannot read %s\n", it.file.c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    // Banked videos at the bank's rate; queries (edits, unrelated clips) at the query rate. Bank videos are
    // also queried against the others: at the bank's rate (what is hashed once serves both).
    const double rate = it.kind == "bank" ? spf : query_spf;
    // As the node: a bank video keeps 8 keyframes of 64 features; a query compares 16 of 1 000 (and mirrored).
    const KeyframeOptions keyframes = it.kind == "bank" ? kBankKeyframes : kQueryKeyframes;
    absl::StatusOr<VideoHashes> h = hasher.Hash(bytes, VideoDecodeOptions{.seconds_per_frame = rate}, {},
                                                VideoQueryVariants{.mirrored = true, .strip_borders = true}, keyframes);
    wall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!h.ok()) {
      std::fprintf(stderr, "%s: %s\n", it.file.c_str(), std::string(h.status().message()).c_str());
      return 1;
    }
    media_seconds += h->info.duration_seconds;
    frames_hashed += h->frames.size();
    for (const VpdqFrame& f : h->frames) {
      it.frames.push_back({f.pdq, f.quality, f.timestamp});
      it.mirrored.push_back({f.mirrored, f.quality, f.timestamp});
      it.unbordered.push_back({f.unbordered, f.quality, f.timestamp});
      it.bordered = it.bordered || f.bordered;
    }
    it.interval = h->FrameInterval();
    if (it.kind == "bank") {
      for (auto& [fp, time] : BankableKeyframes(*h)) it.keyframes.push_back(std::move(fp));
    } else {
      for (const VideoKeyframe& k : h->keyframes) it.queries.push_back({k.features, k.mirrored, k.timestamp});
    }
    if (it.kind == "bank") {
      // Queried against the other bank videos as the node would query the file: query keyframes (not timed).
      absl::StatusOr<VideoHashes> q =
          hasher.Hash(bytes, VideoDecodeOptions{.seconds_per_frame = query_spf}, {}, {},
                      kQueryKeyframes);
      if (!q.ok()) return 1;
      for (const VideoKeyframe& k : q->keyframes) it.queries.push_back({k.features, k.mirrored, k.timestamp});
    }
  }
  VideoIndex index(rule.min_quality);
  KeyframeIndex keyframe_index;
  std::map<uint64_t, std::string> bank_of;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].kind != "bank") continue;
    if (!index.Insert(i, items[i].frames, items[i].interval).ok()) return 1;
    if (!keyframe_index.Insert(i, items[i].keyframes).ok()) return 1;
    bank_of[i] = items[i].source;
  }
  std::map<std::string, std::pair<int, int>> by_keyframes;  // per edit: caught by keyframes alone
  std::map<std::string, std::pair<int, int>> by_edit;  // caught, total
  int false_matches = 0, negatives = 0, caught = 0, edited = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    std::vector<VideoMatch> found = index.Query(it.frames, it.interval, rule);
    std::vector<VideoMatch> mirrored = index.Query(it.mirrored, it.interval, rule);
    found.insert(found.end(), mirrored.begin(), mirrored.end());
    if (it.bordered) {  // as the node does: a third pass only when some frame had bars
      std::vector<VideoMatch> unbordered = index.Query(it.unbordered, it.interval, rule);
      found.insert(found.end(), unbordered.begin(), unbordered.end());
    }
    // Keyframes: as the node, a video the passes found is not reported again.
    bool keyframe_hit = false;
    for (const KeyframeIndex::Hit& k : keyframe_index.Query(it.queries)) {
      if (it.kind == "edited" && bank_of[k.video] == it.source) keyframe_hit = true;
      if (std::none_of(found.begin(), found.end(), [&](const VideoMatch& m) { return m.id == k.video; })) {
        VideoMatch m;
        m.id = k.video;
        m.verdict.matched_seconds = -k.keyframes;  // printed as negative seconds: a keyframe match
        found.push_back(m);
      }
    }
    if (it.kind == "edited") {
      auto& e = by_keyframes[it.edit];
      e.first += keyframe_hit ? 1 : 0;
      ++e.second;
    }
    // One verdict per banked video (the passes may find the same one).
    std::sort(found.begin(), found.end(), [](const VideoMatch& a, const VideoMatch& b) { return a.id < b.id; });
    found.erase(std::unique(found.begin(), found.end(), [](const VideoMatch& a, const VideoMatch& b) { return a.id == b.id; }),
                found.end());
    bool hit = false;
    for (const VideoMatch& m : found) {
      if (m.id == i) continue;  // a bank video finds itself
      if (it.kind == "edited" && bank_of[m.id] == it.source) {
        if (!hit) {
          std::printf("  %-28s q %5.1f%% t %5.1f%% r %5.1f%% %5.1f s\n", it.file.c_str() + 7, m.verdict.query_percent,
                      m.verdict.target_percent, m.verdict.range_percent, m.verdict.matched_seconds);
        }
        hit = true;
      } else {
        ++false_matches;
        std::printf("FALSE MATCH %s -> %s (q %.1f%% t %.1f%% %.1f s)\n", it.file.c_str(), items[m.id].file.c_str(),
                    m.verdict.query_percent, m.verdict.target_percent, m.verdict.matched_seconds);
      }
    }
    if (it.kind == "edited") {
      ++edited;
      caught += hit ? 1 : 0;
      auto& e = by_edit[it.edit];
      e.first += hit ? 1 : 0;
      ++e.second;
      if (!hit) {
        const auto src = std::find_if(items.begin(), items.end(),
                                      [&](const Item& x) { return x.kind == "bank" && x.source == it.source; });
        const VideoVerdict v = CompareVideos(it.frames, it.interval, src->frames, src->interval, rule);
        std::printf("  MISSED %-21s q %5.1f%% t %5.1f%% r %5.1f%% %5.1f s (direct)\n", it.file.c_str() + 7,
                    v.query_percent, v.target_percent, v.range_percent, v.matched_seconds);
      }
    }
    // Pairs that must not match: every bank video but its source (and itself).
    negatives += static_cast<int>(bank_of.size()) - (it.kind == "unrelated" ? 0 : 1);
  }
  std::printf("\nset %s, %zu bank videos, %d edited copies, %zu items; %.1f frames/s sampled, query %.1f frames/s, rule q>=%.0f%% or t>=%.0f%% or r>=%.0f%%, >= %.0f s\n",
              set.c_str(), bank_of.size(), edited, items.size(), spf > 0 ? 1 / spf : 0.0, query_spf > 0 ? 1 / query_spf : 0.0,
              rule.query_match_percent, rule.target_match_percent, rule.range_match_percent, rule.min_matched_seconds);
  for (const auto& [edit, e] : by_edit) {
    std::printf("  %-12s %d/%d   (keyframes alone %d/%d)\n", edit.c_str(), e.first, e.second, by_keyframes[edit].first,
                by_keyframes[edit].second);
  }
  std::printf("caught %d/%d (%.1f %%); false matches %d of %d pairs\n", caught, edited, 100.0 * caught / std::max(1, edited),
              false_matches, negatives);
  std::printf("hashing: %.1f s of video in %.1f s (%.1fx real time, %zu frames hashed, mirrored included)\n", media_seconds,
              wall_seconds, media_seconds / wall_seconds, frames_hashed);
  return 0;
}
