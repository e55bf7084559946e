// Hashing throughput: decode and hash stages separately, single thread and all cores, for small, ~1 MP and
// 12 MP JPEGs. Baselines measured in the same run: libjpeg-turbo's bare full decode (the floor for any
// bit-exact decoder) and the naive reference-style hash stage (tests/support/pdq_naive.cc).
//
// Usage: hash_bench [seconds-per-measurement]   (default 2)
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "hashing/image_hasher.h"
#include "tests/support/image_encode.h"
#include "tests/support/pdq_naive.h"
#include "tests/support/test_data.h"

namespace {

using Clock = std::chrono::steady_clock;
using hashbank::ImageHasher;
using hashbank::PdqHasher;
using hashbank::PreparedImage;

double SecondsPerCall(double budget_s, const std::function<void()>& fn) {
  fn();  // warm up
  int calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < budget_s);
  return elapsed / calls;
}

// Total calls per second over `threads` threads, each running its own state made by `make`.
double ParallelRate(double budget_s, int threads, const std::function<std::function<void()>()>& make) {
  std::atomic<long> calls{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      auto fn = make();
      fn();
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        fn();
        ++n;
      }
      calls += n;
    });
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(budget_s));
  stop = true;
  for (auto& th : pool) th.join();
  return static_cast<double>(calls.load()) / std::chrono::duration<double>(Clock::now() - start).count();
}

// libjpeg-turbo default full decode to RGB, every scanline, nothing else: the floor.
void BareDecode(const std::vector<uint8_t>& jpeg, std::vector<uint8_t>* row) {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, jpeg.data(), jpeg.size());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  row->resize(static_cast<size_t>(cinfo.output_width) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW r = row->data();
    jpeg_read_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

struct Case {
  std::string name;
  std::vector<uint8_t> jpeg;
  int width, height;
};

}  // namespace

int main(int argc, char** argv) {
  const double budget = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<Case> cases;
  for (auto [w, h] : std::vector<std::pair<int, int>>{{256, 256}, {1024, 768}, {4000, 3000}}) {
    cases.push_back({std::to_string(w) + "x" + std::to_string(h) + " synthetic q90",
                     hashbank::testing::EncodeJpeg(hashbank::testing::SyntheticImage(w, h, 3, 7), w, h, 3, 90), w, h});
  }
  cases.push_back({"1600x1004 bridge photo", hashbank::testing::ReadFileBytes(hashbank::testing::DataPath(
                                                 "pdq-reference/images/reg-test-input/dih/bridge-1-original.jpg")),
                   1600, 1004});

  std::printf("# hash_bench: %d cores, %.1f s per measurement\n\n", cores, budget);
  std::printf("| image | file KB | bare decode ms | our decode ms | our hash ms | naive hash ms | hash speed-up | "
              "PDQ images/s 1 thread | PDQ+MD5+SHA256 images/s 1 thread | images/s %d threads | decode overhead vs bare |\n",
              cores);
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    std::vector<uint8_t> row;
    const double bare = SecondsPerCall(budget, [&] { BareDecode(c.jpeg, &row); });
    PreparedImage prepared;
    const double decode = SecondsPerCall(budget, [&] {
      if (!hashbank::PrepareImageForPdq(c.jpeg, {}, &prepared).ok()) std::abort();
    });
    PdqHasher hasher;
    const double hash = SecondsPerCall(budget, [&] {
      volatile int q = hasher.Hash(prepared.pixels.data(), prepared.width, prepared.height, prepared.channels).quality;
      (void)q;
    });
    const double naive = SecondsPerCall(budget, [&] {
      volatile int q = hashbank::testing::NaivePdq(prepared.pixels.data(), prepared.width, prepared.height,
                                                   prepared.channels, false).quality;
      (void)q;
    });
    const double pdq_only = SecondsPerCall(budget, [&] {
      if (!hashbank::PrepareImageForPdq(c.jpeg, {}, &prepared).ok()) std::abort();
      volatile int q = hasher.Hash(prepared.pixels.data(), prepared.width, prepared.height, prepared.channels).quality;
      (void)q;
    });
    ImageHasher full;
    const double all = SecondsPerCall(budget, [&] {
      if (!full.HashBytes(c.jpeg, false).ok()) std::abort();
    });
    const double parallel = ParallelRate(budget, cores, [&c]() -> std::function<void()> {
      auto h = std::make_shared<ImageHasher>();
      return [h, &c] {
        if (!h->HashBytes(c.jpeg, false).ok()) std::abort();
      };
    });
    std::printf("| %s | %.0f | %.2f | %.2f | %.3f | %.3f | %.1fx | %.1f | %.1f | %.1f | %.3fx |\n", c.name.c_str(),
                static_cast<double>(c.jpeg.size()) / 1024.0, bare * 1e3, decode * 1e3, hash * 1e3, naive * 1e3,
                naive / hash, 1.0 / pdq_only, 1.0 / all, parallel, decode / bare);
    std::fflush(stdout);
  }
  return 0;
}
