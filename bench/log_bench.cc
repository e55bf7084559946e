// Signed-log costs: entries appended to a log and verified per second, checkpoint signing and verification,
// proof sizes. Baseline in the same run: SHA-256 of the same entry bytes (the floor for RFC 9162 hashing).
//
// Usage: log_bench [entries=1000000] [segment=100000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
std::span<const uint8_t> B(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const uint64_t seg = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100'000;
  std::mt19937_64 rng(1);
  const uint8_t seed[32] = {1};
  auto key = hashbank::SigningKey::FromSeed(seed);
  if (!key.ok()) return 1;
  std::vector<std::string> entries;
  entries.reserve(n);
  size_t total_bytes = 0;
  for (uint64_t i = 0; i < n; ++i) {
    hashbank::protocol::Entry e;
    e.set_schema_version(1);
    e.set_origin("node-a");
    e.set_sequence(i + 1);
    e.set_created_at_unix_ms(1795000000000 + static_cast<int64_t>(i));
    auto* s = e.mutable_signal();
    s->set_salt_id("federation-1");
    std::string pdq(32, '\0'), sha(32, '\0');
    for (auto& c : pdq) c = static_cast<char>(rng());
    for (auto& c : sha) c = static_cast<char>(rng());
    s->set_pdq(pdq);
    s->set_pdq_quality(100);
    s->set_sha256(sha);
    s->add_labels("ndii");
    s->set_submitted_by("ngo-1");
    entries.push_back(e.SerializeAsString());
    total_bytes += entries.back().size();
  }
  std::printf("# log_bench: %llu entries of %.0f bytes on average, segments of %llu\n\n",
              static_cast<unsigned long long>(n), static_cast<double>(total_bytes) / static_cast<double>(n),
              static_cast<unsigned long long>(seg));
  // Baseline: SHA-256 of every entry (leaf hashing without the tree).
  auto t = Clock::now();
  uint8_t sink = 0;
  for (const auto& e : entries) sink ^= hashbank::LeafHash(B(e))[0];
  const double sha_s = Since(t);
  // Append: leaf hash + compact tree (what a node does per own entry, minus storage).
  t = Clock::now();
  hashbank::CompactTree tree;
  for (const auto& e : entries) tree.Append(hashbank::LeafHash(B(e)));
  const double append_s = Since(t);
  // Verify: build segments as a peer sends them, then time VerifySegment on the bytes.
  hashbank::InMemoryTree full;
  for (const auto& e : entries) full.Append(hashbank::LeafHash(B(e)));
  double verify_s = 0;
  hashbank::TrustedLog trusted;
  for (uint64_t from = 0; from < n; from += seg) {
    const uint64_t end = std::min(n, from + seg);
    hashbank::protocol::LogSegment s;
    auto root = hashbank::SubtreeHash(0, end, full);
    if (!root.ok()) return 1;
    s.mutable_checkpoint()->ParseFromString(hashbank::SignCheckpoint("node-a", end, *root, 1, *key).signed_bytes);
    s.set_first_index(from);
    for (uint64_t i = from; i < end; ++i) s.add_leaves()->set_entry(entries[i]);
    if (from > 0) {
      auto proof = hashbank::ConsistencyProof(from, end, full);
      if (!proof.ok()) return 1;
      for (const auto& h : *proof) s.add_consistency_proof(std::string(h.begin(), h.end()));
    }
    const std::string bytes = s.SerializeAsString();
    t = Clock::now();
    hashbank::SegmentResult r = hashbank::VerifySegment("node-a", key->public_key(), trusted, bytes);
    verify_s += Since(t);
    if (!r.segment.ok()) {
      std::fprintf(stderr, "%s\n", std::string(r.segment.status().message()).c_str());
      return 1;
    }
    trusted.tree = r.segment->tree;
    trusted.checkpoint = r.segment->checkpoint;
  }
  // Checkpoints.
  const int reps = 20000;
  t = Clock::now();
  std::string last;
  for (int i = 0; i < reps; ++i) last = hashbank::SignCheckpoint("node-a", n, tree.Root(), i, *key).signed_bytes;
  const double sign_s = Since(t) / reps;
  t = Clock::now();
  for (int i = 0; i < reps; ++i) {
    if (!hashbank::VerifyCheckpoint(last, "node-a", key->public_key()).ok()) return 1;
  }
  const double verify_cp_s = Since(t) / reps;
  const size_t inclusion = hashbank::InclusionProofLength(n / 2, n);
  const size_t consistency = hashbank::ConsistencyProofLength(n / 3, n);
  std::printf("| measurement | value | vs SHA-256 baseline |\n|---|---|---|\n");
  std::printf("| SHA-256 of the entries (baseline) | %.0f entries/s | 1.00x |\n", static_cast<double>(n) / sha_s);
  std::printf("| append: leaf hash + compact tree | %.0f entries/s | %.2fx |\n", static_cast<double>(n) / append_s, sha_s / append_s);
  std::printf("| verify segments (parse, entry checks, leaf hashes, tree, proof, signature) | %.0f entries/s | %.2fx |\n",
              static_cast<double>(n) / verify_s, sha_s / verify_s);
  std::printf("| checkpoint signing | %.0f /s (%.1f us) | |\n", 1.0 / sign_s, sign_s * 1e6);
  std::printf("| checkpoint verification | %.0f /s (%.1f us) | |\n", 1.0 / verify_cp_s, verify_cp_s * 1e6);
  std::printf("| signed checkpoint size | %zu bytes | |\n", last.size());
  std::printf("| inclusion proof at %llu entries | %zu hashes = %zu bytes | |\n", static_cast<unsigned long long>(n),
              inclusion, inclusion * 32);
  std::printf("| consistency proof %llu -> %llu | %zu hashes = %zu bytes | |\n", static_cast<unsigned long long>(n / 3),
              static_cast<unsigned long long>(n), consistency, consistency * 32);
  return sink == 255 ? 2 : 0;
}
