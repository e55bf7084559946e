// VectorIndex: embedding vectors grouped by model, searched by cosine similarity — every entry at or above
// a threshold, or the k most similar. Entries are inserted and removed one at a time.
//
// Each model has a fixed dimension (registered with AddModel) and its own id space: a vector inserted under
// one model never matches a query on another. Vectors are L2-normalised on insert and queries on search,
// so similarity is the dot product of unit vectors, clamped to [-1, 1].
//
// Search strategy, per model. The normalised vectors live in one contiguous float array (slot-major). Below
// `exact_below` live entries every search is an exact scan of that array. When a model first reaches
// `exact_below` live entries an HNSW graph (hnswlib, inner-product space) is built from the array and then
// kept up to date: each insert is added to the graph, each remove marks its node deleted. In graph mode:
//  - SearchTopK asks the graph for k candidates (ef = max(ef_search, k)) and recomputes each similarity
//    from the array, so values are identical to exact mode; recall@10 is >= 0.99 on clustered test data.
//  - SearchThreshold asks for k = ef_search candidates and grows k (x4) until the least similar candidate
//    is below the threshold, then keeps the candidates at or above it. Its completeness is therefore the
//    graph's recall for the query's neighbourhood (the tests check it equals the exact set); it is not a
//    proof of completeness.
//  - Either search falls back to the exact scan when k reaches 1/16 of the live entries (a scan is then
//    cheaper and exact) or when the graph returns fewer candidates than asked.
// Removed ids are tombstoned. When tombstones outnumber live entries (and number at least 1024) the model
// is compacted: the array is rewritten densely and the graph rebuilt from it, or dropped (back to exact
// scans) if fewer than exact_below / 2 entries remain. That rebuild runs inside Remove, under the exclusive
// lock; its cost is amortised over the removals that triggered it.
//
// Ownership: the index owns copies of every vector (twice in graph mode: the array and the graph's own
// storage). Thread-safety: thread-safe. Searches, size() and MemoryBytes() take a shared lock and run
// concurrently (hnswlib's searchKnn only reads the graph; its per-search scratch comes from a pool guarded
// by its own mutex); AddModel, Insert and Remove take the exclusive lock. Errors: absl::Status codes as
// documented on each method; hnswlib's exceptions never escape (allocation failure is ResourceExhausted).
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
  size_t exact_below = 20000;   // live entries per model below which searches scan exactly
  size_t hnsw_m = 32;           // HNSW links per node (level 0 has 2M); clamped to [2, 256]
  size_t ef_construction = 200;  // HNSW candidate list while inserting
  size_t ef_search = 256;        // HNSW candidate list while searching (at least k); clamped to >= 1
  uint64_t seed = 42;            // HNSW level generator; the same inserts give the same graph
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
  // ResourceExhausted if the graph cannot grow. An id may be inserted again after Remove.
  absl::Status Insert(const std::string& model_id, uint64_t id, std::span<const float> vector);

  // Removes `id`; it stops matching as soon as this returns. NotFound for an unknown model or id.
  // ResourceExhausted if the compaction this removal triggered could not rebuild the graph; the id is
  // removed all the same and the model falls back to exact scans until an insert rebuilds it.
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
  // Whether the model currently searches through its HNSW graph (false for an unknown model).
  bool UsesGraph(const std::string& model_id) const;

  // Approximate heap bytes: per model the vector array, id tables and hash map (counted as bucket
  // pointers plus 32 bytes a node), and for a graph hnswlib's level-0 block, per-element tables (level,
  // link pointer, mutex), its 65536 update mutexes, one visited list, the upper-level link lists and its
  // label map. Walks each graph's level table, so O(entries).
  size_t MemoryBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashbank
