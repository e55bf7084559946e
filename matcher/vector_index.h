// VectorIndex: embedding vectors grouped by model, searched by cosine similarity — every entry at or above
// a threshold, or the k most similar. Entries are inserted and removed one at a time.
//
// Each model has a fixed dimension (registered with AddModel) and its own id space: a vector inserted under
// one model never matches a query on another. Vectors are L2-normalised on insert and queries on search,
// so similarity is the dot product of unit vectors (in float), clamped to [-1, 1].
//
// Both searches are exact: they return what a float scan of every live vector returns (same similarities,
// same order), whatever the data. Two bounds let them skip most of that work:
//  - int8 codes. Each vector is also stored as an int8 code with a scale and the code's error e =
//    ||x - scale * code|| (rounded up). By Cauchy-Schwarz, q . x <= q . (scale * code) + e, so a vector
//    whose bound (plus the float rounding of both dot products) is below the floor — the threshold, or the
//    k-th best similarity found so far — is skipped without reading its float row: the scan reads a
//    quarter of the bytes, and the float similarity is computed only for the few that pass.
//  - clusters. From `exact_below` live entries on, a model is clustered: 2 sqrt(n) unit centroids trained by
//    spherical k-means (faiss::Clustering, on at most 64 sampled vectors per centroid), each vector filed
//    under its most similar centroid, and in that list into one of 8 bands cut at the quantiles of the
//    vectors' angle to the centroid. On the sphere angle(q, x) >= |angle(q, c) - angle(x, c)|, so a band
//    whose angles all lie farther than acos(floor) from angle(q, c) cannot reach the floor and is skipped
//    whole; lists are visited most similar centroid first, so a top-k floor rises fast. A slack of 1e-3 in
//    similarity and 5e-3 rad in angle covers float rounding.
// A query far from every stored vector (cosine ~0 to all, the ten "nearest" being near-ties) prunes no band
// in top-k and costs a scan of the codes; threshold searches prune well for every query. Measured in
// docs/performance.md.
//
// Inserts file the vector under its centroid and band (one pass over the centroids). Clustering runs in the
// background, on its own thread, when a model first reaches exact_below live entries and again each time
// it doubles: from a snapshot of the slots (rows never move or change once written, so it reads them
// without the lock), catching up on later inserts the same way, then installing the new centroids and
// bands under the exclusive lock (filing the last inserts). Searches and inserts go on meanwhile with
// the old structure. Removed ids are tombstoned and skipped; when tombstones outnumber live entries (and
// number at least 1024) the rows are rewritten densely and the bands filtered (deferred while a clustering
// runs); a compaction that leaves fewer than exact_below / 2 live entries unclusters the model. A
// clustering that fails (out of memory) leaves the model as it was and is retried when it has grown by half.
// The exclusive lock files at most a few thousand inserts at installation, after up to 8 catch-up rounds
// without it; a deferred compaction runs right after (a copy of the live rows, under the lock).
//
// Ownership: the index owns one float copy of every vector (in blocks of 4096 rows, so growth never copies
// them) and its code (dim + 12 bytes). Thread-safety: thread-safe. Searches, size() and MemoryBytes() take a
// shared lock and run concurrently; AddModel, Insert and Remove take the exclusive lock, as does installing
// a clustering; the destructor waits for running clusterings. Errors: absl::Status codes as documented on
// each method; faiss's exceptions never escape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

struct VectorMatch {
  uint64_t id = 0;
  float similarity = 0;  // cosine similarity in [-1, 1]

  friend bool operator==(const VectorMatch&, const VectorMatch&) = default;
};

struct VectorIndexOptions {
  size_t exact_below = 20000;     // live entries per model below which the model is not clustered
  int kmeans_iterations = 10;     // k-means iterations per clustering; clamped to [1, 100]
  // Skip vectors whose int8-code bound is below the floor without computing their float similarity
  // (results are identical either way; false only to measure the plain float scan).
  bool int8_filter = true;
  uint64_t seed = 42;             // k-means initialisation; the same inserts give the same clusters
};

class VectorIndex {
 public:
  // Largest dimension AddModel accepts.
  static constexpr int kMaxDimension = 4096;

  explicit VectorIndex(VectorIndexOptions options = {});
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Registers a model. InvalidArgument for an empty model_id or a dimension outside 1..kMaxDimension;
  // AlreadyExists if the model is registered with a different dimension (the same dimension is OK).
  absl::Status AddModel(const std::string& model_id, int dimension);

  // Adds `vector` (normalised here) under `id`. NotFound for an unknown model; InvalidArgument for a wrong
  // dimension or a zero or non-finite vector; AlreadyExists if the id is live in that model;
  // ResourceExhausted if memory runs out. An id may be inserted again after Remove.
  absl::Status Insert(const std::string& model_id, uint64_t id, std::span<const float> vector);

  // Removes `id`; it stops matching as soon as this returns. NotFound for an unknown model or id. (A
  // compaction this triggers that runs out of memory leaves the model as it was and is tried again later.)
  absl::Status Remove(const std::string& model_id, uint64_t id);

  // Every live entry with similarity >= min_similarity, most similar first (ties by ascending id).
  // NotFound for an unknown model; InvalidArgument for a wrong dimension, a zero or non-finite query, or a
  // NaN threshold.
  absl::StatusOr<std::vector<VectorMatch>> SearchThreshold(const std::string& model_id,
                                                          std::span<const float> query,
                                                          float min_similarity) const;

  // The min(k, size) most similar live entries, ordered as SearchThreshold. Errors as SearchThreshold.
  absl::StatusOr<std::vector<VectorMatch>> SearchTopK(const std::string& model_id,
                                                     std::span<const float> query, size_t k) const;

  // Live entries of a model; 0 for an unknown model.
  size_t size(const std::string& model_id) const;
  // Live entries of every model.
  size_t total_size() const;
  // Whether the model is clustered (searches prune by centroid; false for an unknown model).
  bool UsesClusters(const std::string& model_id) const;
  // Blocks until no background clustering runs (tests and benchmarks; searches never need to wait).
  void WaitForClustering() const;

  // Approximate heap bytes: per model the vector array, id tables and hash map (counted as bucket pointers
  // plus 32 bytes a node), the centroids and the list entries.
  size_t MemoryBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashbank
