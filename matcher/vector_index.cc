#include "matcher/vector_index.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <queue>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

// hnswlib is header-only and defines non-inline functions and globals (cpuid, AVXCapable, the SIMD distance
// pointers) in its headers, so it may be included by only one translation unit of a binary: this one.
// /usr/include is a system directory, so its warnings are already silenced; the pragmas keep that true
// for an install elsewhere.
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
#include <hnswlib/hnswlib.h>
#pragma GCC diagnostic pop

namespace hashbank {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// A scan is cheaper than a graph search once the graph would be asked for this fraction of the entries.
constexpr size_t kExactFractionDivisor = 16;
// Compaction waits for at least this many tombstones (and for them to outnumber live entries).
constexpr size_t kMinTombstonesToCompact = 1024;
// Smallest graph capacity allocated at build time.
constexpr size_t kMinGraphCapacity = 1024;
constexpr size_t kMaxHnswM = 256;

// Dot product with eight independent partial sums, so the compiler can keep them in SIMD lanes (a single
// float accumulator cannot be vectorised without reassociation).
float Dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

float ClampSimilarity(float s) { return std::clamp(s, -1.0f, 1.0f); }

// `a` ranks before `b`: more similar, then smaller id.
bool Better(const VectorMatch& a, const VectorMatch& b) {
  return a.similarity > b.similarity || (a.similarity == b.similarity && a.id < b.id);
}

// Writes the unit vector of `in` to `out`. InvalidArgument for a zero or non-finite vector.
absl::Status Normalise(std::span<const float> in, std::vector<float>& out, const char* what) {
  double sum = 0;
  for (const float x : in) {
    if (!std::isfinite(x)) return absl::InvalidArgumentError(absl::StrCat(what, " has a non-finite component"));
    sum += static_cast<double>(x) * static_cast<double>(x);
  }
  if (!(sum > 0)) return absl::InvalidArgumentError(absl::StrCat(what, " is the zero vector"));
  const double scale = 1.0 / std::sqrt(sum);
  out.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = static_cast<float>(static_cast<double>(in[i]) * scale);
  return absl::OkStatus();
}

struct Model {
  size_t dim = 0;
  std::vector<float> vectors;      // slot s holds vectors[s * dim, (s + 1) * dim)
  std::vector<uint64_t> slot_ids;  // id stored in each slot
  std::vector<uint8_t> slot_live;  // 0 for a tombstone
  std::unordered_map<uint64_t, size_t> id_to_slot;  // live ids only
  // In graph mode; node labels are slots. The space must outlive the graph (which points into it).
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<Graph> graph;

  size_t live() const { return id_to_slot.size(); }
  size_t slots() const { return slot_ids.size(); }
  const float* row(size_t slot) const { return vectors.data() + slot * dim; }
};

}  // namespace

struct VectorIndex::Impl {
  VectorIndexOptions options;
  mutable std::shared_mutex mu;
  std::map<std::string, Model, std::less<>> models;  // guarded by mu

  absl::StatusOr<const Model*> FindModel(const std::string& model_id) const {
    const auto it = models.find(model_id);
    if (it == models.end()) return absl::NotFoundError(absl::StrCat("unknown model '", model_id, "'"));
    return &it->second;
  }

  // Checks the query's dimension and normalises it into `out`.
  static absl::Status PrepareQuery(const Model& m, const std::string& model_id, std::span<const float> query,
                                   std::vector<float>& out) {
    if (query.size() != m.dim) {
      return absl::InvalidArgumentError(absl::StrCat("query has dimension ", query.size(), ", model '", model_id,
                                                     "' has ", m.dim));
    }
    return Normalise(query, out, "query");
  }

  // Builds a graph over every live slot, replacing any previous one.
  absl::Status BuildGraph(Model& m) const {
    try {
      auto space = std::make_unique<hnswlib::InnerProductSpace>(m.dim);
      auto graph = std::make_unique<Graph>(space.get(), std::max(kMinGraphCapacity, 2 * m.live()), options.hnsw_m,
                                           options.ef_construction, static_cast<size_t>(options.seed));
      graph->setEf(options.ef_search);
      for (size_t s = 0; s < m.slots(); ++s) {
        if (m.slot_live[s]) graph->addPoint(m.row(s), s);
      }
      m.graph = std::move(graph);
      m.space = std::move(space);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of memory building the HNSW graph of ", m.live(), " vectors"));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("hnswlib: ", std::string(e.what())));
    }
    return absl::OkStatus();
  }

