// VectorIndex against a brute-force oracle written here in double precision: scan mode must equal it, clustered
// mode must return exactly what scan mode returns (top-k and threshold, clustered and uniform data, near and
// far queries, after removals and re-clustering), and removed ids must never come back. Seeded randomness
// throughout; no timing.
#include "matcher/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace hashbank {
namespace {

using Vec = std::vector<float>;

// Tolerance between the index's float similarities and the oracle's doubles.
constexpr double kEps = 1e-5;

double Cosine(const Vec& a, const Vec& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

struct Scored {
  uint64_t id;
  double similarity;
};

// The oracle: every live vector scored, most similar first.
std::vector<Scored> BruteForce(const std::vector<Vec>& data, const std::vector<bool>& live, const Vec& query) {
  std::vector<Scored> out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (live[i]) out.push_back({i, Cosine(data[i], query)});
  }
  std::sort(out.begin(), out.end(), [](const Scored& a, const Scored& b) {
    return a.similarity > b.similarity || (a.similarity == b.similarity && a.id < b.id);
  });
  return out;
}

Vec Gaussian(std::mt19937_64& rng, size_t dim, double sigma = 1.0) {
  std::normal_distribution<double> n(0.0, sigma);
  Vec v(dim);
  for (float& x : v) x = static_cast<float>(n(rng));
  return v;
}

Vec Uniform(std::mt19937_64& rng, size_t dim) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Vec v(dim);
  for (float& x : v) x = static_cast<float>(u(rng));
  return v;
}

