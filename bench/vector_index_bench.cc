// VectorIndex (exact: int8-code bounds and triangle-inequality pruning) against the plain float scan and
// against faiss's IndexIVFFlat (the library's inverted file, approximate), in the same run, on clustered
// embeddings.
//
// Data: N unit vectors of dimension D around N/500 random centres (Gaussian noise) plus 10 % uniform ones.
// Queries: half "near" (perturbed bank vectors: an upload of a known image), half "far" (random vectors: an
// upload unlike anything in the bank, the common case in production). Top-10 and threshold 0.9; every
// search on one thread, one query at a time.
//
// Usage: vector_index_bench [N=100000] [D=512] [queries=400]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#pragma GCC diagnostic pop

#include "matcher/vector_index.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void Normalise(float* v, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; ++i) s += static_cast<double>(v[i]) * v[i];
  const float k = static_cast<float>(1.0 / std::sqrt(s));
  for (size_t i = 0; i < d; ++i) v[i] *= k;
}

using Ids = std::vector<std::vector<uint64_t>>;

double Recall(const Ids& truth, const Ids& got) {
  size_t hits = 0, want = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    for (uint64_t id : truth[q]) hits += std::find(got[q].begin(), got[q].end(), id) != got[q].end() ? 1u : 0u;
    want += truth[q].size();
  }
  return want == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(want);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  const size_t dim = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 512;
  const size_t nq = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 400;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f), noise(0.0f, 0.6f), qnoise(0.0f, 0.3f);
  const size_t nc = std::max<size_t>(1, n / 500);
  std::vector<float> centres(nc * dim);
  for (float& x : centres) x = g(rng);
  std::vector<float> bank(n * dim);  // raw (unnormalised): the index normalises
  for (size_t i = 0; i < n; ++i) {
    float* v = &bank[i * dim];
    const size_t c = rng() % nc;
    for (size_t j = 0; j < dim; ++j) v[j] = i % 10 == 0 ? g(rng) : centres[c * dim + j] + noise(rng);
  }
  std::vector<std::vector<float>> queries(nq, std::vector<float>(dim));
  for (size_t q = 0; q < nq; ++q) {
    const size_t b = rng() % n;
    for (size_t j = 0; j < dim; ++j) queries[q][j] = q % 2 == 0 ? bank[b * dim + j] + qnoise(rng) : g(rng);
  }
  const char* kinds[2] = {"near", "far"};
  std::printf("# vector_index_bench: N=%zu, dim %zu, %zu queries (half near, half far), 1 thread per search\n\n", n,
              dim, nq);
  std::printf("| method | build s | memory MB | queries | top-10 q/s | recall@10 | threshold 0.9 q/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");

  auto run = [&](const char* name, hashbank::VectorIndexOptions options, Ids* truth) {
    hashbank::VectorIndex index(options);
    if (!index.AddModel("bench", static_cast<int>(dim)).ok()) std::exit(1);
    const auto start = Clock::now();
    double slowest_insert = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto t = Clock::now();
      if (!index.Insert("bench", i, std::span<const float>(&bank[i * dim], dim)).ok()) std::exit(1);
      slowest_insert = std::max(slowest_insert, Seconds(t));
    }
    index.WaitForClustering();  // clustering runs in the background; measure the finished structure
    const double build = Seconds(start);
    for (int kind = 0; kind < 2; ++kind) {
      Ids got;
      auto t = Clock::now();
      size_t count = 0;
      for (size_t q = static_cast<size_t>(kind); q < nq; q += 2, ++count) {
        auto r = index.SearchTopK("bench", queries[q], 10);
        if (!r.ok()) std::exit(1);
        got.emplace_back();
        for (const auto& m : *r) got.back().push_back(m.id);
      }
      const double topk_qps = static_cast<double>(count) / Seconds(t);
      t = Clock::now();
      for (size_t q = static_cast<size_t>(kind); q < nq; q += 2) {
        if (!index.SearchThreshold("bench", queries[q], 0.9f).ok()) std::exit(1);
      }
      const double thr_qps = static_cast<double>(count) / Seconds(t);
      std::string recall = "1.000 (baseline)";
      if (truth[kind].empty()) {
        truth[kind] = got;
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.4f", Recall(truth[kind], got));
        recall = buf;
      }
      std::printf("| %s | %.1f | %.0f | %s | %.0f | %s | %.0f |\n", name, build,
                  static_cast<double>(index.MemoryBytes()) / 1e6, kinds[kind], topk_qps, recall.c_str(), thr_qps);
    }
    std::printf("|  (slowest single insert: %.2f s) | | | | | | |\n", slowest_insert);
    std::fflush(stdout);
  };

  Ids truth[2];
  hashbank::VectorIndexOptions scan;
  scan.exact_below = n + 1;
  scan.int8_filter = false;
  run("exact float scan (baseline)", scan, truth);
  scan.int8_filter = true;
  run("VectorIndex unclustered: scan with the int8 bound", scan, truth);
  run("VectorIndex clustered (default), exact", hashbank::VectorIndexOptions{}, truth);

  // faiss IndexIVFFlat on the same unit vectors, nlist = sqrt(N) (its usual setting; ours has 2 sqrt(N)),
  // trained on 64 points a list.
  omp_set_num_threads(1);
  std::vector<float> unit(bank);
  for (size_t i = 0; i < n; ++i) Normalise(&unit[i * dim], dim);
  const size_t nlist = std::max<size_t>(8, static_cast<size_t>(std::lround(std::sqrt(static_cast<double>(n)))));
  faiss::IndexFlatIP quantizer(static_cast<faiss::Index::idx_t>(dim));
  faiss::IndexIVFFlat ivf(&quantizer, dim, nlist, faiss::METRIC_INNER_PRODUCT);
  ivf.cp.max_points_per_centroid = 64;
  ivf.cp.niter = 10;
  const auto start = Clock::now();
  omp_set_num_threads(2);  // training and adding as ours (faiss uses both cores)
  ivf.train(static_cast<faiss::Index::idx_t>(n), unit.data());
  ivf.add(static_cast<faiss::Index::idx_t>(n), unit.data());
  omp_set_num_threads(1);
  const double build = Seconds(start);
  for (size_t nprobe : {16u, 64u}) {
    ivf.nprobe = nprobe;
    for (int kind = 0; kind < 2; ++kind) {
      Ids got;
      std::vector<float> q(dim), d(10);
      std::vector<faiss::Index::idx_t> ids(10);
      const auto t = Clock::now();
      size_t count = 0;
      for (size_t i = static_cast<size_t>(kind); i < nq; i += 2, ++count) {
        std::copy(queries[i].begin(), queries[i].end(), q.begin());
        Normalise(q.data(), dim);
        ivf.search(1, q.data(), 10, d.data(), ids.data());
        got.emplace_back();
        for (auto id : ids) {
          if (id >= 0) got.back().push_back(static_cast<uint64_t>(id));
        }
      }
      const double qps = static_cast<double>(count) / Seconds(t);
      std::printf("| faiss IndexIVFFlat nlist %zu nprobe %zu (approximate) | %.1f | %.0f | %s | %.0f | %.4f | - |\n", nlist,
                  nprobe, build, static_cast<double>(n * dim * sizeof(float)) / 1e6, kinds[kind], qps,
                  Recall(truth[kind], got));
    }
  }
  return 0;
}
