// Where sync time goes, without the network: node A (real Bank, RocksDB) exports its log in segments, node
// B verifies and applies them (one durable write each, then its indexes). Baseline in the same run:
// VerifySegment alone on the same bytes.
//
// Usage: sync_bench [entries=200000] [segment=10000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "crypto/federation_salt.h"
#include "node/bank.h"

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200'000;
  const uint64_t seg = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10'000;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("hashbank-sync-bench-" + std::to_string(::getpid()));
  auto salt = hashbank::FederationSalt::FromHex("bench", std::string(64, 'a'));
  auto open = [&](const std::string& id, uint8_t seed_byte) {
    const uint8_t seed[32] = {seed_byte};
    auto key = hashbank::SigningKey::FromSeed(seed);
    hashbank::BankOptions o;
    o.data_dir = (dir / id).string();
    o.node_id = id;
    o.signing_key = std::make_shared<hashbank::SigningKey>(std::move(*key));
    auto bank = hashbank::Bank::Open(std::move(o), std::make_unique<hashbank::Salter>(*salt));
    if (!bank.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(bank.status().message()).c_str());
      std::exit(1);
    }
    return std::move(*bank);
  };
  auto a = open("node-a", 1);
  auto b = open("node-b", 2);
  std::mt19937_64 rng(3);
  for (uint64_t done = 0; done < n; done += 1000) {
    std::vector<hashbank::SignalInput> batch(1000);
    for (auto& in : batch) {
      hashbank::Hash256 h;
      for (auto& l : h.limbs) l = rng();
      in.pdq = h;
      in.quality = 100;
      in.labels = {"ndii"};
    }
    (void)a->SubmitBatch(batch, hashbank::Actor{"bench", hashbank::Role::kAdmin});
  }
  std::vector<std::string> segments;
  auto t = Clock::now();
  for (uint64_t from = 0; from < n; from += seg) {
    auto s = a->ExportSegment("node-a", from, seg);
    if (!s.ok()) {
      std::fprintf(stderr, "export: %s\n", std::string(s.status().message()).c_str());
      return 1;
    }
    segments.push_back(std::move(*s));
  }
  const double export_s = Since(t);
  size_t bytes = 0;
  for (const auto& s : segments) bytes += s.size();
  // Baseline: verification only.
  const uint8_t seed[32] = {1};
  const auto key = hashbank::SigningKey::FromSeed(seed)->public_key();
  t = Clock::now();
  hashbank::TrustedLog trusted;
  for (const auto& s : segments) {
    hashbank::SegmentResult r = hashbank::VerifySegment("node-a", key, trusted, s);
    if (!r.segment.ok()) {
      std::fprintf(stderr, "verify: %s\n", std::string(r.segment.status().message()).c_str());
      return 1;
    }
    trusted.tree = r.segment->tree;
    trusted.checkpoint = r.segment->checkpoint;
  }
  const double verify_s = Since(t);
  t = Clock::now();
  for (const auto& s : segments) {
    auto r = b->ApplySegment("node-a", key, s);
    if (!r.ok()) {
      std::fprintf(stderr, "apply: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
  }
  const double apply_s = Since(t);
  std::printf("# sync_bench: %llu entries, segments of %llu, %.1f MB on the wire\n\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(seg), static_cast<double>(bytes) / 1e6);
  std::printf("| stage | entries/s | vs verify-only baseline |\n|---|---|---|\n");
  std::printf("| verify only (baseline) | %.0f | 1.00x |\n", static_cast<double>(n) / verify_s);
  std::printf("| export at A (range scan, proof, signature, serialise) | %.0f | %.2fx |\n", static_cast<double>(n) / export_s, verify_s / export_s);
  std::printf("| apply at B (verify + one durable write + indexes) | %.0f | %.2fx |\n", static_cast<double>(n) / apply_s, verify_s / apply_s);
  a.reset();
  b.reset();
  fs::remove_all(dir);
  return 0;
}