Vec Unit(Vec v) {
  double n = 0;
  for (const float x : v) n += static_cast<double>(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

Vec Near(std::mt19937_64& rng, const Vec& centre, double sigma) {
  Vec v = Gaussian(rng, centre.size(), sigma);
  for (size_t i = 0; i < v.size(); ++i) v[i] += centre[i];
  return v;
}

// Clustered data: unit centres plus Gaussian noise, and a share of uniform vectors.
struct Clustered {
  std::vector<Vec> centres;
  std::vector<Vec> data;
};

Clustered MakeClustered(std::mt19937_64& rng, size_t dim, size_t clusters, size_t count, double sigma,
                        double uniform_share) {
  Clustered c;
  for (size_t i = 0; i < clusters; ++i) c.centres.push_back(Unit(Gaussian(rng, dim)));
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::bernoulli_distribution uniform(uniform_share);
  for (size_t i = 0; i < count; ++i) {
    c.data.push_back(uniform(rng) ? Uniform(rng, dim) : Near(rng, c.centres[pick(rng)], sigma));
  }
  return c;
}

void InsertAll(VectorIndex& index, const std::string& model, const std::vector<Vec>& data) {
  for (size_t i = 0; i < data.size(); ++i) ASSERT_TRUE(index.Insert(model, i, data[i]).ok()) << i;
}

// Checks a threshold result against the oracle: in order, every oracle entry comfortably above the
// threshold present, nothing comfortably below it, similarities within kEps.
void ExpectThresholdMatches(const std::vector<VectorMatch>& got, const std::vector<Scored>& oracle,
                            double threshold) {
  std::map<uint64_t, double> expected;
  for (const Scored& s : oracle) expected[s.id] = s.similarity;
  std::set<uint64_t> got_ids;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(expected.contains(got[i].id)) << "id " << got[i].id << " is not live";
    EXPECT_NEAR(got[i].similarity, expected[got[i].id], kEps) << got[i].id;
    EXPECT_GE(expected[got[i].id], threshold - kEps) << got[i].id;
    EXPECT_GE(got[i].similarity, static_cast<float>(threshold)) << got[i].id;
    if (i > 0) {
      EXPECT_GE(got[i - 1].similarity, got[i].similarity);
    }
    got_ids.insert(got[i].id);
  }
  EXPECT_EQ(got_ids.size(), got.size()) << "duplicate ids";
  for (const Scored& s : oracle) {
    if (s.similarity >= threshold + kEps) {
      EXPECT_TRUE(got_ids.contains(s.id)) << "missing id " << s.id;
    }
  }
}

double RecallAt10(const VectorIndex& index, const std::string& model, const std::vector<Vec>& data,
                  const std::vector<bool>& live, const std::vector<Vec>& queries) {
  double hits = 0;
  for (const Vec& q : queries) {
    const std::vector<Scored> oracle = BruteForce(data, live, q);
    absl::StatusOr<std::vector<VectorMatch>> got = index.SearchTopK(model, q, 10);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return 0;
    EXPECT_EQ(got->size(), 10u);
    std::set<uint64_t> truth;
    for (size_t i = 0; i < 10; ++i) truth.insert(oracle[i].id);
    for (const VectorMatch& m : *got) {
      EXPECT_TRUE(live[m.id]) << "removed id " << m.id << " returned";
      hits += truth.contains(m.id) ? 1 : 0;
    }
  }
  return hits / (10.0 * static_cast<double>(queries.size()));
}

// ---------------------------------------------------------------------------------------------------------
// Exact mode (default exact_below is far above these sizes).

class VectorIndexExactTest : public ::testing::Test {
 protected:
  static constexpr size_t kDim = 24;
  static constexpr size_t kCount = 3000;

  void SetUp() override {
    std::mt19937_64 rng(7);
    Clustered c = MakeClustered(rng, kDim, 40, kCount, 0.15, 0.2);
    data_ = std::move(c.data);
    centres_ = std::move(c.centres);
    live_.assign(data_.size(), true);
    ASSERT_TRUE(index_.AddModel("m", kDim).ok());
    InsertAll(index_, "m", data_);
    index_.WaitForClustering();  // clustering runs in the background
    ASSERT_FALSE(index_.UsesClusters("m"));
  }

  std::vector<Vec> Queries(size_t n, uint64_t seed) const {
    std::mt19937_64 rng(seed);
    std::vector<Vec> q;
    for (size_t i = 0; i < n; ++i) q.push_back(Near(rng, centres_[i % centres_.size()], 0.15));
    return q;
  }

  VectorIndex index_;
  std::vector<Vec> data_, centres_;
  std::vector<bool> live_;
};

TEST_F(VectorIndexExactTest, ThresholdSearchEqualsBruteForce) {
  for (const double threshold : {0.95, 0.8, 0.3, -1.0}) {
    for (const Vec& q : Queries(20, 11)) {
      absl::StatusOr<std::vector<VectorMatch>> got = index_.SearchThreshold("m", q, static_cast<float>(threshold));
      ASSERT_TRUE(got.ok()) << got.status();
      ExpectThresholdMatches(*got, BruteForce(data_, live_, q), threshold);
    }
  }
}

TEST_F(VectorIndexExactTest, TopKEqualsBruteForce) {
  for (const size_t k : {size_t{1}, size_t{10}, size_t{100}}) {
    for (const Vec& q : Queries(20, 12)) {
      absl::StatusOr<std::vector<VectorMatch>> got = index_.SearchTopK("m", q, k);
      ASSERT_TRUE(got.ok()) << got.status();
      const std::vector<Scored> oracle = BruteForce(data_, live_, q);
      ASSERT_EQ(got->size(), k);
      for (size_t i = 0; i < k; ++i) {
        // Equal ids, unless two neighbours are closer than float precision can order.
        if ((*got)[i].id != oracle[i].id) {
          EXPECT_NEAR(oracle[i].similarity, Cosine(data_[(*got)[i].id], q), kEps) << "rank " << i;
        }
        EXPECT_NEAR((*got)[i].similarity, oracle[i].similarity, kEps) << "rank " << i;
      }
    }
  }
}

TEST_F(VectorIndexExactTest, TopKBeyondSizeReturnsEverythingAndZeroReturnsNothing) {
  const Vec q = Queries(1, 13)[0];
  absl::StatusOr<std::vector<VectorMatch>> all = index_.SearchTopK("m", q, kCount + 50);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), kCount);
  absl::StatusOr<std::vector<VectorMatch>> none = index_.SearchTopK("m", q, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(VectorIndexExactTest, RemovedIdIsGoneFromBothSearches) {
  const uint64_t id = 123;
  ASSERT_TRUE(index_.Remove("m", id).ok());
  live_[id] = false;
  EXPECT_EQ(index_.size("m"), kCount - 1);
  // Querying with the removed vector itself: it would be the best match.
  absl::StatusOr<std::vector<VectorMatch>> top = index_.SearchTopK("m", data_[id], 5);
  ASSERT_TRUE(top.ok());
  for (const VectorMatch& m : *top) EXPECT_NE(m.id, id);
  absl::StatusOr<std::vector<VectorMatch>> all = index_.SearchThreshold("m", data_[id], -1.0f);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), kCount - 1);
  for (const VectorMatch& m : *all) EXPECT_NE(m.id, id);
  EXPECT_EQ(index_.Remove("m", id).code(), absl::StatusCode::kNotFound);
}

