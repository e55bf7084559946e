// PDQ radius search at scale: hashbank's PdqIndex against a brute-force popcount scan and against faiss's
// IndexBinaryMultiHash with 16 tables of 16 bits (what Meta's HMA runs for PDQ), all in the same run.
//
// Data: N hashes, 80 % uniformly random and 20 % near-duplicates (1..30 flipped bits) of earlier ones.
// Queries: half near-duplicates of bank entries (0..30 flipped bits), half unrelated random hashes.
//
// Usage: pdq_index_bench [N=1000000] [queries=20000] [radius=31] [brute_queries=300] [faiss=1]
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <unistd.h>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "matcher/pdq_index.h"

namespace {

using Clock = std::chrono::steady_clock;
using hashbank::Hash256;
using hashbank::PdqIndex;
using hashbank::PdqMatch;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// Resident set size in bytes (Linux).
size_t Rss() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (auto& l : h.limbs) l = rng();
  return h;
}

Hash256 Flip(Hash256 h, int bits, std::mt19937_64& rng) {
  std::set<int> chosen;
  while (static_cast<int>(chosen.size()) < bits) chosen.insert(static_cast<int>(rng() % 256));
  for (int k : chosen) h.limbs[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
  return h;
}

// Queries per second over `threads` threads splitting `queries`; returns total matches via *matches.
template <typename QueryFn>
double Qps(size_t queries, int threads, QueryFn&& fn, size_t* matches) {
  std::atomic<size_t> total{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      size_t local = 0;
      for (size_t i = static_cast<size_t>(t); i < queries; i += static_cast<size_t>(threads)) local += fn(i);
      total += local;
    });
  }
  for (auto& th : pool) th.join();
  *matches = total;
  return static_cast<double>(queries) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const size_t nq = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20'000;
  const int radius = argc > 3 ? std::atoi(argv[3]) : 31;
  const size_t brute_nq = std::min<size_t>(nq, argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 300);
  const bool run_faiss = argc > 5 ? std::atoi(argv[5]) != 0 : true;

  std::mt19937_64 rng(20261121);
  std::vector<Hash256> bank;
  bank.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && rng() % 100 < 20) {
      bank.push_back(Flip(bank[rng() % i], 1 + static_cast<int>(rng() % 30), rng));
    } else {
      bank.push_back(RandomHash(rng));
    }
  }
  std::vector<Hash256> queries;
  for (size_t i = 0; i < nq; ++i) {
    queries.push_back(i % 2 == 0 ? Flip(bank[rng() % n], static_cast<int>(rng() % 31), rng) : RandomHash(rng));
  }
  std::printf("# pdq_index_bench: N=%zu, %zu queries, radius %d, %u cores\n\n", n, nq, radius,
              std::thread::hardware_concurrency());
  std::printf("| method | build s | memory MB | q/s 1 thread | q/s 2 threads | matches / query | recall vs brute force |\n");
  std::printf("|---|---|---|---|---|---|---|\n");

  // Brute force: the baseline, on the first brute_nq queries.
  std::vector<std::vector<uint64_t>> truth(brute_nq);
  size_t brute_matches = 0;
  const double brute_qps = Qps(brute_nq, 1, [&](size_t q) {
    size_t found = 0;
    for (size_t i = 0; i < n; ++i) {
      if (hashbank::HammingDistance(bank[i], queries[q]) <= radius) {
        truth[q].push_back(i);
        ++found;
      }
    }
    return found;
  }, &brute_matches);
  size_t dummy = 0;
  const double brute_qps2 = Qps(brute_nq, 2, [&](size_t q) {
    size_t found = 0;
    for (size_t i = 0; i < n; ++i) found += hashbank::HammingDistance(bank[i], queries[q]) <= radius;
    return found;
  }, &dummy);
  std::printf("| brute-force popcount scan | 0 | %.0f | %.1f | %.1f | %.2f | 1.000 |\n",
              static_cast<double>(n * sizeof(Hash256)) / 1e6, brute_qps, brute_qps2,
              static_cast<double>(brute_matches) / static_cast<double>(brute_nq));
  std::fflush(stdout);

  auto recall = [&](const std::function<std::vector<uint64_t>(size_t)>& ids_of) {
    size_t want = 0, got = 0;
    for (size_t q = 0; q < brute_nq; ++q) {
      std::vector<uint64_t> ids = ids_of(q);
      std::sort(ids.begin(), ids.end());
      for (uint64_t id : truth[q]) got += std::binary_search(ids.begin(), ids.end(), id);
      want += truth[q].size();
    }
    return want == 0 ? 1.0 : static_cast<double>(got) / static_cast<double>(want);
  };

  {
    std::vector<std::pair<Hash256, uint64_t>> entries;
    entries.reserve(n);
    for (size_t i = 0; i < n; ++i) entries.push_back({bank[i], i});
    const size_t rss_before = Rss();
    auto start = Clock::now();
    PdqIndex index;
    if (!index.BulkLoad(entries).ok()) return 1;
    const double build = Seconds(start);
    entries = {};
    const size_t rss_delta = Rss() > rss_before ? Rss() - rss_before : 0;
    size_t m1 = 0, m2 = 0;
    const double q1 = Qps(nq, 1, [&](size_t q) { return index.Query(queries[q], radius).size(); }, &m1);
    const double q2 = Qps(nq, 2, [&](size_t q) { return index.Query(queries[q], radius).size(); }, &m2);
    const double r = recall([&](size_t q) {
      std::vector<uint64_t> ids;
      for (const PdqMatch& m : index.Query(queries[q], radius)) ids.push_back(m.id);
      return ids;
    });
    std::printf("| hashbank PdqIndex | %.2f | %.0f (RSS +%.0f) | %.0f | %.0f | %.2f | %.3f |\n", build,
                static_cast<double>(index.MemoryBytes()) / 1e6, static_cast<double>(rss_delta) / 1e6, q1, q2,
                static_cast<double>(m1) / static_cast<double>(nq), r);
    std::fflush(stdout);
  }

  if (run_faiss) {
    const size_t rss_before = Rss();
    auto start = Clock::now();
    faiss::IndexBinaryMultiHash index(256, 16, 16);
    index.nflip = radius / 16;  // per-table flips needed for an exact search (pigeonhole)
    std::vector<uint8_t> codes(n * 32);
    for (size_t i = 0; i < n; ++i) std::memcpy(&codes[i * 32], bank[i].limbs.data(), 32);
    index.add(static_cast<faiss::Index::idx_t>(n), codes.data());
    const double build = Seconds(start);
    codes = {};
    const size_t rss_delta = Rss() > rss_before ? Rss() - rss_before : 0;
    // One query per call, OpenMP pinned to one thread per caller, so thread counts mean the same as above.
    omp_set_num_threads(1);
    const size_t faiss_nq = std::min(nq, std::max<size_t>(brute_nq, 2000));
    auto one = [&](size_t q, std::vector<uint64_t>* ids) {
      faiss::RangeSearchResult res(1);
      index.range_search(1, reinterpret_cast<const uint8_t*>(queries[q].limbs.data()), radius + 1, &res);
      if (ids != nullptr) ids->assign(res.labels, res.labels + res.lims[1]);
      return res.lims[1];
    };
    size_t m1 = 0, m2 = 0;
    const double q1 = Qps(faiss_nq, 1, [&](size_t q) { return one(q, nullptr); }, &m1);
    const double q2 = Qps(faiss_nq, 2, [&](size_t q) { return one(q, nullptr); }, &m2);
    const double r = recall([&](size_t q) {
      std::vector<uint64_t> ids;
      one(q, &ids);
      return ids;
    });
    std::printf("| faiss IndexBinaryMultiHash 16x16, nflip=%d | %.2f | RSS +%.0f | %.1f | %.1f | %.2f | %.3f |\n",
                index.nflip, build, static_cast<double>(rss_delta) / 1e6, q1, q2,
                static_cast<double>(m1) / static_cast<double>(faiss_nq), r);
  }
  return 0;
}