  // Rewrites the array without tombstones, then rebuilds the graph (or drops it if few entries remain).
  // On error the model is left consistent, in exact mode.
  absl::Status Compact(Model& m) const {
    const bool had_graph = m.graph != nullptr;
    std::vector<float> vectors;
    std::vector<uint64_t> slot_ids;
    vectors.reserve(m.live() * m.dim);
    slot_ids.reserve(m.live());
    for (size_t s = 0; s < m.slots(); ++s) {
      if (!m.slot_live[s]) continue;
      vectors.insert(vectors.end(), m.row(s), m.row(s) + m.dim);
      slot_ids.push_back(m.slot_ids[s]);
    }
    m.vectors = std::move(vectors);
    m.slot_ids = std::move(slot_ids);
    m.slot_live.assign(m.slot_ids.size(), 1);
    for (size_t s = 0; s < m.slot_ids.size(); ++s) m.id_to_slot[m.slot_ids[s]] = s;
    m.id_to_slot.rehash(0);  // give back the buckets of the removed ids
    m.graph.reset();
    m.space.reset();
    if (had_graph && m.live() > 0 && m.live() >= options.exact_below / 2) return BuildGraph(m);
    return absl::OkStatus();
  }

  // Exact scan: entries with similarity >= min_similarity.
  static std::vector<VectorMatch> ScanThreshold(const Model& m, const float* q, float min_similarity) {
    std::vector<VectorMatch> out;
    for (size_t s = 0; s < m.slots(); ++s) {
      if (!m.slot_live[s]) continue;
      const float sim = ClampSimilarity(Dot(q, m.row(s), m.dim));
      if (sim >= min_similarity) out.push_back({m.slot_ids[s], sim});
    }
    std::sort(out.begin(), out.end(), Better);
    return out;
  }

  // Exact scan: the k best entries, with a bounded heap whose top is the worst kept.
  static std::vector<VectorMatch> ScanTopK(const Model& m, const float* q, size_t k) {
    std::vector<VectorMatch> out;
    if (k == 0) return out;
    std::priority_queue<VectorMatch, std::vector<VectorMatch>, decltype(&Better)> heap(&Better);
    for (size_t s = 0; s < m.slots(); ++s) {
      if (!m.slot_live[s]) continue;
      const VectorMatch candidate{m.slot_ids[s], ClampSimilarity(Dot(q, m.row(s), m.dim))};
      if (heap.size() < k) {
        heap.push(candidate);
      } else if (Better(candidate, heap.top())) {
        heap.pop();
        heap.push(candidate);
      }
    }
    out.reserve(heap.size());
    while (!heap.empty()) {
      out.push_back(heap.top());
      heap.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  // Graph search for k candidates, similarities recomputed from the array, most similar first. An empty
  // optional means "use a scan instead" (the graph returned fewer than k live candidates).
  static absl::StatusOr<std::optional<std::vector<VectorMatch>>> GraphCandidates(const Model& m, const float* q,
                                                                               size_t k) {
    std::priority_queue<std::pair<float, hnswlib::labeltype>> found;
    try {
      found = m.graph->searchKnn(q, k);  // ef = max(ef_search, k)
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("out of memory searching the HNSW graph");
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("hnswlib: ", std::string(e.what())));
    }
    std::vector<VectorMatch> out;
    out.reserve(found.size());
    for (; !found.empty(); found.pop()) {
      const size_t slot = found.top().second;
      if (slot >= m.slots() || !m.slot_live[slot]) continue;  // marked deleted; never expected
      out.push_back({m.slot_ids[slot], ClampSimilarity(Dot(q, m.row(slot), m.dim))});
    }
    if (out.size() < k) return std::optional<std::vector<VectorMatch>>();
    std::sort(out.begin(), out.end(), Better);
    return std::optional<std::vector<VectorMatch>>(std::move(out));
  }

  bool ScanIsCheaper(const Model& m, size_t k) const {
    return m.graph == nullptr || k >= m.live() / kExactFractionDivisor;
  }
};

VectorIndex::VectorIndex(VectorIndexOptions options) : impl_(std::make_unique<Impl>()) {
  options.hnsw_m = std::clamp<size_t>(options.hnsw_m, 2, kMaxHnswM);
  options.ef_search = std::max<size_t>(options.ef_search, 1);
  impl_->options = options;
}

VectorIndex::~VectorIndex() = default;

absl::Status VectorIndex::AddModel(const std::string& model_id, int dimension) {
  if (model_id.empty()) return absl::InvalidArgumentError("empty model id");
  if (dimension < 1 || dimension > kMaxDimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model_id, "': dimension ", dimension, " is outside 1..", kMaxDimension));
  }
  std::unique_lock lock(impl_->mu);
  const auto [it, inserted] = impl_->models.try_emplace(model_id);
  if (inserted) {
    it->second.dim = static_cast<size_t>(dimension);
  } else if (it->second.dim != static_cast<size_t>(dimension)) {
    return absl::AlreadyExistsError(absl::StrCat("model '", model_id, "' is registered with dimension ",
                                                 it->second.dim, ", not ", dimension));
  }
  return absl::OkStatus();
}