TEST_F(VectorIndexExactTest, ReinsertAfterRemoveMatchesTheNewVector) {
  const uint64_t id = 77;
  ASSERT_TRUE(index_.Remove("m", id).ok());
  const Vec replacement = data_[900];
  ASSERT_TRUE(index_.Insert("m", id, replacement).ok());
  EXPECT_EQ(index_.size("m"), kCount);
  absl::StatusOr<std::vector<VectorMatch>> top = index_.SearchTopK("m", replacement, 2);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 2u);
  // Ids 77 and 900 now hold the same vector: both at similarity ~1, ordered by id.
  EXPECT_EQ((*top)[0].id, id);
  EXPECT_EQ((*top)[1].id, 900u);
  EXPECT_NEAR((*top)[0].similarity, 1.0, kEps);
  // Scored against the old vector, id 77 now has the replacement's similarity.
  absl::StatusOr<std::vector<VectorMatch>> all = index_.SearchThreshold("m", data_[id], -1.0f);
  ASSERT_TRUE(all.ok());
  const auto it = std::find_if(all->begin(), all->end(), [&](const VectorMatch& m) { return m.id == id; });
  ASSERT_NE(it, all->end());
  EXPECT_NEAR(it->similarity, Cosine(data_[id], replacement), kEps);
}

TEST_F(VectorIndexExactTest, DuplicateIdIsAlreadyExists) {
  EXPECT_EQ(index_.Insert("m", 5, data_[6]).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index_.size("m"), kCount);
}

TEST_F(VectorIndexExactTest, MassRemovalCompactsAndStaysExact) {
  // Remove two thirds: tombstones outnumber live entries and exceed the compaction minimum.
  for (uint64_t id = 0; id < kCount; ++id) {
    if (id % 3 != 0) {
      ASSERT_TRUE(index_.Remove("m", id).ok()) << id;
      live_[id] = false;
    }
  }
  EXPECT_EQ(index_.size("m"), kCount / 3);
  for (const Vec& q : Queries(10, 14)) {
    absl::StatusOr<std::vector<VectorMatch>> got = index_.SearchThreshold("m", q, 0.5f);
    ASSERT_TRUE(got.ok());
    ExpectThresholdMatches(*got, BruteForce(data_, live_, q), 0.5);
  }
  // Removed ids can come back after compaction.
  ASSERT_TRUE(index_.Insert("m", 1, data_[1]).ok());
  absl::StatusOr<std::vector<VectorMatch>> top = index_.SearchTopK("m", data_[1], 1);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ((*top)[0].id, 1u);
}

// ---------------------------------------------------------------------------------------------------------
// Validation and model separation.

