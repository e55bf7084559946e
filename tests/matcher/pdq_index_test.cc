// PdqIndex must return exactly what a brute-force scan returns (recall 1.0, exact distances, no duplicates),
// at every radius, on random and clustered data, on the reference's MIH data, and after churn.
#include "matcher/pdq_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/test_data.h"

namespace hashbank {
namespace {

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (auto& l : h.limbs) l = rng();
  return h;
}

Hash256 FlipBits(Hash256 h, int bits, std::mt19937_64& rng) {
  std::set<int> chosen;
  while (static_cast<int>(chosen.size()) < bits) chosen.insert(static_cast<int>(rng() % 256));
  for (int k : chosen) h.limbs[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
  return h;
}

using Entries = std::vector<std::pair<Hash256, uint64_t>>;

std::vector<PdqMatch> BruteForce(const Entries& entries, const Hash256& q, int r) {
  std::vector<PdqMatch> out;
  for (const auto& [h, id] : entries) {
    const int d = HammingDistance(h, q);
    if (d <= r) out.push_back({id, d});
  }
  std::sort(out.begin(), out.end(), [](const PdqMatch& a, const PdqMatch& b) {
    return std::tie(a.distance, a.id) < std::tie(b.distance, b.id);
  });
  return out;
}

// 80 % random hashes, 20 % near-duplicates (1..30 bits flipped) of earlier ones, plus a few exact copies.
Entries ClusteredBank(size_t n, std::mt19937_64& rng) {
  Entries e;
  for (uint64_t id = 0; id < n; ++id) {
    const uint64_t kind = rng() % 100;
    if (e.empty() || kind < 80) {
      e.push_back({RandomHash(rng), id});
    } else if (kind < 98) {
      e.push_back({FlipBits(e[rng() % e.size()].first, 1 + static_cast<int>(rng() % 30), rng), id});
    } else {
      e.push_back({e[rng() % e.size()].first, id});  // identical hash, different id
    }
  }
  return e;
}

std::vector<Hash256> Queries(const Entries& bank, size_t n, std::mt19937_64& rng) {
  std::vector<Hash256> q;
  for (size_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      q.push_back(FlipBits(bank[rng() % bank.size()].first, static_cast<int>(rng() % 40), rng));
    } else {
      q.push_back(RandomHash(rng));
    }
  }
  return q;
}

class PdqIndexRadiusTest : public ::testing::TestWithParam<int> {};

TEST_P(PdqIndexRadiusTest, BulkLoadedIndexEqualsBruteForce) {
  const int r = GetParam();
  std::mt19937_64 rng(1234 + static_cast<uint64_t>(r));
  const Entries bank = ClusteredBank(30000, rng);
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(bank).ok());
  EXPECT_EQ(index.size(), bank.size());
  size_t total = 0;
  for (const Hash256& q : Queries(bank, 300, rng)) {
    const auto want = BruteForce(bank, q, r);
    ASSERT_EQ(index.Query(q, r), want);
    total += want.size();
  }
  if (r >= 16) {
    EXPECT_GT(total, 30u);  // the near-duplicate queries really do match
  }
}

TEST_P(PdqIndexRadiusTest, IncrementallyBuiltIndexEqualsBruteForce) {
  const int r = GetParam();
  std::mt19937_64 rng(99 + static_cast<uint64_t>(r));
  const Entries bank = ClusteredBank(5000, rng);
  PdqIndex index;
  for (const auto& [h, id] : bank) ASSERT_TRUE(index.Insert(h, id).ok());
  for (const Hash256& q : Queries(bank, 200, rng)) ASSERT_EQ(index.Query(q, r), BruteForce(bank, q, r));
}

INSTANTIATE_TEST_SUITE_P(Radii, PdqIndexRadiusTest, ::testing::Values(0, 1, 15, 16, 31, 32, 47, 63, 64, 100));