absl::Status VectorIndex::Insert(const std::string& model_id, uint64_t id, std::span<const float> vector) {
  std::unique_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  if (it == impl_->models.end()) return absl::NotFoundError(absl::StrCat("unknown model '", model_id, "'"));
  Model& m = it->second;
  if (vector.size() != m.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector has dimension ", vector.size(), ", model '", model_id, "' has ", m.dim));
  }
  if (m.id_to_slot.contains(id)) {
    return absl::AlreadyExistsError(absl::StrCat("id ", id, " is already in model '", model_id, "'"));
  }
  std::vector<float> unit;
  if (absl::Status s = Normalise(vector, unit, "vector"); !s.ok()) return s;

  const size_t slot = m.slots();
  if (m.graph != nullptr) {
    // Into the graph first: if it fails, nothing has changed.
    try {
      if (m.graph->cur_element_count >= m.graph->max_elements_) m.graph->resizeIndex(2 * m.graph->max_elements_);
      m.graph->addPoint(unit.data(), slot);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat("out of memory growing the HNSW graph of model '",
                                                       model_id, "' past ", m.graph->max_elements_));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("hnswlib: ", std::string(e.what())));
    }
  }
  m.vectors.insert(m.vectors.end(), unit.begin(), unit.end());
  m.slot_ids.push_back(id);
  m.slot_live.push_back(1);
  m.id_to_slot.emplace(id, slot);
  if (m.graph == nullptr && m.live() >= impl_->options.exact_below) {
    if (absl::Status s = impl_->BuildGraph(m); !s.ok()) {
      // Undo the insert so the error means "not inserted"; the next insert tries the build again.
      m.id_to_slot.erase(id);
      m.slot_live.pop_back();
      m.slot_ids.pop_back();
      m.vectors.resize(m.vectors.size() - m.dim);
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status VectorIndex::Remove(const std::string& model_id, uint64_t id) {
  std::unique_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  if (it == impl_->models.end()) return absl::NotFoundError(absl::StrCat("unknown model '", model_id, "'"));
  Model& m = it->second;
  const auto found = m.id_to_slot.find(id);
  if (found == m.id_to_slot.end()) {
    return absl::NotFoundError(absl::StrCat("id ", id, " is not in model '", model_id, "'"));
  }
  const size_t slot = found->second;
  if (m.graph != nullptr) {
    try {
      m.graph->markDelete(slot);
    } catch (const std::exception&) {
      // Only "label not found" / "already deleted", which the slot bookkeeping rules out. Searches filter
      // tombstoned slots anyway, so the removal still holds.
    }
  }
  m.slot_live[slot] = 0;
  m.id_to_slot.erase(found);
  const size_t tombstones = m.slots() - m.live();
  if (tombstones >= kMinTombstonesToCompact && tombstones > m.live()) {
    // The removal has happened whatever the rebuild does; a failed rebuild leaves the model correct in exact
    // mode (the next insert at exact_below builds again), so the error is reported, not undone.
    return impl_->Compact(m);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VectorMatch>> VectorIndex::SearchThreshold(const std::string& model_id,
                                                                      std::span<const float> query,
                                                                      float min_similarity) const {
  if (std::isnan(min_similarity)) return absl::InvalidArgumentError("threshold is NaN");
  std::shared_lock lock(impl_->mu);
  absl::StatusOr<const Model*> model = impl_->FindModel(model_id);
  if (!model.ok()) return model.status();
  const Model& m = **model;
  std::vector<float> q;
  if (absl::Status s = Impl::PrepareQuery(m, model_id, query, q); !s.ok()) return s;

  for (size_t k = std::max<size_t>(impl_->options.ef_search, 16); !impl_->ScanIsCheaper(m, k); k *= 4) {
    absl::StatusOr<std::optional<std::vector<VectorMatch>>> candidates = Impl::GraphCandidates(m, q.data(), k);
    if (!candidates.ok()) return candidates.status();
    if (!candidates->has_value()) break;
    std::vector<VectorMatch>& c = **candidates;
    if (c.back().similarity >= min_similarity) continue;  // the k-th may not be the last above: ask for more
    c.erase(std::find_if(c.begin(), c.end(), [&](const VectorMatch& v) { return v.similarity < min_similarity; }),
            c.end());
    return std::move(c);
  }
  return Impl::ScanThreshold(m, q.data(), min_similarity);
}

absl::StatusOr<std::vector<VectorMatch>> VectorIndex::SearchTopK(const std::string& model_id,
                                                                 std::span<const float> query, size_t k) const {
  std::shared_lock lock(impl_->mu);
  absl::StatusOr<const Model*> model = impl_->FindModel(model_id);
  if (!model.ok()) return model.status();
  const Model& m = **model;
  std::vector<float> q;
  if (absl::Status s = Impl::PrepareQuery(m, model_id, query, q); !s.ok()) return s;
  k = std::min(k, m.live());
  if (k == 0) return std::vector<VectorMatch>();
  if (!impl_->ScanIsCheaper(m, k)) {
    absl::StatusOr<std::optional<std::vector<VectorMatch>>> candidates = Impl::GraphCandidates(m, q.data(), k);
    if (!candidates.ok()) return candidates.status();
    if (candidates->has_value()) return std::move(**candidates);
  }
  return Impl::ScanTopK(m, q.data(), k);
}

size_t VectorIndex::size(const std::string& model_id) const {
  std::shared_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  return it == impl_->models.end() ? 0 : it->second.live();
}

bool VectorIndex::UsesGraph(const std::string& model_id) const {
  std::shared_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  return it != impl_->models.end() && it->second.graph != nullptr;
}

size_t VectorIndex::MemoryBytes() const {
  constexpr size_t kHashNodeBytes = 32;
  std::shared_lock lock(impl_->mu);
  size_t total = sizeof(Impl);
  for (const auto& [name, m] : impl_->models) {
    total += name.capacity() + sizeof(Model) + m.vectors.capacity() * sizeof(float) +
             m.slot_ids.capacity() * sizeof(uint64_t) + m.slot_live.capacity() +
             m.id_to_slot.bucket_count() * sizeof(void*) + m.id_to_slot.size() * kHashNodeBytes;
    if (m.graph == nullptr) continue;
    const Graph& g = *m.graph;
    total += g.max_elements_ * g.size_data_per_element_;                               // level 0
    total += g.max_elements_ * (sizeof(int) + sizeof(char*) + sizeof(std::mutex));     // per-element tables
    total += size_t{Graph::max_update_element_locks} * sizeof(std::mutex);             // update locks
    total += g.max_elements_ * sizeof(hnswlib::vl_type);                               // one visited list
    total += g.label_lookup_.bucket_count() * sizeof(void*) + g.label_lookup_.size() * kHashNodeBytes;
    for (size_t i = 0; i < g.cur_element_count; ++i) {
      const int level = g.element_levels_[i];
      if (level > 0) total += g.size_links_per_element_ * static_cast<size_t>(level) + 1;
    }
  }
  return total;
}

}  // namespace hashbank