TEST(VectorIndexTest, UnknownModelIsNotFound) {
  VectorIndex index;
  const Vec v(8, 1.0f);
  EXPECT_EQ(index.Insert("nope", 1, v).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index.Remove("nope", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index.SearchThreshold("nope", v, 0.5f).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index.SearchTopK("nope", v, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index.size("nope"), 0u);
  EXPECT_FALSE(index.UsesClusters("nope"));
}

TEST(VectorIndexTest, AddModelValidatesDimensionAndConflicts) {
  VectorIndex index;
  EXPECT_EQ(index.AddModel("m", 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.AddModel("m", -3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.AddModel("m", VectorIndex::kMaxDimension + 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.AddModel("", 8).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(index.AddModel("m", VectorIndex::kMaxDimension).ok());
  EXPECT_TRUE(index.AddModel("m", VectorIndex::kMaxDimension).ok()) << "same dimension again is fine";
  EXPECT_EQ(index.AddModel("m", 8).code(), absl::StatusCode::kAlreadyExists);
}

TEST(VectorIndexTest, WrongDimensionIsInvalidArgument) {
  VectorIndex index;
  ASSERT_TRUE(index.AddModel("m", 8).ok());
  const Vec seven(7, 1.0f), nine(9, 1.0f), eight(8, 1.0f);
  EXPECT_EQ(index.Insert("m", 1, seven).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Insert("m", 1, nine).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(index.Insert("m", 1, eight).ok());
  EXPECT_EQ(index.SearchThreshold("m", seven, 0.5f).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.SearchTopK("m", nine, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, ZeroNonFiniteVectorsAndNanThresholdAreInvalidArgument) {
  VectorIndex index;
  ASSERT_TRUE(index.AddModel("m", 4).ok());
  const Vec zero(4, 0.0f);
  Vec nan(4, 1.0f), inf(4, 1.0f);
  nan[2] = std::numeric_limits<float>::quiet_NaN();
  inf[0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(index.Insert("m", 1, zero).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Insert("m", 1, nan).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.Insert("m", 1, inf).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.size("m"), 0u);
  const Vec ok{1, 2, 3, 4};
  ASSERT_TRUE(index.Insert("m", 1, ok).ok());
  EXPECT_EQ(index.SearchTopK("m", zero, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.SearchThreshold("m", nan, 0.5f).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index.SearchThreshold("m", ok, std::numeric_limits<float>::quiet_NaN()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, VectorsAreNormalisedSoScaleDoesNotMatter) {
  VectorIndex index;
  ASSERT_TRUE(index.AddModel("m", 3).ok());
  ASSERT_TRUE(index.Insert("m", 1, Vec{3, 0, 4}).ok());
  ASSERT_TRUE(index.Insert("m", 2, Vec{0, 1, 0}).ok());
  absl::StatusOr<std::vector<VectorMatch>> got = index.SearchThreshold("m", Vec{0.3f, 0, 0.4f}, 0.99f);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, 1u);
  EXPECT_NEAR((*got)[0].similarity, 1.0, kEps);
  // Opposite direction: similarity -1, returned only by a threshold of -1.
  got = index.SearchThreshold("m", Vec{0, -7, 0}, -1.0f);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].id, 1u);
  EXPECT_EQ((*got)[1].id, 2u);
  EXPECT_NEAR((*got)[1].similarity, -1.0, kEps);
}

TEST(VectorIndexTest, ModelsAreKeptApart) {
  VectorIndex index;
  ASSERT_TRUE(index.AddModel("a", 16).ok());
  ASSERT_TRUE(index.AddModel("b", 16).ok());
  ASSERT_TRUE(index.AddModel("c", 32).ok());
  std::mt19937_64 rng(3);
  const Vec va = Gaussian(rng, 16), vb = Gaussian(rng, 16), vc = Gaussian(rng, 32);
  ASSERT_TRUE(index.Insert("a", 1, va).ok());
  ASSERT_TRUE(index.Insert("b", 2, vb).ok());
  ASSERT_TRUE(index.Insert("c", 1, vc).ok()) << "ids are per model";
  // Querying model b with a's vector finds only b's entry, never id 1.
  absl::StatusOr<std::vector<VectorMatch>> got = index.SearchThreshold("b", va, -1.0f);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, 2u);
  got = index.SearchTopK("a", va, 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].id, 1u);
  EXPECT_EQ(index.size("a"), 1u);
  EXPECT_EQ(index.size("b"), 1u);
  EXPECT_EQ(index.size("c"), 1u);
  // Removing id 1 from a leaves c's id 1 alone.
  ASSERT_TRUE(index.Remove("a", 1).ok());
  EXPECT_EQ(index.size("c"), 1u);
  EXPECT_EQ(index.Remove("b", 1).code(), absl::StatusCode::kNotFound);
}

TEST(VectorIndexTest, MemoryBytesGrowsWithEntriesAndClusters) {
  VectorIndexOptions options;
  options.exact_below = 500;
  VectorIndex index(options);
  ASSERT_TRUE(index.AddModel("m", 32).ok());
  const size_t empty = index.MemoryBytes();
  std::mt19937_64 rng(5);
  for (uint64_t id = 0; id < 400; ++id) ASSERT_TRUE(index.Insert("m", id, Gaussian(rng, 32)).ok());
  const size_t exact = index.MemoryBytes();
  EXPECT_GE(exact, empty + 400 * (32 * sizeof(float) + 32 + 12));  // rows and codes
  for (uint64_t id = 400; id < 600; ++id) ASSERT_TRUE(index.Insert("m", id, Gaussian(rng, 32)).ok());
  index.WaitForClustering();  // clustering runs in the background
  ASSERT_TRUE(index.UsesClusters("m"));
  // The codes of 200 more vectors (32 bytes, a scale, an error bound and a slot each) and the centroids
  // (sqrt(600) ~ 24 of 32 floats); the rows are in one 4096-row block, allocated by the first insert.
  EXPECT_GE(index.MemoryBytes(), exact + 200 * (32 + 12) + 24 * 32 * sizeof(float));
}

// ---------------------------------------------------------------------------------------------------------
// Clustered mode: 20 000 clustered vectors of dimension 64, clustered at 1000, again at 4000 and 16 000.

class VectorIndexClusteredTest : public ::testing::Test {
 protected:
  static constexpr size_t kDim = 64;
  static constexpr size_t kCount = 20000;

  static VectorIndexOptions Options() {
    VectorIndexOptions o;
    o.exact_below = 1000;
    return o;
  }

  void SetUp() override {
    std::mt19937_64 rng(2024);
    // 200 clusters of ~90; noise 0.04 a component puts many neighbours near cosine 0.9. Plus 10% uniform.
    Clustered c = MakeClustered(rng, kDim, 200, kCount - 1000, 0.04, 0.1);
    data_ = std::move(c.data);
    centres_ = std::move(c.centres);
    // One dense cluster of 1000: a threshold query with ~1000 results.
    dense_centre_ = Unit(Gaussian(rng, kDim));
    for (size_t i = 0; i < 1000; ++i) data_.push_back(Near(rng, dense_centre_, 0.01));
    std::shuffle(data_.begin(), data_.end(), rng);
    live_.assign(data_.size(), true);
    ASSERT_TRUE(index_.AddModel("clip", kDim).ok());
    InsertAll(index_, "clip", data_);
    index_.WaitForClustering();  // clustering runs in the background
    ASSERT_TRUE(index_.UsesClusters("clip"));
    for (size_t i = 0; i < 200; ++i) queries_.push_back(Near(rng, centres_[i], 0.04));
  }

  VectorIndex index_{Options()};
  std::vector<Vec> data_, centres_, queries_;
  Vec dense_centre_;
  std::vector<bool> live_;
};

TEST_F(VectorIndexClusteredTest, RecallAtTenIsAtLeast99PercentAndThresholdSetsAreComplete) {
  EXPECT_GE(RecallAt10(index_, "clip", data_, live_, queries_), 0.99);

  for (size_t i = 0; i < queries_.size(); i += 4) {
    absl::StatusOr<std::vector<VectorMatch>> got = index_.SearchThreshold("clip", queries_[i], 0.9f);
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectThresholdMatches(*got, BruteForce(data_, live_, queries_[i]), 0.9);
  }
  // ~1000 results from one dense cluster.
  const Vec q = dense_centre_;
  const std::vector<Scored> oracle = BruteForce(data_, live_, q);
  absl::StatusOr<std::vector<VectorMatch>> got = index_.SearchThreshold("clip", q, 0.95f);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GT(got->size(), 900u);
  ExpectThresholdMatches(*got, oracle, 0.95);
}

TEST_F(VectorIndexClusteredTest, RemovedTenPercentNeverReturnAndRecallHolds) {
  std::mt19937_64 rng(99);
  std::vector<uint64_t> ids(data_.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  for (size_t i = 0; i < data_.size() / 10; ++i) {
    ASSERT_TRUE(index_.Remove("clip", ids[i]).ok());
    live_[ids[i]] = false;
  }
  index_.WaitForClustering();  // clustering runs in the background
  ASSERT_TRUE(index_.UsesClusters("clip"));
  EXPECT_EQ(index_.size("clip"), kCount - kCount / 10);

  // RecallAt10 also fails on any removed id.
  EXPECT_GE(RecallAt10(index_, "clip", data_, live_, queries_), 0.99);
  // A removed vector queried exactly is never its own match.
  for (size_t i = 0; i < 100; ++i) {
    const uint64_t id = ids[i];
    absl::StatusOr<std::vector<VectorMatch>> top = index_.SearchTopK("clip", data_[id], 10);
    ASSERT_TRUE(top.ok());
    for (const VectorMatch& m : *top) EXPECT_TRUE(live_[m.id]) << "removed id " << m.id;
    absl::StatusOr<std::vector<VectorMatch>> near = index_.SearchThreshold("clip", data_[id], 0.9f);
    ASSERT_TRUE(near.ok());
    ExpectThresholdMatches(*near, BruteForce(data_, live_, data_[id]), 0.9);
  }
}

// The clustered search prunes by the triangle inequality; it must return exactly what the scan returns —
// same ids, same similarities, same order — for queries near the data and far from everything (where top-k
// has near-ties at cosine ~0), at several k and thresholds, on clustered and uniform data, and after
// removals that leave tombstones in the lists.
TEST(VectorIndexClusteredExactnessTest, ClusteredSearchesEqualTheScan) {
  for (const double uniform_share : {0.1, 1.0}) {
    SCOPED_TRACE(uniform_share);
    std::mt19937_64 rng(4242);
    constexpr size_t kDim = 48;
    Clustered c = MakeClustered(rng, kDim, 60, 6000, 0.08, uniform_share);
    // 60 copies of one vector: a list whose members lie on its centroid (cosines that round to 1 or above).
    const Vec duplicate = Gaussian(rng, kDim);
    for (int i = 0; i < 60; ++i) c.data.push_back(duplicate);
    VectorIndexOptions clustered_options;
    clustered_options.exact_below = 500;
    VectorIndexOptions scan_options;  // the plain float scan: no clusters, no int8 bound
    scan_options.exact_below = 1'000'000;
    scan_options.int8_filter = false;
    VectorIndex clustered(clustered_options), scan(scan_options);
    ASSERT_TRUE(clustered.AddModel("m", kDim).ok());
    ASSERT_TRUE(scan.AddModel("m", kDim).ok());
    InsertAll(clustered, "m", c.data);
    InsertAll(scan, "m", c.data);
    clustered.WaitForClustering();  // clustering runs in the background
    ASSERT_TRUE(clustered.UsesClusters("m"));
    scan.WaitForClustering();  // clustering runs in the background
    ASSERT_FALSE(scan.UsesClusters("m"));
    for (int round = 0; round < 2; ++round) {
      std::vector<Vec> queries;
      for (size_t i = 0; i < 40; ++i) queries.push_back(Near(rng, c.centres[i % c.centres.size()], 0.08));
      for (size_t i = 0; i < 20; ++i) queries.push_back(c.data[rng() % c.data.size()]);  // stored vectors
      for (size_t i = 0; i < 20; ++i) queries.push_back(Gaussian(rng, kDim));             // far from everything
      queries.push_back(duplicate);
      size_t nonempty = 0;
      for (const Vec& q : queries) {
        for (size_t k : {1u, 10u, 100u}) {
          auto want = scan.SearchTopK("m", q, k);
          auto got = clustered.SearchTopK("m", q, k);
          ASSERT_TRUE(want.ok() && got.ok());
          ASSERT_EQ(*got, *want) << "top-" << k;
        }
        for (float threshold : {0.3f, 0.8f, 0.95f, 0.999f}) {
          auto want = scan.SearchThreshold("m", q, threshold);
          auto got = clustered.SearchThreshold("m", q, threshold);
          ASSERT_TRUE(want.ok() && got.ok());
          ASSERT_EQ(*got, *want) << "threshold " << threshold;
          nonempty += want->empty() ? 0u : 1u;
        }
      }
      EXPECT_GT(nonempty, 40u);  // the thresholds do select something
      // Remove a third (fewer than the live ones: tombstones stay in the lists), then compare again.
      for (uint64_t id = static_cast<uint64_t>(round); id < c.data.size(); id += 3) {
        ASSERT_TRUE(clustered.Remove("m", id).ok());
        ASSERT_TRUE(scan.Remove("m", id).ok());
      }
      clustered.WaitForClustering();  // clustering runs in the background
      ASSERT_TRUE(clustered.UsesClusters("m"));
    }
  }
}

// Clustering runs in the background: inserts and removals that happen while it runs (before or after its
// snapshot) must be reflected exactly once it is installed, and searches during it are exact too.
TEST(VectorIndexClusteredExactnessTest, ChangesDuringABackgroundClusteringAreKept) {
  std::mt19937_64 rng(77);
  constexpr size_t kDim = 64;
  Clustered c = MakeClustered(rng, kDim, 100, 24000, 0.08, 0.1);
  VectorIndexOptions clustered_options;
  clustered_options.exact_below = 20000;
  VectorIndexOptions scan_options;
  scan_options.exact_below = 1'000'000;
  scan_options.int8_filter = false;
  VectorIndex clustered(clustered_options), scan(scan_options);
  ASSERT_TRUE(clustered.AddModel("m", kDim).ok());
  ASSERT_TRUE(scan.AddModel("m", kDim).ok());
  for (size_t i = 0; i < 20000; ++i) {  // the last one starts the clustering
    ASSERT_TRUE(clustered.Insert("m", i, c.data[i]).ok());
    ASSERT_TRUE(scan.Insert("m", i, c.data[i]).ok());
  }
  auto same = [&](const Vec& q) {
    auto want = scan.SearchTopK("m", q, 10);
    auto got = clustered.SearchTopK("m", q, 10);
    ASSERT_TRUE(want.ok() && got.ok());
    ASSERT_EQ(*got, *want);
    auto want_t = scan.SearchThreshold("m", q, 0.9f);
    auto got_t = clustered.SearchThreshold("m", q, 0.9f);
    ASSERT_TRUE(want_t.ok() && got_t.ok());
    ASSERT_EQ(*got_t, *want_t);
  };
  // While it (probably) runs: more inserts, removals of old and new ids, searches.
  for (size_t i = 20000; i < 24000; ++i) {
    ASSERT_TRUE(clustered.Insert("m", i, c.data[i]).ok());
    ASSERT_TRUE(scan.Insert("m", i, c.data[i]).ok());
    if (i % 10 == 0) {
      for (uint64_t id : {static_cast<uint64_t>(i - 20000), static_cast<uint64_t>(i)}) {
        ASSERT_TRUE(clustered.Remove("m", id).ok());
        ASSERT_TRUE(scan.Remove("m", id).ok());
      }
    }
    if (i % 500 == 0) same(c.data[i - 1]);
  }
  clustered.WaitForClustering();
  ASSERT_TRUE(clustered.UsesClusters("m"));
  EXPECT_EQ(clustered.size("m"), scan.size("m"));
  for (size_t i = 0; i < 40; ++i) same(Near(rng, c.centres[i], 0.08));
  for (size_t i = 0; i < 40; ++i) same(c.data[(i * 601) % c.data.size()]);  // removed ones included
}

TEST(VectorIndexClusteredCompactionTest, MassRemovalClustersAgainAndStaysCorrect) {
  VectorIndexOptions options;
  options.exact_below = 500;
  VectorIndex index(options);
  ASSERT_TRUE(index.AddModel("m", 16).ok());
  std::mt19937_64 rng(8);
  Clustered c = MakeClustered(rng, 16, 30, 3000, 0.1, 0.1);
  InsertAll(index, "m", c.data);
  index.WaitForClustering();  // clustering runs in the background
  ASSERT_TRUE(index.UsesClusters("m"));
  std::vector<bool> live(c.data.size(), true);
  // 2000 removals: tombstones pass both compaction conditions; 1000 live stay above exact_below / 2.
  for (uint64_t id = 0; id < 2000; ++id) {
    ASSERT_TRUE(index.Remove("m", id).ok());
    live[id] = false;
  }
  index.WaitForClustering();  // clustering runs in the background
  ASSERT_TRUE(index.UsesClusters("m"));
  EXPECT_EQ(index.size("m"), 1000u);
  for (size_t i = 0; i < 30; ++i) {
    const Vec q = Near(rng, c.centres[i], 0.1);
    absl::StatusOr<std::vector<VectorMatch>> got = index.SearchThreshold("m", q, 0.8f);
    ASSERT_TRUE(got.ok());
    ExpectThresholdMatches(*got, BruteForce(c.data, live, q), 0.8);
    absl::StatusOr<std::vector<VectorMatch>> top = index.SearchTopK("m", q, 5);
    ASSERT_TRUE(top.ok());
    for (const VectorMatch& m : *top) EXPECT_TRUE(live[m.id]);
  }
}

TEST(VectorIndexClusteredCompactionTest, CompactionBelowHalfExactBelowDropsTheClusters) {
  VectorIndexOptions options;
  options.exact_below = 500;
  VectorIndex index(options);
  ASSERT_TRUE(index.AddModel("m", 16).ok());
  std::mt19937_64 rng(9);
  std::vector<Vec> data;
  for (size_t i = 0; i < 1200; ++i) data.push_back(Gaussian(rng, 16));
  InsertAll(index, "m", data);
  index.WaitForClustering();  // clustering runs in the background
  ASSERT_TRUE(index.UsesClusters("m"));
  std::vector<bool> live(data.size(), true);
  // The 1024th removal compacts with 176 live, under exact_below / 2: back to exact scans.
  for (uint64_t id = 0; id < 1024; ++id) {
    ASSERT_TRUE(index.Remove("m", id).ok());
    live[id] = false;
  }
  index.WaitForClustering();  // clustering runs in the background
  EXPECT_FALSE(index.UsesClusters("m"));
  const Vec q = Gaussian(rng, 16);
  absl::StatusOr<std::vector<VectorMatch>> got = index.SearchThreshold("m", q, 0.3f);
  ASSERT_TRUE(got.ok());
  ExpectThresholdMatches(*got, BruteForce(data, live, q), 0.3);
  // Growing back to exact_below clusters the model again.
  for (uint64_t id = 0; id < 324; ++id) {
    ASSERT_TRUE(index.Insert("m", id, data[id]).ok());
    live[id] = true;
  }
  EXPECT_EQ(index.size("m"), 500u);
  index.WaitForClustering();  // clustering runs in the background
  EXPECT_TRUE(index.UsesClusters("m"));
  got = index.SearchThreshold("m", q, 0.3f);
  ASSERT_TRUE(got.ok());
  ExpectThresholdMatches(*got, BruteForce(data, live, q), 0.3);
}

// Readers and a writer at once: ids inserted before the threads start are always found, whatever the
// writer is doing. Meaningful under TSan (HASHBANK_TSAN); a smoke test otherwise.
TEST(VectorIndexConcurrencyTest, SearchesRunAlongsideInsertsAndRemoves) {
  VectorIndexOptions options;
  options.exact_below = 300;
  VectorIndex index(options);
  ASSERT_TRUE(index.AddModel("m", 16).ok());
  std::mt19937_64 rng(21);
  std::vector<Vec> stable;
  for (uint64_t id = 0; id < 400; ++id) {
    stable.push_back(Gaussian(rng, 16));
    ASSERT_TRUE(index.Insert("m", id, stable.back()).ok());
  }
  std::vector<Vec> extra;
  for (size_t i = 0; i < 600; ++i) extra.push_back(Gaussian(rng, 16));

  std::atomic<int> failures{0};
  auto reader = [&](size_t offset) {
    for (size_t round = 0; round < 300; ++round) {
      const uint64_t id = (offset + round * 7) % stable.size();
      absl::StatusOr<std::vector<VectorMatch>> got = index.SearchThreshold("m", stable[id], 0.999f);
      bool found = false;
      if (got.ok()) {
        for (const VectorMatch& m : *got) found = found || m.id == id;
      }
      if (!found) failures.fetch_add(1);
    }
  };
  std::thread writer([&] {
    for (size_t i = 0; i < extra.size(); ++i) {
      if (!index.Insert("m", 1000 + i, extra[i]).ok()) failures.fetch_add(1);
      if (i % 3 == 0 && !index.Remove("m", 1000 + i).ok()) failures.fetch_add(1);
    }
  });
  std::thread r1(reader, 0), r2(reader, 1);
  writer.join();
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(index.size("m"), 400u + 400u);
}

}  // namespace
}  // namespace hashbank