TEST(PdqIndexTest, EveryNearDuplicateUpTo31BitsIsFound) {
  // Adversarial placement: a neighbour whose 31 differing bits are spread to make every segment distance
  // as even as possible (1 or 2 per segment) is exactly the case the pigeonhole has least slack for.
  std::mt19937_64 rng(5);
  PdqIndex index;
  Entries bank;
  for (uint64_t id = 0; id < 2000; ++id) bank.push_back({RandomHash(rng), id});
  ASSERT_TRUE(index.BulkLoad(bank).ok());
  for (int trial = 0; trial < 500; ++trial) {
    const auto& [target, id] = bank[rng() % bank.size()];
    Hash256 q = target;
    const int flips = 31;
    const int offset = static_cast<int>(rng() % 16);
    for (int k = 0; k < flips; ++k) {
      const int seg = (offset + k) % 16;
      const int bit = (k / 16) * 7 + static_cast<int>(rng() % 7);
      const int pos = seg * 16 + bit;
      q.limbs[static_cast<size_t>(pos / 64)] ^= uint64_t{1} << (pos % 64);
    }
    ASSERT_EQ(HammingDistance(q, target), 31);
    const auto got = index.Query(q, 31);
    ASSERT_TRUE(std::any_of(got.begin(), got.end(), [id = id](const PdqMatch& m) { return m.id == id && m.distance == 31; }));
  }
}

// mih-query output: "needle=HASH", then "d=DIST,match=HASH,idx=N" (1-based haystack line), blank line between.
std::set<std::tuple<size_t, uint64_t, int>> ParseMihOutput(const std::string& text) {
  std::set<std::tuple<size_t, uint64_t, int>> out;
  std::istringstream in(text);
  std::string line;
  long needle = -1;
  while (std::getline(in, line)) {
    if (line.rfind("needle=", 0) == 0) {
      ++needle;
    } else if (line.rfind("d=", 0) == 0) {
      const int d = std::stoi(line.substr(2));
      const uint64_t idx = std::stoull(line.substr(line.rfind("idx=") + 4));
      out.insert({static_cast<size_t>(needle), idx - 1, d});
    }
  }
  return out;
}

std::vector<Hash256> ReadHashLines(const std::string& path) {
  std::vector<Hash256> out;
  std::istringstream in(testing::ReadFileText(path));
  std::string line;
  while (std::getline(in, line)) {
    auto h = Hash256::FromHex(line.substr(0, 64));
    if (h.ok()) out.push_back(*h);
  }
  return out;
}

TEST(PdqIndexTest, ReproducesTheReferenceMihQueryResults) {
  const auto haystack = ReadHashLines(testing::DataPath("pdq-reference/mih/haystack.txt"));
  const auto needles = ReadHashLines(testing::DataPath("pdq-reference/mih/needles.txt"));
  ASSERT_EQ(haystack.size(), 1350u);
  ASSERT_EQ(needles.size(), 100u);
  Entries bank;
  for (uint64_t i = 0; i < haystack.size(); ++i) bank.push_back({haystack[i], i});
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(bank).ok());
  for (int d : {0, 10, 31, 32, 63}) {
    SCOPED_TRACE(d);
    const auto want = ParseMihOutput(
        testing::ReadFileText(testing::DataPath("pdq-reference/mih/expected-mih-query-d" + std::to_string(d) + ".txt")));
    std::set<std::tuple<size_t, uint64_t, int>> got;
    for (size_t n = 0; n < needles.size(); ++n) {
      for (const PdqMatch& m : index.Query(needles[n], d)) got.insert({n, m.id, m.distance});
    }
    EXPECT_EQ(got, want);
    if (d == 32) {
      EXPECT_EQ(got.size(), 250u);  // the true count the reference data's README gives
    }
  }
  // Radius 16 has no reference file: brute force is the oracle.
  for (const Hash256& q : needles) EXPECT_EQ(index.Query(q, 16), BruteForce(bank, q, 16));
}

