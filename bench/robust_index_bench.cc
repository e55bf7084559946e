// robust_index_bench: the robust fingerprint's search at scale. Banks N fingerprints made of real descriptor
// parts (each 64-bit limb from a random feature of the other acceptance set, 32 random bits flipped so that
// limbs reused across a million fingerprints do not make 24-bit keys repeat hundreds of times, random
// positions),
// plus the acceptance set's own originals; then queries the edited copies and the unrelated images through
// RobustIndex and reports latency, how many of the edits brute-force verification catches are still found
// through the index (the search's recall), false matches, memory per banked image, and build time.
//
//   build/bench/robust_index_bench DIR N [tables] [tune|holdout] [watch|crops]
//
// `crops`: the N banked fingerprints are not synthetic but those of random crops (each side 35-100 %) of the
// other set's original and unrelated images (89 real images for the tune set, none of this set's): real
// descriptors and real geometry, and a bank far more clumped than a real one (every image hundreds of times),
// so a stress test of the vote's chance and common-pattern votes and a search for false matches against real
// content. Each false match is printed with the image the banked crop comes from.
//
// `watch`: the watch list's case instead (docs/webhooks.md). The index holds N synthetic fingerprints and the
// edited copies' own 64-feature fingerprints (watched uploads); each original's fingerprint is the query
// (RobustIndex::QueryContaining, as the scanner runs it for a new signal): latency, and how many of the
// edits brute-force verification catches are found through the index.
//
// The synthetic fingerprints draw their descriptors from the other set's images.
//
// The bank's fingerprints are kept outside the index and read through its loader, as on a node (there from
// RocksDB, here from memory): the bytes per fingerprint printed are the index's own (postings). The watch
// list keeps its fingerprints inside, as Notifications does.
//
// Everything is salted with a random federation salt, as on a node. One thread.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/federation_salt.h"
#include "crypto/salting.h"
#include "hashing/image_decoder.h"
#include "hashing/image_hasher.h"
#include "hashing/local_features.h"
#include "hashing/robust_fingerprint.h"
#include "matcher/robust_index.h"
#include "matcher/robust_verify.h"

using namespace hashbank;

namespace {

// VmRSS from /proc/self/status, in bytes (0 when unreadable).
double ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024;
  }
  return 0;
}

struct Item {
  std::string set, kind, file, source, edit;
  std::vector<LocalFeature> direct, mirrored;  // salted query features
  std::string banked;                          // salted encoding (originals and unrelated)
  double query_hash_ms = 0;
};

