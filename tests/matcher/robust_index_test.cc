// RobustIndex (matcher/robust_index.h) on synthetic fingerprints: random descriptors, so which fingerprints a
// query shares features with, and how many, is known exactly.
#include "matcher/robust_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "hashing/robust_fingerprint.h"

namespace hashbank {
namespace {

std::vector<LocalFeature> RandomFingerprint(std::mt19937_64& rng, size_t n = 64) {
  std::vector<LocalFeature> out(n);
  for (LocalFeature& f : out) {
    for (uint64_t& limb : f.descriptor) limb = rng();
    f.x = static_cast<uint16_t>(500 + rng() % 3000);
    f.y = static_cast<uint16_t>(500 + rng() % 3000);
  }
  return out;
}

void FlipBits(std::mt19937_64& rng, int n, LocalFeature* f) {
  std::set<int> bits;
  while (static_cast<int>(bits.size()) < n) bits.insert(static_cast<int>(rng() % 256));
  for (int k : bits) f->descriptor[static_cast<size_t>(k / 64)] ^= uint64_t{1} << (k % 64);
}

// The fingerprint's features seen in an edited copy: scaled by 0.8, turned 10 degrees, moved, up to 8 bits of
// each descriptor flipped (a real edit changes about 12 %, 30 bits, of a matching pair; 8 keeps every 24-bit key
// of a feature intact with probability 0.46, so a few features lose all their keys), and 300 features of other
// content mixed in.
std::vector<LocalFeature> EditedCopy(std::mt19937_64& rng, const std::vector<LocalFeature>& fp) {
  const double t = 10 * std::numbers::pi / 180, c = 0.8 * std::cos(t), s = 0.8 * std::sin(t);
  std::vector<LocalFeature> out;
  for (LocalFeature f : fp) {
    const double x = c * f.x - s * f.y + 600, y = s * f.x + c * f.y + 100;
    f.x = static_cast<uint16_t>(std::lround(x));
    f.y = static_cast<uint16_t>(std::lround(y));
    FlipBits(rng, static_cast<int>(rng() % 9), &f);
    out.push_back(f);
  }
  for (const LocalFeature& f : RandomFingerprint(rng, 300)) out.push_back(f);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<uint64_t> Ids(const std::vector<RobustIndex::Hit>& hits) {
  std::vector<uint64_t> ids;
  for (const RobustIndex::Hit& h : hits) ids.push_back(h.id);
  return ids;
}

class RobustIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(42);
    for (int i = 0; i < 300; ++i) fingerprints_.push_back(RandomFingerprint(rng));
  }
  void InsertAll(RobustIndex* index, bool bulk = false) {
    for (size_t id = 0; id < fingerprints_.size(); ++id) ASSERT_TRUE(index->Insert(id, fingerprints_[id], bulk).ok());
    if (bulk) index->FinishBulk();
  }
  std::vector<std::vector<LocalFeature>> fingerprints_;
};

TEST_F(RobustIndexTest, EditedCopyFindsExactlyItsFingerprint) {
  RobustIndex index;
  InsertAll(&index);
  EXPECT_EQ(index.size(), 300u);
  std::mt19937_64 rng(1);
  for (uint64_t id : {uint64_t{0}, uint64_t{17}, uint64_t{150}, uint64_t{299}}) {
    const std::vector<LocalFeature> query = EditedCopy(rng, fingerprints_[id]);
    const std::vector<RobustIndex::Hit> hits = index.Query(query, {});
    ASSERT_EQ(Ids(hits), std::vector<uint64_t>{id});
    EXPECT_FALSE(hits[0].mirrored);
    EXPECT_TRUE(hits[0].verdict.match);
    EXPECT_GE(hits[0].verdict.inliers, 50) << "of 64 shared";
    // Stored coordinates are 1/256 cells (16 units): the transform is good to a couple of degrees and percent.
    EXPECT_NEAR(hits[0].verdict.scale, 0.8, 0.02);
    EXPECT_NEAR(hits[0].verdict.rotation_degrees, 10, 2.0);
    EXPECT_GE(hits[0].votes, 50);
    // The search's shortlist has it first, and nothing else (no other fingerprint shares a feature).
    const auto candidates = index.Candidates(query, RobustIndex::kDefaultCandidates);
    ASSERT_EQ(candidates.size(), 1u);
    EXPECT_EQ(candidates[0].first, id);
    // Through the mirrored query's slot the hit says so.
    const std::vector<RobustIndex::Hit> mirrored = index.Query({}, query);
    ASSERT_EQ(Ids(mirrored), std::vector<uint64_t>{id});
    EXPECT_TRUE(mirrored[0].mirrored);
  }
  // Features of no banked image find nothing.
  EXPECT_TRUE(index.Query(RandomFingerprint(rng, 500), RandomFingerprint(rng, 500)).empty());
}

TEST_F(RobustIndexTest, CandidatesAreOrderedByTheNumberOfSharedFeatures) {
  RobustIndex index;
  InsertAll(&index);
  // 30 features of fingerprint 5, 20 of 77, 5 of 200, one of 9 (below kMinVotes), unchanged: one vote each.
  std::vector<LocalFeature> query;
  auto take = [&](size_t id, size_t n) {
    for (size_t i = 0; i < n; ++i) query.push_back(fingerprints_[id][i]);
  };
  take(5, 30);
  take(77, 20);
  take(200, 5);
  take(9, 1);
  std::mt19937_64 rng(2);
  std::shuffle(query.begin(), query.end(), rng);
  const auto candidates = index.Candidates(query, RobustIndex::kDefaultCandidates);
  const std::vector<std::pair<uint64_t, int>> want = {{5, 30}, {77, 20}, {200, 5}};
  EXPECT_EQ(candidates, want);
  EXPECT_EQ(index.Candidates(query, 2), (std::vector<std::pair<uint64_t, int>>{{5, 30}, {77, 20}}));
  // A feature posted under several keys votes once.
  std::vector<LocalFeature> twice = query;
  twice.insert(twice.end(), query.begin(), query.end());
  EXPECT_EQ(index.Candidates(twice, RobustIndex::kDefaultCandidates),
            (std::vector<std::pair<uint64_t, int>>{{5, 60}, {77, 40}, {200, 10}, {9, 2}}));
}

// A pattern common to many banked fingerprints (here 40 features shared by 10 of them) would out-vote a true
// match by counting, and push it out of a short list; its votes are split among the fingerprints that share
// it, so the image with 25 features of its own ranks first.
TEST_F(RobustIndexTest, ACommonPatternCountsLittleAgainstFeaturesOfOneImage) {
  std::mt19937_64 rng(12);
  const std::vector<LocalFeature> common = RandomFingerprint(rng, 40);
  RobustIndex index;
  for (uint64_t id = 0; id < 10; ++id) {
    std::vector<LocalFeature> fp = common;
    for (const LocalFeature& f : RandomFingerprint(rng, 24)) fp.push_back(f);
    ASSERT_TRUE(index.Insert(id, fp).ok());
  }
  const std::vector<LocalFeature> own = RandomFingerprint(rng, 64);
  ASSERT_TRUE(index.Insert(99, own).ok());
  std::vector<LocalFeature> query = common;
  query.insert(query.end(), own.begin(), own.begin() + 25);
  const auto candidates = index.Candidates(query, 5);
  ASSERT_EQ(candidates.size(), 5u);
  EXPECT_EQ(candidates[0], (std::pair<uint64_t, int>{99, 25}));
  EXPECT_EQ(candidates[1], (std::pair<uint64_t, int>{0, 40})) << "more votes, but each a tenth";
}

// A query far larger than an image's (80 fingerprints' features, each found under all 6 keys: tens of
// thousands of key hits, which the search handles in several rounds): every fingerprint gets exactly one vote
// per feature, as for a small query.
TEST_F(RobustIndexTest, AVeryLargeQueryCountsEachFeatureOnce) {
  RobustIndex index;
  InsertAll(&index);
  std::vector<LocalFeature> query;
  std::vector<std::pair<uint64_t, int>> want;
  for (size_t id = 100; id < 180; ++id) {
    const size_t n = 10 + id % 50;  // distinct counts, so the order is known
    for (size_t i = 0; i < n; ++i) query.push_back(fingerprints_[id][i]);
    want.emplace_back(id, static_cast<int>(n));
  }
  std::mt19937_64 rng(4);
  std::shuffle(query.begin(), query.end(), rng);
  std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  EXPECT_EQ(index.Candidates(query, 1000), want);
}

// The search against its definition (robust_index.h), computed here by brute force, in buckets crowded
// enough that finding a key takes a binary search of many steps: every banked feature shares table 0's bucket
// (its key's top 16 bits) with half of all features, and its key's low byte is one of 128 values, so a query
// key either has a run of about 100 postings there or none (the other 128 values). A query feature votes once
// for each fingerprint with a feature under one of its 6 keys, in a run no longer than kMinRunCap, whose 24
// check bits (descriptor bytes 29, 30 and 31) differ from the query feature's in at most 4; a fingerprint's
// score sums 1 / (the fingerprints that feature votes for) over its votes, and the shortlist is the
// fingerprints of at least kMinVotes votes by score.
TEST_F(RobustIndexTest, CandidatesMatchABruteForceVoteInCrowdedBuckets) {
  std::mt19937_64 rng(11);
  auto byte = [](const LocalFeature& f, size_t b) { return static_cast<uint32_t>((f.descriptor[b / 8] >> (8 * (b % 8))) & 0xFF); };
  auto set_byte = [](LocalFeature* f, size_t b, uint64_t v) {
    f->descriptor[b / 8] = (f->descriptor[b / 8] & ~(uint64_t{0xFF} << (8 * (b % 8)))) | (v << (8 * (b % 8)));
  };
  std::vector<std::vector<LocalFeature>> banked;
  for (int i = 0; i < 400; ++i) {
    std::vector<LocalFeature> fp = RandomFingerprint(rng);
    for (LocalFeature& f : fp) {
      set_byte(&f, 0, 0x5A);
      set_byte(&f, 1, rng() % 2);
      set_byte(&f, 2, rng() % 128);
      // Check bits 0-9 apart, so the threshold of 4 decides many votes either way.
      set_byte(&f, 29, rng() % 8);
      set_byte(&f, 30, rng() % 4);
      set_byte(&f, 31, rng() % 16);
    }
    banked.push_back(std::move(fp));
  }
  RobustIndex index;
  for (size_t id = 0; id < banked.size(); ++id) ASSERT_TRUE(index.Insert(id, banked[id]).ok());
  // The query: 8-40 features of 20 fingerprints, up to 24 bits flipped each (some changing a key or the check
  // bits), and 200 features of no fingerprint, half under a crowded bucket's key
  // bytes absent from it.
  std::vector<LocalFeature> query;
  for (int k = 0; k < 20; ++k) {
    const std::vector<LocalFeature>& fp = banked[rng() % banked.size()];
    const size_t n = 8 + rng() % 33;
    for (size_t i = 0; i < n; ++i) {
      LocalFeature f = fp[rng() % fp.size()];
      FlipBits(rng, static_cast<int>(rng() % 25), &f);
      query.push_back(f);
    }
  }
  for (int k = 0; k < 200; ++k) {
    LocalFeature f = RandomFingerprint(rng, 1)[0];
    if (k % 2 == 0) {
      set_byte(&f, 0, 0x5A);
      set_byte(&f, 1, rng() % 2);
      set_byte(&f, 2, 128 + rng() % 128);
    }
    query.push_back(f);
  }
  std::shuffle(query.begin(), query.end(), rng);
  std::map<uint64_t, int> votes;
  std::map<uint64_t, float> score;
  for (const LocalFeature& q : query) {
    std::set<uint64_t> voted;
    for (size_t t = 0; t < static_cast<size_t>(RobustIndex::kDefaultTables); ++t) {
      std::vector<std::pair<uint64_t, size_t>> run;  // (id, feature) under q's key t
      for (uint64_t id = 0; id < banked.size(); ++id) {
        for (size_t j = 0; j < banked[id].size(); ++j) {
          bool same = true;
          for (size_t b = 3 * t; b < 3 * t + 3; ++b) same = same && byte(banked[id][j], b) == byte(q, b);
          if (same) run.emplace_back(id, j);
        }
      }
      if (run.size() > RobustIndex::kMinRunCap) continue;
      for (const auto& [id, j] : run) {
        const LocalFeature& f = banked[id][j];
        int check = 0;
        for (size_t b = 29; b < 32; ++b) check += std::popcount(byte(f, b) ^ byte(q, b));
        if (check <= 4) voted.insert(id);
      }
    }
    for (uint64_t id : voted) {
      ++votes[id];
      score[id] += 1.0f / static_cast<float>(voted.size());
    }
  }
  std::vector<std::pair<uint64_t, int>> want;
  for (const auto& [id, n] : votes) {
    if (n >= RobustIndex::kMinVotes) want.emplace_back(id, n);
  }
  std::sort(want.begin(), want.end(), [&](const auto& a, const auto& b) {
    return score[a.first] != score[b.first] ? score[a.first] > score[b.first] : a.first < b.first;
  });
  ASSERT_GE(want.size(), 15u);  // the case is not trivial: most of the 20 fingerprints keep enough votes
  EXPECT_EQ(index.Candidates(query, 100000), want);
}

TEST_F(RobustIndexTest, RemovedFingerprintIsNoLongerFound) {
  RobustIndex index;
  InsertAll(&index);
  std::mt19937_64 rng(3);
  const std::vector<LocalFeature> query = EditedCopy(rng, fingerprints_[42]);
  ASSERT_EQ(Ids(index.Query(query, {})), std::vector<uint64_t>{42});
  index.Remove(42);
  EXPECT_EQ(index.size(), 299u);
  EXPECT_TRUE(index.Query(query, query).empty());
  EXPECT_TRUE(index.Candidates(query, 100).empty());
  // Removing it again, or an id never inserted, changes nothing.
  index.Remove(42);
  index.Remove(100000);
  EXPECT_EQ(index.size(), 299u);
  // The others are untouched.
  EXPECT_EQ(Ids(index.Query(EditedCopy(rng, fingerprints_[43]), {})), std::vector<uint64_t>{43});
  // And the id can be used again.
  ASSERT_TRUE(index.Insert(42, fingerprints_[42]).ok());
  EXPECT_EQ(Ids(index.Query(query, {})), std::vector<uint64_t>{42});
  EXPECT_EQ(index.size(), 300u);
}

// The node's bank keeps no fingerprint in the index: the few a query verifies are read through the loader,
// and the answers are those of an index that keeps them.
TEST_F(RobustIndexTest, WithALoaderFingerprintsAreReadNotKept) {
  std::map<uint64_t, std::string> store;
  int loads = 0;
  RobustIndex kept;
  RobustIndex loaded(RobustIndex::kDefaultTables, [&](uint64_t id) -> absl::StatusOr<std::string> {
    ++loads;
    auto it = store.find(id);
    if (it == store.end()) return absl::NotFoundError("gone");
    return it->second;
  });
  const size_t empty = loaded.MemoryBytes();
  for (size_t id = 0; id < fingerprints_.size(); ++id) {
    auto encoded = EncodeRobust(fingerprints_[id]);
    ASSERT_TRUE(encoded.ok());
    store[id] = *encoded;
    ASSERT_TRUE(kept.InsertEncoded(id, *encoded, /*bulk=*/true).ok());
    ASSERT_TRUE(loaded.InsertEncoded(id, *encoded, /*bulk=*/true).ok());
  }
  kept.FinishBulk();
  loaded.FinishBulk();
  EXPECT_TRUE(absl::IsAlreadyExists(loaded.InsertEncoded(5, store[5])));
  // Postings only after a bulk load (buckets exact): 6 x 8 bytes a feature, a presence bit an id, no 34-byte
  // feature encodings.
  const size_t postings = 300 * 64 * RobustIndex::kDefaultTables * 8;
  EXPECT_GE(loaded.MemoryBytes() - empty, postings);
  EXPECT_LE(loaded.MemoryBytes() - empty, postings + 1024);
  EXPECT_GE(kept.MemoryBytes() - loaded.MemoryBytes(), 300u * 34 * 64);

  std::mt19937_64 rng(8);
  const std::vector<LocalFeature> query = EditedCopy(rng, fingerprints_[17]);
  const std::vector<RobustIndex::Hit> want = kept.Query(query, query);
  ASSERT_EQ(Ids(want), std::vector<uint64_t>{17});
  const std::vector<RobustIndex::Hit> got = loaded.Query(query, query);
  ASSERT_EQ(Ids(got), std::vector<uint64_t>{17});
  EXPECT_EQ(got[0].verdict.inliers, want[0].verdict.inliers);
  EXPECT_EQ(got[0].mirrored, want[0].mirrored);
  EXPECT_EQ(loads, 1) << "a candidate of both orientations is read once";

  // Gone from the store (purged while the vote ran): still voted for, but not verified, not a match.
  const std::string encoded17 = store[17];
  store.erase(17);
  EXPECT_EQ(loaded.Candidates(query, 10).front().first, 17u);
  EXPECT_TRUE(loaded.Query(query, query).empty());

  // Removed with its encoding: its postings go.
  loaded.Remove(17, encoded17);
  EXPECT_TRUE(loaded.Candidates(query, 10).empty());
  EXPECT_EQ(loaded.size(), 299u);
  // Removed without it: the postings stay, and vote for nothing.
  const std::vector<LocalFeature> query18 = EditedCopy(rng, fingerprints_[18]);
  ASSERT_EQ(loaded.Candidates(query18, 10).front().first, 18u);
  loaded.Remove(18);
  EXPECT_TRUE(loaded.Candidates(query18, 10).empty());
  EXPECT_TRUE(loaded.Query(query18, query18).empty());
  EXPECT_EQ(loaded.size(), 298u);
}

TEST_F(RobustIndexTest, BulkLoadAnswersLikeIncrementalInserts) {
  RobustIndex incremental, bulk;
  // Incremental inserts in a shuffled order, so the sorted buckets are built differently.
  std::vector<size_t> order(fingerprints_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(4);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t id : order) ASSERT_TRUE(incremental.Insert(id, fingerprints_[id]).ok());
  InsertAll(&bulk, /*bulk=*/true);
  EXPECT_EQ(bulk.size(), incremental.size());
  for (int q = 0; q < 10; ++q) {
    // Parts of three fingerprints, edited.
    std::vector<LocalFeature> query;
    for (int k = 0; k < 3; ++k) {
      const std::vector<LocalFeature> part = EditedCopy(rng, fingerprints_[rng() % 300]);
      query.insert(query.end(), part.begin(), part.begin() + 40 + 20 * k);
    }
    const auto a = incremental.Candidates(query, 100);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, bulk.Candidates(query, 100)) << q;
    const auto ha = incremental.Query(query, {}), hb = bulk.Query(query, {});
    EXPECT_EQ(Ids(ha), Ids(hb)) << q;
    for (size_t i = 0; i < std::min(ha.size(), hb.size()); ++i) EXPECT_EQ(ha[i].verdict.inliers, hb[i].verdict.inliers);
  }
  // Removal works on a bulk-loaded index too.
  bulk.Remove(7);
  std::mt19937_64 again(5);
  EXPECT_TRUE(bulk.Query(EditedCopy(again, fingerprints_[7]), {}).empty());
}