TEST(PdqIndexTest, ChurnKeepsResultsExact) {
  std::mt19937_64 rng(77);
  Entries initial = ClusteredBank(8000, rng);
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(initial).ok());
  std::map<uint64_t, Hash256> live;
  for (const auto& [h, id] : initial) live[id] = h;
  uint64_t next_id = initial.size();
  for (int round = 0; round < 20; ++round) {
    // Remove a few hundred (including some that were inserted after the bulk load), insert a few hundred,
    // some of them near-duplicates or exact copies of live hashes.
    for (int k = 0; k < 300 && !live.empty(); ++k) {
      auto it = live.lower_bound(rng() % next_id);
      if (it == live.end()) it = live.begin();
      ASSERT_TRUE(index.Remove(it->second, it->first).ok());
      live.erase(it);
    }
    for (int k = 0; k < 300; ++k) {
      Hash256 h = RandomHash(rng);
      if (k % 3 == 1 && !live.empty()) h = FlipBits(live.lower_bound(rng() % next_id)->second, static_cast<int>(rng() % 20), rng);
      if (k % 10 == 2 && !live.empty()) h = live.begin()->second;
      ASSERT_TRUE(index.Insert(h, next_id).ok());
      live[next_id++] = h;
    }
    Entries bank;
    for (const auto& [id, h] : live) bank.push_back({h, id});
    ASSERT_EQ(index.size(), bank.size());
    for (const Hash256& q : Queries(bank, 40, rng)) {
      for (int r : {0, 31, 63}) ASSERT_EQ(index.Query(q, r), BruteForce(bank, q, r)) << "round " << round;
    }
  }
}

