// Fills a node's data directory with N signals that carry only a robust fingerprint, through Bank::SubmitBatch
// (batches of 1 000, each one durable write), for bench/image_match_bench.sh. Each fingerprint is 64 features
// with uniformly random 256-bit descriptors at random positions of a 1024 x 768 image: unrelated to every
// real image, so a query's true match is found among them by the search (docs/matching.md: the index's keys
// spread such descriptors evenly over its buckets, as salting spreads real ones).
//
// Usage: fill_robust DATA_DIR N
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "hashing/robust_fingerprint.h"
#include "node/node_setup.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fill_robust DATA_DIR N\n";
    return 2;
  }
  hashbank::NodeOverrides overrides;
  overrides.data_dir = argv[1];
  const size_t n = std::stoull(argv[2]);
  auto config = hashbank::LoadNodeConfig(overrides);
  if (!config.ok() || !hashbank::EnsureDataDir(*config).ok()) return 1;
  auto salter = hashbank::LoadOrCreateSalt(*config, std::cerr);
  if (!salter.ok()) return 1;
  auto bank = hashbank::OpenBank(*config, std::move(*salter));
  if (!bank.ok()) {
    std::cerr << bank.status() << "\n";
    return 1;
  }
  std::mt19937_64 rng(7);
  const hashbank::Actor actor{"bench", hashbank::Role::kAdmin};
  const auto start = std::chrono::steady_clock::now();
  for (size_t done = 0; done < n;) {
    std::vector<hashbank::SignalInput> batch;
    for (size_t i = 0; i < 1000 && done + i < n; ++i) {
      std::vector<hashbank::LocalFeature> features(64);
      for (hashbank::LocalFeature& f : features) {
        for (uint64_t& limb : f.descriptor) limb = rng();
        f.x = static_cast<uint16_t>(rng() % 1024);
        f.y = static_cast<uint16_t>(rng() % 768);
      }
      auto encoded = hashbank::EncodeRobust(features, 1024, 768);
      if (!encoded.ok()) {
        std::cerr << encoded.status() << "\n";
        return 1;
      }
      hashbank::SignalInput in;
      in.robust = std::move(*encoded);
      in.labels = {"ndii"};
      batch.push_back(std::move(in));
    }
    for (const auto& r : (*bank)->SubmitBatch(batch, actor)) {
      if (!r.ok()) {
        std::cerr << r.status() << "\n";
        return 1;
      }
    }
    done += batch.size();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("stored %zu robust fingerprints in %.1f s (%.0f signals/s)\n", n, secs, static_cast<double>(n) / secs);
  return 0;
}
