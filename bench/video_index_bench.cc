// video_index_bench: VideoIndex at scale — build time, memory per banked video, query latency and recall.
//
//   video_index_bench [videos=100000] [mean_frames=60] [queries=200] [bulk|incremental]
//
// Synthetic banked videos at one frame a second: scenes of 3-15 s, each starting from a random PDQ hash and
// drifting 4 bits a frame (slow motion inside a shot). Queries: the middle half of a banked video with 12
// bits of noise on every frame (a re-encode, within the match distance of 31), and unrelated videos made the
// same way (which must match nothing). Random hashes spread more evenly than real PDQ hashes, so a real bank
// probes more candidates per frame than this; docs/performance.md says so next to the numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "matcher/video_index.h"

using namespace hashbank;

namespace {

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (auto& l : h.limbs) l = rng();
  return h;
}

void Flip(Hash256* h, int bits, std::mt19937_64& rng) {
  for (int i = 0; i < bits; ++i) {
    const int k = static_cast<int>(rng() % 256);
    h->limbs[static_cast<size_t>(k >> 6)] ^= uint64_t{1} << (k & 63);
  }
}

std::vector<VideoFrame> MakeVideo(size_t frames, std::mt19937_64& rng) {
  std::vector<VideoFrame> v;
  Hash256 h = RandomHash(rng);
  size_t scene_left = 3 + rng() % 13;
  for (size_t i = 0; i < frames; ++i) {
    if (scene_left-- == 0) {
      h = RandomHash(rng);
      scene_left = 3 + rng() % 13;
    } else {
      Flip(&h, 4, rng);
    }
    v.push_back({h, 100, static_cast<double>(i)});
  }
  return v;
}

double D(size_t x) { return static_cast<double>(x); }

double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const size_t mean = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 60;
  const size_t queries = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200;
  const bool bulk = argc > 4 ? std::string(argv[4]) != "incremental" : true;  // the node's start-up load
  std::mt19937_64 rng(20261206);
  VideoIndex index;
  std::vector<std::vector<VideoFrame>> kept;  // the videos queried later
  const auto t0 = std::chrono::steady_clock::now();
  size_t frames = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<VideoFrame> v = MakeVideo(mean / 2 + rng() % mean, rng);
    frames += v.size();
    if (!index.Insert(i, v, 1.0, bulk).ok()) return 1;
    if (i % (n / queries + 1) == 0 && kept.size() < queries) kept.push_back(std::move(v));
  }
  if (bulk && !index.FinishBulk().ok()) return 1;
  const double build_s = Ms(std::chrono::steady_clock::now() - t0) / 1000;
  const size_t bytes = index.MemoryBytes();
  std::printf("%zu videos, %zu frames (%.1f per video), built in %.1f s; memory %.1f MB = %.0f B per video, %.1f B per frame\n",
              n, frames, D(frames) / D(n), build_s, D(bytes) / 1e6, D(bytes) / D(n), D(bytes) / D(frames));
  const VideoMatchRule rule;
  std::vector<double> hit_ms, miss_ms;
  size_t found = 0, false_matches = 0;
  for (size_t q = 0; q < kept.size(); ++q) {
    const std::vector<VideoFrame>& v = kept[q];
    std::vector<VideoFrame> excerpt(v.begin() + static_cast<std::ptrdiff_t>(v.size() / 4),
                                    v.begin() + static_cast<std::ptrdiff_t>(3 * v.size() / 4));
    for (VideoFrame& f : excerpt) Flip(&f.pdq, 12, rng);
    auto t = std::chrono::steady_clock::now();
    const std::vector<VideoMatch> m = index.Query(excerpt, 1.0, rule);
    hit_ms.push_back(Ms(std::chrono::steady_clock::now() - t));
    const size_t expected = q * (n / queries + 1);
    for (const VideoMatch& x : m) (x.id == expected ? found : false_matches) += 1;
    const std::vector<VideoFrame> other = MakeVideo(mean, rng);
    t = std::chrono::steady_clock::now();
    false_matches += index.Query(other, 1.0, rule).size();
    miss_ms.push_back(Ms(std::chrono::steady_clock::now() - t));
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  std::printf("excerpt queries (%zu frames each on average): recall %zu/%zu, p50 %.2f ms, p99 %.2f ms\n", mean / 2,
              found, kept.size(), pct(hit_ms, 0.5), pct(hit_ms, 0.99));
  std::printf("unrelated queries (%zu frames): p50 %.2f ms, p99 %.2f ms; false matches %zu\n", mean, pct(miss_ms, 0.5),
              pct(miss_ms, 0.99), false_matches);
  return 0;
}