// InsertBatch must leave the index exactly as one Insert per pair would: batches small against the index
// (postings added in bucket order) and large ones (tables laid out afresh), mixed with removals, with
// hashes repeated inside a batch, already indexed, and pairs already present (skipped and counted).
TEST(PdqIndexTest, BatchedInsertsEqualBruteForceThroughGrowthAndChurn) {
  std::mt19937_64 rng(505);
  PdqIndex index;
  std::map<uint64_t, Hash256> live;
  uint64_t next_id = 0;
  // Batch sizes: large against an empty or small index first (re-layout path), then small ones.
  for (size_t batch_size : {20000u, 30000u, 500u, 3000u, 1u, 700u, 12000u, 250u}) {
    Entries batch;
    for (size_t k = 0; k < batch_size; ++k) {
      Hash256 h = RandomHash(rng);
      if (k % 5 == 1 && !live.empty()) h = FlipBits(live.lower_bound(rng() % next_id)->second, static_cast<int>(rng() % 25), rng);
      if (k % 17 == 3 && !live.empty()) h = live.lower_bound(rng() % next_id)->second;  // already indexed hash
      if (k % 13 == 4 && !batch.empty()) h = batch.back().first;  // repeated inside the batch
      batch.push_back({h, next_id});
      live[next_id++] = h;
    }
    size_t repeats = 0;
    if (!live.empty() && batch_size > 1) {  // pairs already present: skipped, not duplicated
      const auto& old = *live.begin();
      batch.push_back({old.second, old.first});
      batch.push_back(batch.front());
      repeats = 2;
    }
    auto skipped = index.InsertBatch(batch);
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    EXPECT_EQ(*skipped, repeats);
    // Remove a few, so free slots are reused by the next batch.
    for (int k = 0; k < 200 && !live.empty(); ++k) {
      auto it = live.lower_bound(rng() % next_id);
      if (it == live.end()) it = live.begin();
      ASSERT_TRUE(index.Remove(it->second, it->first).ok());
      live.erase(it);
    }
    Entries bank;
    for (const auto& [id, h] : live) bank.push_back({h, id});
    ASSERT_EQ(index.size(), bank.size());
    for (const Hash256& q : Queries(bank, 60, rng)) {
      for (int r : {0, 16, 31, 63}) ASSERT_EQ(index.Query(q, r), BruteForce(bank, q, r)) << "batch of " << batch_size;
    }
  }
  EXPECT_EQ(index.InsertBatch(Entries{{RandomHash(rng), ~uint64_t{0}}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PdqIndexTest, IdenticalHashesKeepEveryId) {
  std::mt19937_64 rng(3);
  const Hash256 h = RandomHash(rng);
  PdqIndex index;
  ASSERT_TRUE(index.Insert(h, 1).ok());
  ASSERT_TRUE(index.Insert(h, 2).ok());
  ASSERT_TRUE(index.Insert(h, 3).ok());
  EXPECT_EQ(index.unique_hashes(), 1u);
  EXPECT_EQ(index.Insert(h, 2).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index.Query(h, 0), (std::vector<PdqMatch>{{1, 0}, {2, 0}, {3, 0}}));
  ASSERT_TRUE(index.Remove(h, 1).ok());  // the first id goes; the others stay
  EXPECT_EQ(index.Query(h, 0), (std::vector<PdqMatch>{{2, 0}, {3, 0}}));
  EXPECT_EQ(index.Remove(h, 1).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(index.Remove(h, 3).ok());
  ASSERT_TRUE(index.Remove(h, 2).ok());
  EXPECT_TRUE(index.Query(h, 0).empty());
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Remove(RandomHash(rng), 9).code(), absl::StatusCode::kNotFound);
}

TEST(PdqIndexTest, BulkLoadDropsDuplicatePairsAndNeedsAnEmptyIndex) {
  std::mt19937_64 rng(4);
  const Hash256 a = RandomHash(rng), b = RandomHash(rng);
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(Entries{{a, 1}, {a, 1}, {a, 2}, {b, 3}}).ok());
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.unique_hashes(), 2u);
  EXPECT_EQ(index.BulkLoad(Entries{{b, 4}}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PdqIndexTest, DihedralQueryReportsEachIdOnceWithTheClosestTransform) {
  std::mt19937_64 rng(6);
  std::array<Hash256, kNumDihedral> dih;
  for (auto& h : dih) h = RandomHash(rng);
  PdqIndex index;
  ASSERT_TRUE(index.Insert(FlipBits(dih[2], 5, rng), 10).ok());  // near rot180 only
  ASSERT_TRUE(index.Insert(dih[0], 11).ok());                     // exactly orig
  ASSERT_TRUE(index.Insert(RandomHash(rng), 12).ok());            // unrelated
  const auto got = index.QueryDihedral(dih, 31);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, 11u);
  EXPECT_EQ(got[0].distance, 0);
  EXPECT_EQ(got[0].transform, Dihedral::kOrig);
  EXPECT_EQ(got[1].id, 10u);
  EXPECT_EQ(got[1].distance, 5);
  EXPECT_EQ(got[1].transform, Dihedral::kRot180);
}

TEST(PdqIndexTest, BatchQueryEqualsSingleQueries) {
  std::mt19937_64 rng(8);
  const Entries bank = ClusteredBank(3000, rng);
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(bank).ok());
  const auto queries = Queries(bank, 50, rng);
  const auto batch = index.QueryBatch(queries, 31);
  ASSERT_EQ(batch.size(), queries.size());
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(batch[i], index.Query(queries[i], 31));
}

TEST(PdqIndexTest, ConcurrentReadersSeeStableEntriesWhileAWriterChurns) {
  std::mt19937_64 rng(9);
  const Entries stable = ClusteredBank(4000, rng);
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(stable).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 wrng(10);
    uint64_t id = 1'000'000;
    while (!stop) {
      const Hash256 h = RandomHash(wrng);
      if (!index.Insert(h, id).ok() || !index.Remove(h, id).ok()) std::abort();
      ++id;
    }
  });
  const auto queries = Queries(stable, 200, rng);
  for (const Hash256& q : queries) {
    auto got = index.Query(q, 31);
    std::erase_if(got, [](const PdqMatch& m) { return m.id >= 1'000'000; });
    ASSERT_EQ(got, BruteForce(stable, q, 31));
  }
  stop = true;
  writer.join();
}

TEST(PdqIndexTest, MemoryIsAccountedPerEntry) {
  std::mt19937_64 rng(11);
  Entries bank;
  for (uint64_t id = 0; id < 100000; ++id) bank.push_back({RandomHash(rng), id});
  PdqIndex index;
  ASSERT_TRUE(index.BulkLoad(bank).ok());
  // 16 x 8-byte postings + 32-byte hash + 8-byte id = 168 bytes per distinct hash, plus fixed tables
  // (16 x 65537 8-byte bucket records).
  const size_t fixed = 16 * 65537 * 8;
  EXPECT_GE(index.MemoryBytes(), bank.size() * 168 + fixed);
  EXPECT_LE(index.MemoryBytes(), bank.size() * 168 + fixed + (1 << 20));
}

}  // namespace
}  // namespace hashbank
