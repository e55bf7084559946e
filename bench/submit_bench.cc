// Concurrent submit throughput: T threads each call Bank::Submit (one signal, one durable write, as a member
// API request does) for D seconds against a fresh node data directory; prints submits/s and the p50/p99
// latency per thread count. The write path is fsync-bound, so with group commit the throughput should grow
// with the number of concurrent writers; without it, it stays at one fsync per submit.
//
// Usage: submit_bench DATA_DIR_PARENT [SECONDS=3] [THREADS...=1 4 16 64]
// Each thread count gets its own fresh data directory under DATA_DIR_PARENT (removed afterwards).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "node/node_setup.h"

namespace {

struct Result {
  double per_second = 0;
  double p50_ms = 0, p99_ms = 0;
  size_t failed = 0;
};

Result Run(const std::filesystem::path& dir, int threads, double seconds) {
  hashbank::NodeOverrides overrides;
  overrides.data_dir = dir.string();
  auto config = hashbank::LoadNodeConfig(overrides);
  if (!config.ok() || !hashbank::EnsureDataDir(*config).ok()) std::exit(1);
  auto salter = hashbank::LoadOrCreateSalt(*config, std::cerr);
  if (!salter.ok()) std::exit(1);
  auto bank = hashbank::OpenBank(*config, std::move(*salter));
  if (!bank.ok()) {
    std::cerr << bank.status() << "\n";
    std::exit(1);
  }
  std::atomic<bool> stop{false};
  std::atomic<size_t> failed{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
      const hashbank::Actor actor{"bench", hashbank::Role::kAdmin};
      while (!stop.load(std::memory_order_relaxed)) {
        hashbank::SignalInput in;
        hashbank::Hash256 h;
        for (auto& l : h.limbs) l = rng();
        in.pdq = h;
        in.quality = 100;
        in.labels = {"ndii"};
        const auto t0 = std::chrono::steady_clock::now();
        auto ref = (*bank)->Submit(in, actor);
        const auto t1 = std::chrono::steady_clock::now();
        if (!ref.ok()) ++failed;
        latencies[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.per_second = static_cast<double>(all.size()) / elapsed;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  r.failed = failed.load();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: submit_bench DATA_DIR_PARENT [SECONDS=3] [THREADS...=1 4 16 64]\n";
    return 2;
  }
  const std::filesystem::path parent = argv[1];
  const double seconds = argc > 2 ? std::stod(argv[2]) : 3.0;
  std::vector<int> counts;
  for (int i = 3; i < argc; ++i) counts.push_back(std::stoi(argv[i]));
  if (counts.empty()) counts = {1, 4, 16, 64};
  std::cout << "threads,submits_per_s,p50_ms,p99_ms,failed\n";
  for (int threads : counts) {
    const std::filesystem::path dir = parent / ("submit-bench-" + std::to_string(threads));
    std::filesystem::remove_all(dir);
    const Result r = Run(dir, threads, seconds);
    std::filesystem::remove_all(dir);
    std::cout << threads << "," << static_cast<long>(r.per_second) << "," << r.p50_ms << "," << r.p99_ms << ","
              << r.failed << std::endl;
  }
  return 0;
}