TEST_F(RobustIndexTest, InsertErrors) {
  RobustIndex index;
  const std::vector<LocalFeature>& fp = fingerprints_[0];
  absl::Status s = index.Insert(uint64_t{1} << 32, fp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = index.Insert(~uint64_t{0}, fp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(index.Insert(3, std::vector<LocalFeature>{}).code(), absl::StatusCode::kInvalidArgument);
  std::mt19937_64 rng(6);
  EXPECT_EQ(index.Insert(3, RandomFingerprint(rng, 256)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.InsertEncoded(3, "not a fingerprint").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.size(), 0u);

  ASSERT_TRUE(index.Insert(3, fp).ok());
  s = index.Insert(3, fingerprints_[1]);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_EQ(index.InsertEncoded(3, *EncodeRobust(fingerprints_[1])).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index.size(), 1u);
  // The refused duplicate left nothing behind: only the first fingerprint is found under id 3.
  EXPECT_TRUE(index.Candidates(fingerprints_[1], 10).empty());
  EXPECT_EQ(index.Candidates(fp, 10), (std::vector<std::pair<uint64_t, int>>{{3, 64}}));
  // 255 features is the most a fingerprint holds, and is accepted.
  EXPECT_TRUE(index.Insert(4, RandomFingerprint(rng, 255)).ok());
}

TEST_F(RobustIndexTest, InsertEncodedKeepsTheAspectForTheCoverRule) {
  RobustIndex index;
  ASSERT_TRUE(index.InsertEncoded(8, *EncodeRobust(fingerprints_[8], 1000, 250)).ok());
  std::mt19937_64 rng(7);
  const std::vector<RobustIndex::Hit> hits = index.Query(EditedCopy(rng, fingerprints_[8]), {});
  ASSERT_EQ(Ids(hits), std::vector<uint64_t>{8});
  // The cover is relative to the banked image: 1000 x 250 is stored as aspect round(255 / 4) = 64, a short side
  // of 4096 x 64 / 255 = 1028 units, so the cover is 4096 / 1028 = 3.98 times that of a square image.
  RobustIndex square;
  ASSERT_TRUE(square.Insert(8, fingerprints_[8]).ok());
  std::mt19937_64 same(7);
  const std::vector<RobustIndex::Hit> square_hits = square.Query(EditedCopy(same, fingerprints_[8]), {});
  ASSERT_EQ(Ids(square_hits), std::vector<uint64_t>{8});
  EXPECT_EQ(hits[0].verdict.inliers, square_hits[0].verdict.inliers);
  EXPECT_NEAR(hits[0].verdict.image_cover / square_hits[0].verdict.image_cover, 4096.0 / 1028.0, 0.01);
}

TEST_F(RobustIndexTest, MemoryGrowsWithInserts) {
  RobustIndex index;
  const size_t empty = index.MemoryBytes();
  for (size_t id = 0; id < 100; ++id) ASSERT_TRUE(index.Insert(id, fingerprints_[id]).ok());
  const size_t full = index.MemoryBytes();
  // At least each feature's 6 eight-byte postings and each fingerprint's stored encoding (4 + 34 x 64 bytes).
  const size_t floor = 100 * (64 * RobustIndex::kDefaultTables * 8 + 4 + 34 * 64);
  EXPECT_GE(full, empty + floor) << empty << " -> " << full;
  // More tables, more postings.
  RobustIndex most(RobustIndex::kMaxTables);
  const size_t most_empty = most.MemoryBytes();
  for (size_t id = 0; id < 100; ++id) ASSERT_TRUE(most.Insert(id, fingerprints_[id]).ok());
  EXPECT_GE(most.MemoryBytes() - most_empty, 100 * (64 * RobustIndex::kMaxTables * 8 + 4 + 34 * 64));
}

// The postings are most of the index's memory, so a bucket holds little unused room: none after a bulk load,
// at most an eighth (and 4 postings) after inserts in place, where the vector's own doubling would leave up
// to half. All features here share one bucket in each of the first two tables, so the memory two tables take
// beyond one (a bucket array's headers and that one bucket) shows the room a bucket holds.
TEST_F(RobustIndexTest, BucketsHoldLittleUnusedRoom) {
  std::mt19937_64 rng(5);
  std::vector<std::vector<LocalFeature>> fps;
  for (int i = 0; i < 200; ++i) {
    std::vector<LocalFeature> fp = RandomFingerprint(rng);
    for (LocalFeature& f : fp) {
      // Bytes 0-1 and 3-4: the top 16 bits of the keys of tables 0 and 1 (matcher/robust_index.h).
      f.descriptor[0] = (f.descriptor[0] & ~uint64_t{0xFFFF'00FFFF}) | 0x3412'00CDAB;
    }
    fps.push_back(std::move(fp));
  }
  const size_t postings = 200 * 64;  // in each of the two tables' one bucket
  const size_t headers = 65536 * sizeof(std::vector<uint64_t>);  // a table's bucket array
  for (const bool bulk : {true, false}) {
    RobustIndex one(1), two(2);
    for (size_t id = 0; id < fps.size(); ++id) {
      ASSERT_TRUE(one.Insert(id, fps[id], bulk).ok());
      ASSERT_TRUE(two.Insert(id, fps[id], bulk).ok());
    }
    if (bulk) {
      one.FinishBulk();
      two.FinishBulk();
    }
    const size_t bucket_bytes = two.MemoryBytes() - one.MemoryBytes() - headers;
    EXPECT_GE(bucket_bytes, 8 * postings) << (bulk ? "bulk" : "in place");
    if (bulk) {
      EXPECT_EQ(bucket_bytes, 8 * postings);
    } else {
      EXPECT_LE(bucket_bytes, 8 * (postings + postings / 8 + 4));
    }
    // Still the same index: every fingerprint finds itself.
    for (size_t id : {size_t{0}, size_t{199}}) {
      EXPECT_EQ(Ids(two.Query(fps[id], {})).front(), id);
    }
  }
}

TEST_F(RobustIndexTest, TableCountIsClampedAndAnyCountFindsExactCopies) {
  for (int tables : {-3, 0, 1, 10, 99}) {
    RobustIndex index(tables);
    for (size_t id = 0; id < 20; ++id) ASSERT_TRUE(index.Insert(id, fingerprints_[id]).ok());
    const std::vector<RobustIndex::Hit> hits = index.Query(fingerprints_[11], {});
    EXPECT_EQ(Ids(hits), std::vector<uint64_t>{11}) << tables;
  }
}

TEST_F(RobustIndexTest, KeysCommonToManyFingerprintsCastNoVotes) {
  // Two descriptors present in every banked fingerprint (a flat patch, a common edge). While their key runs are
  // no longer than kMinRunCap (the mean run is far below one here) they vote for every fingerprint; one
  // fingerprint more and they vote for none, while features unique to one fingerprint still do.
  constexpr size_t kCap = RobustIndex::kMinRunCap;
  std::mt19937_64 rng(8);
  while (fingerprints_.size() < kCap + 1) fingerprints_.push_back(RandomFingerprint(rng));
  const std::vector<LocalFeature> common = RandomFingerprint(rng, 2);
  for (size_t banked : {kCap, kCap + 1}) {
    RobustIndex index;
    for (size_t id = 0; id < banked; ++id) {
      std::vector<LocalFeature> fp = fingerprints_[id];
      fp[0].descriptor = common[0].descriptor;
      fp[1].descriptor = common[1].descriptor;
      ASSERT_TRUE(index.Insert(id, fp).ok());
    }
    const auto candidates = index.Candidates(common, 10000);
    EXPECT_EQ(candidates.size(), banked == kCap ? kCap : 0u) << banked;
    std::vector<LocalFeature> query = common;
    query.insert(query.end(), fingerprints_[30].begin() + 2, fingerprints_[30].begin() + 12);
    const auto with_unique = index.Candidates(query, 10000);
    ASSERT_FALSE(with_unique.empty());
    EXPECT_EQ(with_unique[0], (std::pair<uint64_t, int>{30, banked == kCap ? 12 : 10})) << banked;
    EXPECT_EQ(with_unique.size(), banked == kCap ? kCap : 1u) << banked;
  }
}

}  // namespace
}  // namespace hashbank
