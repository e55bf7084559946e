// In-process PDQ match throughput through the Bank (salting, the PDQ index, resolution of matches): a fresh
// bank of N random PDQ signals (submitted in batches of 1000), then Q single-hash queries at distance 31 on
// one thread — half near-duplicates (0-30 flipped bits) of stored hashes, half random. Prints queries/s and
// the matches found (the same for any correct build: a check that two builds answered the same queries).
//
// Usage: match_bench DATA_DIR [N=200000] [Q=20000]
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "node/node_setup.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: match_bench DATA_DIR [N=200000] [Q=20000]\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const size_t n = argc > 2 ? std::stoull(argv[2]) : 200000;
  const size_t q = argc > 3 ? std::stoull(argv[3]) : 20000;
  std::filesystem::remove_all(dir);
  hashbank::NodeOverrides overrides;
  overrides.data_dir = dir.string();
  auto config = hashbank::LoadNodeConfig(overrides);
  if (!config.ok() || !hashbank::EnsureDataDir(*config).ok()) return 1;
  auto salter = hashbank::LoadOrCreateSalt(*config, std::cerr);
  if (!salter.ok()) return 1;
  auto bank = hashbank::OpenBank(*config, std::move(*salter));
  if (!bank.ok()) {
    std::cerr << bank.status() << "\n";
    return 1;
  }
  std::mt19937_64 rng(42);
  std::vector<hashbank::Hash256> stored;
  const hashbank::Actor actor{"bench", hashbank::Role::kAdmin};
  for (size_t done = 0; done < n;) {
    std::vector<hashbank::SignalInput> batch;
    for (size_t i = 0; i < 1000 && done + i < n; ++i) {
      hashbank::SignalInput in;
      hashbank::Hash256 h;
      for (auto& l : h.limbs) l = rng();
      in.pdq = h;
      in.quality = 100;
      stored.push_back(h);
      batch.push_back(std::move(in));
    }
    done += batch.size();
    for (const auto& r : (*bank)->SubmitBatch(batch, actor)) {
      if (!r.ok()) return 1;
    }
  }
  std::vector<hashbank::Hash256> queries;
  for (size_t i = 0; i < q; ++i) {
    hashbank::Hash256 h;
    if (i % 2 == 0) {
      h = stored[rng() % stored.size()];
      std::set<int> bits;
      const int flips = static_cast<int>(rng() % 31);
      while (static_cast<int>(bits.size()) < flips) bits.insert(static_cast<int>(rng() % 256));
      for (int k : bits) h.limbs[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
    } else {
      for (auto& l : h.limbs) l = rng();
    }
    queries.push_back(h);
  }
  size_t found = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& h : queries) {
    auto m = (*bank)->MatchPdq(std::span<const hashbank::Hash256>(&h, 1), 31);
    if (!m.ok()) return 1;
    found += m->size();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "bank " << n << ", queries " << q << ": " << static_cast<long>(static_cast<double>(q) / s)
            << " queries/s, " << found << " matches\n";
  bank->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
