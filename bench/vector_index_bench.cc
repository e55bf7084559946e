// VectorIndex: HNSW (hnswlib) against exact search, in the same run, on clustered embeddings.
//
// Data: N unit vectors of dimension D around N/500 random centres (Gaussian noise) plus 10 % uniform ones,
// the shape real image embeddings have. Queries: perturbed bank vectors.
//
// Usage: vector_index_bench [N=100000] [D=512] [queries=500] [ef_search=256]
#include <algorithm>
#include <chrono>
#include <string>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "matcher/vector_index.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

std::vector<float> Noisy(const std::vector<float>& centre, float sigma, std::mt19937_64& rng) {
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(centre);
  for (float& x : v) x += g(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  const int dim = argc > 2 ? std::atoi(argv[2]) : 512;
  const size_t nq = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 500;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<std::vector<float>> centres(std::max<size_t>(1, n / 500), std::vector<float>(static_cast<size_t>(dim)));
  for (auto& c : centres) for (float& x : c) x = g(rng);
  std::vector<std::vector<float>> bank;
  bank.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 10 == 0) {
      std::vector<float> v(static_cast<size_t>(dim));
      for (float& x : v) x = g(rng);
      bank.push_back(std::move(v));
    } else {
      bank.push_back(Noisy(centres[rng() % centres.size()], 0.6f, rng));
    }
  }
  std::vector<std::vector<float>> queries;
  for (size_t i = 0; i < nq; ++i) queries.push_back(Noisy(bank[rng() % n], 0.3f, rng));

  std::printf("# vector_index_bench: N=%zu, dim %d, %zu queries, top-10\n\n", n, dim, nq);
  std::printf("| method | build s | memory MB | q/s 1 thread | recall@10 |\n|---|---|---|---|---|\n");
  hashbank::VectorIndexOptions exact_options;
  exact_options.exact_below = n + 1;  // never builds a graph
  hashbank::VectorIndexOptions graph_options;
  graph_options.exact_below = 1000;  // defaults otherwise: M = 32, ef_construction = 200
  graph_options.ef_search = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : graph_options.ef_search;
  std::vector<std::vector<uint64_t>> truth(nq);
  for (int pass = 0; pass < 2; ++pass) {
    hashbank::VectorIndex index(pass == 0 ? exact_options : graph_options);
    if (!index.AddModel("bench", dim).ok()) return 1;
    const auto start = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      if (!index.Insert("bench", i, bank[i]).ok()) return 1;
    }
    const double build = Seconds(start);
    const auto qstart = Clock::now();
    size_t hits = 0, want = 0;
    for (size_t q = 0; q < nq; ++q) {
      auto r = index.SearchTopK("bench", queries[q], 10);
      if (!r.ok()) return 1;
      std::vector<uint64_t> ids;
      for (const auto& m : *r) ids.push_back(m.id);
      if (pass == 0) {
        truth[q] = ids;
      } else {
        for (uint64_t id : truth[q]) hits += std::find(ids.begin(), ids.end(), id) != ids.end();
        want += truth[q].size();
      }
    }
    const double qps = static_cast<double>(nq) / Seconds(qstart);
    const std::string name = pass == 0 ? "exact scan" : "HNSW M=32 efC=200 ef=" + std::to_string(graph_options.ef_search);
    std::printf("| %s | %.1f | %.0f | %.0f | %s |\n", name.c_str(), build,
                static_cast<double>(index.MemoryBytes()) / 1e6, qps,
                pass == 0 ? "1.000 (baseline)" : std::to_string(static_cast<double>(hits) / static_cast<double>(want)).c_str());
    std::fflush(stdout);
  }
  return 0;
}