// This thread's CPU time in ms: unlike the wall clock, not inflated while other processes hold the cores.
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double Ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::vector<LocalFeature> Salted(const Salter& salter, std::vector<LocalFeature> f) {
  for (LocalFeature& x : f) x.descriptor = salter.SaltLocalDescriptor(x.descriptor);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: robust_index_bench DIR N [tables] [tune|holdout] [watch|crops]\n";
    return 2;
  }
  const std::string dir = argv[1];
  const size_t n = std::stoul(argv[2]);
  const int tables = argc > 3 ? std::stoi(argv[3]) : RobustIndex::kDefaultTables;
  const std::string want = argc > 4 ? argv[4] : "holdout";
  const bool watch = argc > 5 && std::string(argv[5]) == "watch";
  const bool crops = argc > 5 && std::string(argv[5]) == "crops";
  auto salt = FederationSalt::Generate("bench");
  if (!salt.ok()) {
    std::cerr << salt.status() << "\n";
    return 1;
  }
  Salter salter(*salt);

  std::ifstream manifest(dir + "/manifest.tsv");
  std::vector<Item> items;
  std::string line;
  while (std::getline(manifest, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    while (cols.size() < 5) cols.emplace_back();
    if (cols[0] == "set") continue;
    items.push_back({cols[0], cols[1], cols[2], cols[3], cols[4], {}, {}, {}, 0});
  }
  ImageHasher hasher;
  std::vector<LocalFeature> pool;
  std::vector<GreyImage> others;  // crops: the other set's images' luma, long side up to 1024
  std::vector<std::string> other_files;  // and their files
  std::vector<size_t> crop_of;           // crops: banked id -> index into others
  for (Item& item : items) {
    const auto t0 = std::chrono::steady_clock::now();
    auto q = hasher.HashFile(dir + "/" + item.file,
                             HashOptions{.local_features = kRobustQueryFeatures, .mirrored_features = true});
    item.direct = q.ok() ? Salted(salter, q->features) : std::vector<LocalFeature>{};
    item.mirrored = q.ok() ? Salted(salter, q->mirrored_features) : std::vector<LocalFeature>{};
    item.query_hash_ms = Ms(t0);
    // Synthetic fingerprints draw from the other set's images only: a bank holds other images' descriptors.
    if (item.set != want) {
      pool.insert(pool.end(), item.direct.begin(), item.direct.end());
      if (crops && item.kind != "edited") {  // originals only: edits share overlays and frames
        std::ifstream in(dir + "/" + item.file, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        PreparedImage prepared;
        GreyImage grey;
        const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
        if (PrepareImage({data, bytes.size()}, ImageLimits{}, &prepared, &grey, 1024).ok()) {
          others.push_back(std::move(grey));
          other_files.push_back(item.file);
        }
      }
      continue;
    }
    if (item.kind == "edited" && !watch) continue;
    auto b = hasher.HashFile(dir + "/" + item.file, HashOptions{.local_features = kRobustBankFeatures});
    if (!b.ok() || b->features.size() < 10) continue;
    auto encoded = EncodeRobust(Salted(salter, b->features), b->width, b->height);
    if (encoded.ok()) item.banked = *encoded;
  }
  if (pool.empty()) {
    std::cerr << "no features: is " << dir << " an acceptance set?\n";
    return 1;
  }

  // The bank keeps its fingerprints outside the index, as the node does (in RocksDB there; in memory here):
  // the index reads the ones it verifies through its loader. The watch list keeps them inside.
  std::vector<std::string> stored;
  RobustIndex index = watch ? RobustIndex(tables)
                            : RobustIndex(tables, [&stored](uint64_t id) -> absl::StatusOr<std::string> {
                                if (id >= stored.size() || stored[id].empty()) return absl::NotFoundError("gone");
                                return stored[id];
                              });
  std::mt19937_64 rng(42);
  const auto build_start = std::chrono::steady_clock::now();
  std::vector<LocalFeature> fake(kRobustBankFeatures);
  size_t unbankable = 0;
  for (size_t i = 0; i < n && crops; ++i) {
    if (others.empty()) return 1;
    // A random crop, area-averaged down to a long side of at most kLocalFeatureSide, as the decoder gives.
    const size_t from = rng() % others.size();
    const GreyImage& g = others[from];
    const int cw = std::max(1, g.width * static_cast<int>(35 + rng() % 66) / 100);
    const int ch = std::max(1, g.height * static_cast<int>(35 + rng() % 66) / 100);
    const int x0 = static_cast<int>(rng() % static_cast<uint64_t>(g.width - cw + 1));
    const int y0 = static_cast<int>(rng() % static_cast<uint64_t>(g.height - ch + 1));
    const int f = (std::max(cw, ch) + kLocalFeatureSide - 1) / kLocalFeatureSide;  // integer box factor
    GreyImage crop;
    crop.width = cw / f;
    crop.height = ch / f;
    crop.pixels.resize(static_cast<size_t>(crop.width) * static_cast<size_t>(crop.height));
    for (int y = 0; y < crop.height; ++y) {
      for (int x = 0; x < crop.width; ++x) {
        int sum = 0;
        for (int dy = 0; dy < f; ++dy) {
          for (int dx = 0; dx < f; ++dx) {
            sum += g.pixels[static_cast<size_t>(y0 + y * f + dy) * static_cast<size_t>(g.width) +
                            static_cast<size_t>(x0 + x * f + dx)];
          }
        }
        crop.pixels[static_cast<size_t>(y) * static_cast<size_t>(crop.width) + static_cast<size_t>(x)] =
            static_cast<uint8_t>((sum + f * f / 2) / (f * f));
      }
    }
    const std::vector<LocalFeature> features = ExtractLocalFeatures(crop, kRobustBankFeatures);
    if (features.size() < kMinRobustFeatures) {
      if (++unbankable > 10 * n + 1000) {
        std::cerr << "too few bankable crops: are the other set's images flat?\n";
        return 1;
      }
      --i;  // flat or tiny: not bankable, draw another
      continue;
    }
    auto encoded = EncodeRobust(Salted(salter, features), crop.width, crop.height);
    if (!encoded.ok() || !index.InsertEncoded(i, *encoded, /*bulk=*/true).ok()) return 1;
    stored.push_back(*std::move(encoded));
    crop_of.push_back(from);
  }
  for (size_t i = 0; i < n && !crops; ++i) {
    for (LocalFeature& f : fake) {
      // Each 64-bit limb from a different real descriptor: the bit statistics of real descriptors without
      // reusing whole descriptors (which would make the bank far more clumped than real images).
      for (size_t limb = 0; limb < 4; ++limb) f.descriptor[limb] = pool[rng() % pool.size()].descriptor[limb];
      for (int flips = 0; flips < 32; ++flips) {
        const uint64_t bit = rng() % 256;
        f.descriptor[bit / 64] ^= uint64_t{1} << (bit % 64);
      }
      f.x = static_cast<uint16_t>(rng() % 4096);
      f.y = static_cast<uint16_t>(rng() % 4096);
    }
    auto encoded = EncodeRobust(fake, 4096, 4096);
    if (!encoded.ok() || !index.InsertEncoded(i, *encoded, /*bulk=*/true).ok()) return 1;
    if (!watch) stored.push_back(*std::move(encoded));
  }
  std::vector<size_t> banked_ids(items.size(), SIZE_MAX);
  for (size_t k = 0; k < items.size(); ++k) {
    // watch: the index holds the watched uploads (edited copies); the originals are the new signals.
    if (items[k].banked.empty() || (watch && items[k].kind != "edited")) continue;
    banked_ids[k] = n + k;
    if (!index.InsertEncoded(n + k, items[k].banked, /*bulk=*/true).ok()) return 1;
    if (!watch) {
      stored.resize(n + k + 1);
      stored[n + k] = items[k].banked;
    }
  }
  index.FinishBulk();
  const double build_s = Ms(build_start) / 1000;
  const size_t memory = index.MemoryBytes();
  // The process's resident memory now (the index, the descriptor pool, the acceptance set's fingerprints and,
  // for a bank, the fingerprints kept outside the index), after the load, beside the index's own count of its
  // heap bytes.
  std::printf("resident after the build: %.2f GB; the index's heap bytes: %.2f GB\n", ResidentBytes() / 1e9,
              static_cast<double>(memory) / 1e9);
  if (watch) {
    std::vector<double> ms_each;
    int pairs = 0, brute = 0, found = 0, false_hits = 0;
    for (const Item& original : items) {
      if (original.set != want || original.kind == "edited" || original.banked.empty()) continue;
      const RobustFingerprint fp = *DecodeRobustFingerprint(original.banked);
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<RobustIndex::Hit> hits = index.QueryContaining(fp);
      ms_each.push_back(Ms(t0));
      for (size_t k = 0; k < items.size(); ++k) {
        if (banked_ids[k] == SIZE_MAX) continue;
        const bool edit_of = items[k].source == original.file;
        const bool hit = std::any_of(hits.begin(), hits.end(), [&](const auto& h) { return h.id == banked_ids[k]; });
        if (!edit_of) {
          false_hits += hit;
          continue;
        }
        ++pairs;
        const bool verified = VerifyRobust(fp, DecodeRobustFingerprint(items[k].banked)->features).match;
        brute += verified;
        found += verified && hit;
      }
    }
    std::printf("watch list of %zu fingerprints (%zu synthetic), %d tables: build %.1f s, %.0f bytes per entry\n",
                index.size(), n, tables, build_s, static_cast<double>(memory) / static_cast<double>(index.size()));
    std::printf("edits caught by brute-force verification %d of %d; through the index %d (search recall %.1f %%); "
                "false matches %d\n", brute, pairs, found, brute ? 100.0 * found / brute : 0.0, false_hits);
    std::printf("one new signal against the watch list (QueryContaining): p50 %.2f ms, p99 %.2f ms over %zu\n",
                Pct(ms_each, 0.5), Pct(ms_each, 0.99), ms_each.size());
    return 0;
  }

  std::vector<double> search_ms, total_ms, vote_ms, vote_cpu_ms;
  int edits = 0, caught_brute = 0, caught_index = 0, false_matches = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    const Item& q = items[k];
    if (q.direct.empty() || q.set != want) continue;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<RobustIndex::Hit> hits = index.Query(q.direct, q.mirrored);
    const double ms = Ms(t0);
    search_ms.push_back(ms);
    const auto t1 = std::chrono::steady_clock::now();
    (void)index.Candidates(q.direct, RobustIndex::kDefaultCandidates);
    (void)index.Candidates(q.mirrored, RobustIndex::kDefaultCandidates);
    vote_ms.push_back(Ms(t1));
    const double cpu0 = ThreadCpuMs();
    (void)index.Candidates(q.direct, RobustIndex::kDefaultCandidates);
    (void)index.Candidates(q.mirrored, RobustIndex::kDefaultCandidates);
    vote_cpu_ms.push_back(ThreadCpuMs() - cpu0);
    total_ms.push_back(ms + q.query_hash_ms);
    size_t source = SIZE_MAX;
    if (q.kind == "edited") {
      for (size_t j = 0; j < items.size(); ++j) {
        if (items[j].file == q.source) source = banked_ids[j];
      }
    }
    for (const RobustIndex::Hit& h : hits) {
      const bool self = h.id == banked_ids[k];
      if (h.id == source || self) continue;
      ++false_matches;
      const std::string banked_file =
          h.id < crop_of.size() ? "a crop of " + other_files[crop_of[h.id]] : h.id >= n ? items[h.id - n].file : "synthetic";
      std::printf("false match %s -> %s (%d inliers)\n", q.file.c_str(), banked_file.c_str(), h.verdict.inliers);
    }
    if (q.kind != "edited" || source == SIZE_MAX) continue;
    ++edits;
    auto fp = DecodeRobustFingerprint(items[source - n].banked);
    const bool brute = fp.ok() && (VerifyRobust(*fp, q.direct).match || VerifyRobust(*fp, q.mirrored).match);
    caught_brute += brute;
    const bool via_index = std::any_of(hits.begin(), hits.end(), [&](const auto& h) { return h.id == source; });
    caught_index += via_index && brute;
    if (brute && !via_index) {
      int rank = 0, votes = 0;
      for (const auto& [id, v] : index.Candidates(q.direct, 1000)) {
        ++rank;
        if (id == source) {
          votes = v;
          break;
        }
      }
      std::printf("search missed %s: rank %d votes %d (direct)\n", q.file.c_str(), rank, votes);
    }
  }
  const size_t banked = index.size();
  std::printf("banked %zu fingerprints (%zu %s), %d tables: build %.1f s, %.0f bytes per fingerprint\n", banked,
              n, crops ? "crops of the other set's images" : "synthetic", tables, build_s, static_cast<double>(memory) / static_cast<double>(banked));
  std::printf("edits caught by brute-force verification %d of %d; through the index %d (search recall %.1f %%)\n",
              caught_brute, edits, caught_index, caught_brute ? 100.0 * caught_index / caught_brute : 0.0);
  std::printf("false matches %d over %zu queries\n", false_matches, search_ms.size());
  std::printf("search + verification per query: p50 %.2f ms, p99 %.2f ms; with hashing (decode, 2 x %d features): "
              "p50 %.1f ms, p99 %.1f ms\n",
              Pct(search_ms, 0.5), Pct(search_ms, 0.99), kRobustQueryFeatures, Pct(total_ms, 0.5),
              Pct(total_ms, 0.99));
  std::printf("of which the candidate search (voting): p50 %.2f ms, p99 %.2f ms; its thread CPU time (a second "
              "run): p50 %.2f ms, p99 %.2f ms\n",
              Pct(vote_ms, 0.5), Pct(vote_ms, 0.99), Pct(vote_cpu_ms, 0.5), Pct(vote_cpu_ms, 0.99));
  return 0;
}
