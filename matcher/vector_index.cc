#include "matcher/vector_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <map>
#include <mutex>
#include <new>
#include <numbers>
#include <queue>
#include <random>
#include <limits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

#if defined(__x86_64__)
// GCC 12 warns falsely inside its own AVX-512 headers (an "uninitialized" undefined-vector placeholder).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

// faiss (static library from Debian's libfaiss-dev) trains the centroids: k-means with BLAS matrix products.
// Its headers are not warning-clean under this project's flags.
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
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#pragma GCC diagnostic pop

namespace hashbank {
namespace {

// Compaction waits for at least this many tombstones (and for them to outnumber live entries).
constexpr size_t kMinTombstonesToCompact = 1024;
// A model is clustered again when its live entries reach this multiple of the count it was clustered at.
constexpr size_t kReclusterGrowth = 2;
constexpr double kListsPerSqrtN = 2.0;  // 2 sqrt(n) lists
constexpr size_t kMinLists = 8;
constexpr size_t kMaxLists = 16384;
// k-means trains on at most this many vectors per centroid (a uniform sample).
constexpr size_t kTrainPointsPerCentroid = 64;
// Each list is split into this many bands by the vectors' angle to its centroid (quantiles at clustering).
constexpr size_t kBandsPerList = 8;
// Float rows are stored in blocks, so growing never copies the whole array.
constexpr size_t kRowsPerBlock = 4096;
// The angle bound is widened by these, so float rounding never drops a vector that reaches the floor: each
// of the angles the bound subtracts (computed in double from unit float vectors) is off by far less than
// kAngleSlack / 2 even next to 0 or pi, where acos is steepest.
constexpr double kSimilaritySlack = 1e-3;
constexpr double kAngleSlack = 5e-3;
constexpr float kUnitRoundoff = 1.0f / 16777216.0f;  // 2^-24

// Dot product with sixteen independent partial sums, so the compiler can keep them in SIMD lanes (a single
// float accumulator cannot be vectorised without reassociation). Compiled for AVX-512 and AVX2 too, and
// picked once by the CPU. (Dispatch by a pointer set at start-up rather than GCC's target_clones: an ifunc
// resolver runs before the sanitizers' runtimes are ready.)
inline __attribute__((always_inline)) float DotBody(const float* a, const float* b, size_t n) {
  float acc[16] = {};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (size_t l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (size_t l = 0; l < 16; l += 2) tail += acc[l] + acc[l + 1];
  return tail;
}

float DotDefault(const float* a, const float* b, size_t n) { return DotBody(a, b, n); }
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("arch=x86-64-v4"))) float DotV4(const float* a, const float* b, size_t n) { return DotBody(a, b, n); }
__attribute__((target("arch=x86-64-v3"))) float DotV3(const float* a, const float* b, size_t n) { return DotBody(a, b, n); }
#endif

using DotFn = float (*)(const float*, const float*, size_t);

DotFn ChooseDot() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  __builtin_cpu_init();  // static initialisers may run before libgcc's own
  if (__builtin_cpu_supports("x86-64-v4")) return DotV4;
  if (__builtin_cpu_supports("x86-64-v3")) return DotV3;
#elif defined(__x86_64__) && defined(__clang__)
  // clang 14 knows no "x86-64-vN" level names: the features those levels need, by name.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    return DotV4;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DotV3;
#endif
  return DotDefault;
}

const DotFn Dot = ChooseDot();

// The same against an int8 code: sum of q[i] * c[i]. The filtering scan is this loop over a quarter of the
// bytes a float scan reads; written with intrinsics for AVX-512 and AVX2 (the compiler's own vectorisation
// of the conversions is several times slower), chosen once by the CPU.
float DotCodeScalar(const float* q, const int8_t* c, size_t n) {
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t l = 0; l < 8; ++l) acc[l] += q[i + l] * static_cast<float>(c[i + l]);
  }
  float tail = 0;
  for (; i < n; ++i) tail += q[i] * static_cast<float>(c[i]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float DotCodeAvx512(const float* q, const int8_t* c, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(c0)), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(c1)), acc1);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += q[i] * static_cast<float>(c[i]);
  return sum;
}

__attribute__((target("avx2,fma"))) float DotCodeAvx2(const float* q, const int8_t* c, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(codes, 8)));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), lo, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), hi, acc1);
  }
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
  float sum = _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
  for (; i < n; ++i) sum += q[i] * static_cast<float>(c[i]);
  return sum;
}
#endif

using DotCodeFn = float (*)(const float*, const int8_t*, size_t);

DotCodeFn ChooseDotCode() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();  // static initialisers may run before libgcc's own
  if (__builtin_cpu_supports("avx512f")) return DotCodeAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DotCodeAvx2;
#endif
  return DotCodeScalar;
}

const DotCodeFn DotCode = ChooseDotCode();

// In double, for the angles the pruning bound is computed from.
double DotDouble(const float* a, const float* b, size_t n) {
  double acc[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t l = 0; l < 4; ++l) acc[l] += static_cast<double>(a[i + l]) * static_cast<double>(b[i + l]);
  }
  double tail = 0;
  for (; i < n; ++i) tail += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
}

float ClampSimilarity(float s) { return std::clamp(s, -1.0f, 1.0f); }

// Makes room for `extra` more elements, growing geometrically (reserve(size + 1) on every insert would copy
// the whole vector each time). Allocation happens here or not at all: the push_back that follows cannot throw.
template <typename T>
void Room(std::vector<T>& v, size_t extra) {
  if (v.size() + extra > v.capacity()) v.reserve(std::max(v.size() + extra, 2 * v.capacity()));
}

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

// Vectors filed together: their int8 codes (x ~ scale * code) with each code's scale and error bound
// ||x - scale * code|| (rounded up), and their slots. `cos_min` / `cos_max`: the range of the members' cosines to the list's
// centroid.
struct Band {
  // One record a vector, contiguous so that a band is one stream of memory: scale (float), error bound
  // (float), then the dim-byte code.
  std::vector<int8_t> records;
  std::vector<uint32_t> slot;
  double cos_min = 2;
  double cos_max = -2;
  size_t size() const { return slot.size(); }
};

// A centroid's vectors, in bands: band j holds cosines >= lower[j] (and below lower[j - 1]).
struct List {
  std::vector<double> lower;
  std::vector<Band> bands;

  // The band a vector with this cosine to the centroid belongs in.
  Band& BandOf(double cosine) {
    size_t band = 0;
    while (band + 1 < lower.size() && cosine < lower[band]) ++band;
    return bands[band];
  }
};

struct Model {
  size_t dim = 0;
  std::vector<std::unique_ptr<float[]>> blocks;  // unit vectors, kRowsPerBlock rows a block, by slot
  std::vector<uint64_t> slot_ids;                // id stored in each slot
  std::vector<uint8_t> slot_live;                // 0 for a tombstone
  std::unordered_map<uint64_t, size_t> id_to_slot;  // live ids only
  // Clustered mode: unit centroids, one list each. Unclustered: no centroids and one list of one band.
  // Tombstoned slots stay in their band until compaction.
  std::vector<float> centroids;
  std::vector<List> lists;
  size_t clustered_at = 0;  // live entries when the centroids were trained
  // A clustering is queued or runs in the background from a snapshot of slots [0, n); slots keep their
  // numbers until it is installed (compaction waits). After a failure, the next try waits for `retry_at`.
  bool clustering = false;
  size_t retry_at = 0;
  size_t compact_retry_at = 0;  // after a failed compaction: tombstones before the next try

  size_t live() const { return id_to_slot.size(); }
  // The row blocks' addresses, for a reader outside the lock (the blocks never move; the vector holding
  // them may).
  std::vector<const float*> BlockAddresses() const {
    std::vector<const float*> out;
    out.reserve(blocks.size());
    for (const auto& b : blocks) out.push_back(b.get());
    return out;
  }
  size_t slots() const { return slot_ids.size(); }
  float* row(size_t slot) { return blocks[slot / kRowsPerBlock].get() + (slot % kRowsPerBlock) * dim; }
  const float* row(size_t slot) const { return blocks[slot / kRowsPerBlock].get() + (slot % kRowsPerBlock) * dim; }
  bool clustered() const { return !centroids.empty(); }
  const float* centroid(size_t list) const { return centroids.data() + list * dim; }

  // A new slot holding `unit`. All allocation happens first: if it throws, nothing has changed.
  size_t AppendRow(const float* unit, uint64_t id) {
    const size_t slot = slots();
    if (slot % kRowsPerBlock == 0 && blocks.size() == slot / kRowsPerBlock) {
      auto block = std::make_unique<float[]>(kRowsPerBlock * dim);
      blocks.push_back(std::move(block));
    }
    Room(slot_ids, 1);
    Room(slot_live, 1);
    if (static_cast<float>(id_to_slot.size() + 1) > static_cast<float>(id_to_slot.bucket_count()) * id_to_slot.max_load_factor()) {
      id_to_slot.reserve(2 * (id_to_slot.size() + 1));
    }
    id_to_slot.emplace(id, slot);  // allocates its node: the last step that can throw
    std::copy(unit, unit + dim, row(slot));
    slot_ids.push_back(id);
    slot_live.push_back(1);
    return slot;
  }

  // Undoes the last AppendRow (its block may stay, empty).
  void PopRow() {
    id_to_slot.erase(slot_ids.back());
    slot_ids.pop_back();
    slot_live.pop_back();
  }

  void Unclustered() {
    centroids.clear();
    lists.assign(1, List{});
    lists[0].lower = {-std::numeric_limits<double>::infinity()};
    lists[0].bands.resize(1);
    clustered_at = 0;
  }
};

// Appends the vector `x` of `slot` to `band`: its code, error bound and slot; `cosine` widens the band's
// range.
constexpr size_t kRecordHeader = 2 * sizeof(float);

void AddToBand(const float* x, size_t dim, size_t slot, double cosine, Band& band) {
  float max_abs = 0;
  for (size_t i = 0; i < dim; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
  double error = 0;
  const size_t at = band.records.size();
  Room(band.slot, 1);  // allocation first: if it throws, the band is unchanged
  band.records.resize(at + kRecordHeader + dim);
  int8_t* code = band.records.data() + at + kRecordHeader;
  for (size_t i = 0; i < dim; ++i) {
    const auto c = static_cast<int8_t>(std::clamp(std::lround(x[i] / scale), -127L, 127L));
    code[i] = c;
    const double diff = static_cast<double>(x[i]) - static_cast<double>(scale) * static_cast<double>(c);
    error += diff * diff;
  }
  const float error_up = std::nextafter(static_cast<float>(std::sqrt(error)), 1.0f);  // rounded up
  std::memcpy(band.records.data() + at, &scale, sizeof(float));
  std::memcpy(band.records.data() + at + sizeof(float), &error_up, sizeof(float));
  band.slot.push_back(static_cast<uint32_t>(slot));
  band.cos_min = std::min(band.cos_min, cosine);
  band.cos_max = std::max(band.cos_max, cosine);
}

// Files `slot` under its most similar centroid and the band of its cosine to it.
void FileInto(const std::vector<float>& centroids, std::vector<List>& lists, size_t dim, const float* v, size_t slot) {
  size_t best = 0;
  float best_sim = -2;
  for (size_t l = 0; l < lists.size(); ++l) {
    const float sim = Dot(v, centroids.data() + l * dim, dim);
    if (sim > best_sim) {
      best_sim = sim;
      best = l;
    }
  }
  const double cosine = DotDouble(v, centroids.data() + best * dim, dim);
  AddToBand(v, dim, slot, cosine, lists[best].BandOf(cosine));
}

void FileSlot(Model& m, size_t slot) {
  if (!m.clustered()) {
    AddToBand(m.row(slot), m.dim, slot, 0.0, m.lists[0].bands[0]);
    return;
  }
  FileInto(m.centroids, m.lists, m.dim, m.row(slot), slot);
}

size_t ListCount(size_t n) {
  return std::clamp<size_t>(static_cast<size_t>(std::lround(kListsPerSqrtN * std::sqrt(static_cast<double>(n)))),
                            kMinLists, kMaxLists);
}

// Centroids and lists built in the background from a snapshot of a model's first `slots` slots.
struct ClusterBuild {
  size_t slots = 0;  // the snapshot: slots [0, slots)
  size_t live = 0;   // live among them at the snapshot
  std::vector<float> centroids;
  std::vector<List> lists;
};

// Trains ListCount(live) centroids by spherical k-means on a sample of the snapshot's live vectors and files
// every one of them under its centroid, in kBandsPerList bands split at the quantiles of the list's
// cosines. Reads rows only through `blocks` (row s at blocks[s / kRowsPerBlock] + (s % kRowsPerBlock) * dim),
// which nothing writes or frees while it runs. Throws what faiss or the allocator throws.
ClusterBuild BuildClusters(size_t dim, const std::vector<const float*>& blocks, const std::vector<uint8_t>& live,
                           const VectorIndexOptions& options) {
  auto row = [&](size_t s) { return blocks[s / kRowsPerBlock] + (s % kRowsPerBlock) * dim; };
  ClusterBuild out;
  out.slots = live.size();
  std::vector<uint32_t> live_slots;
  for (size_t s = 0; s < live.size(); ++s) {
    if (live[s]) live_slots.push_back(static_cast<uint32_t>(s));
  }
  const size_t n = live_slots.size();
  out.live = n;
  const size_t nlist = std::min(ListCount(n), n);
  // k-means on a uniform sample, copied contiguous.
  const size_t sample_size = std::min(n, nlist * kTrainPointsPerCentroid);
  std::vector<float> sample(sample_size * dim);
  std::mt19937_64 rng(options.seed);
  for (size_t i = 0; i < sample_size; ++i) {
    const size_t s = live_slots[sample_size == n ? i : static_cast<size_t>(rng() % n)];
    std::copy(row(s), row(s) + dim, sample.begin() + static_cast<std::ptrdiff_t>(i * dim));
  }
  faiss::ClusteringParameters params;
  params.niter = std::clamp(options.kmeans_iterations, 1, 100);
  params.spherical = true;
  params.seed = static_cast<int>(options.seed & 0x7FFFFFFF);
  params.max_points_per_centroid = static_cast<int>(kTrainPointsPerCentroid);
  params.min_points_per_centroid = 1;  // no warning on stderr
  params.verbose = false;
  faiss::Clustering kmeans(static_cast<int>(dim), static_cast<int>(nlist), params);
  faiss::IndexFlatIP assign(static_cast<faiss::Index::idx_t>(dim));
  kmeans.train(static_cast<faiss::Index::idx_t>(sample_size), sample.data(), assign);
  sample = {};
  out.centroids.assign(kmeans.centroids.begin(), kmeans.centroids.end());
  // Unit length to float precision (faiss normalises in float), so the angles the bound uses are accurate.
  for (size_t l = 0; l < nlist; ++l) {
    float* c = out.centroids.data() + l * dim;
    const double norm = std::sqrt(DotDouble(c, c, dim));
    if (!(norm > 0)) throw std::runtime_error("k-means produced a zero centroid");
    for (size_t i = 0; i < dim; ++i) c[i] = static_cast<float>(static_cast<double>(c[i]) / norm);
  }
  // Every live vector to its most similar centroid, a block at a time (BLAS matrix products).
  assign.reset();
  assign.add(static_cast<faiss::Index::idx_t>(nlist), out.centroids.data());
  std::vector<uint32_t> list_of(n);
  std::vector<double> cosine_of(n);
  std::vector<float> rows(kRowsPerBlock * dim), sims(kRowsPerBlock);
  std::vector<faiss::Index::idx_t> best(kRowsPerBlock);
  for (size_t first = 0; first < n; first += kRowsPerBlock) {
    const size_t count = std::min(kRowsPerBlock, n - first);
    for (size_t i = 0; i < count; ++i) {
      std::copy(row(live_slots[first + i]), row(live_slots[first + i]) + dim, rows.begin() + static_cast<std::ptrdiff_t>(i * dim));
    }
    assign.search(static_cast<faiss::Index::idx_t>(count), rows.data(), 1, sims.data(), best.data());
    for (size_t i = 0; i < count; ++i) {
      const size_t l = best[i] < 0 ? 0 : static_cast<size_t>(best[i]);
      list_of[first + i] = static_cast<uint32_t>(l);
      cosine_of[first + i] = DotDouble(rows.data() + i * dim, out.centroids.data() + l * dim, dim);
    }
  }
  // Band boundaries: quantiles of each list's cosines.
  std::vector<std::vector<double>> cosines(nlist);
  for (size_t i = 0; i < n; ++i) cosines[list_of[i]].push_back(cosine_of[i]);
  out.lists.resize(nlist);
  for (size_t l = 0; l < nlist; ++l) {
    std::vector<double>& c = cosines[l];
    std::sort(c.begin(), c.end(), std::greater<>());
    List& list = out.lists[l];
    for (size_t b = 1; b < kBandsPerList && !c.empty(); ++b) {
      const double boundary = c[(c.size() * b) / kBandsPerList];
      if (list.lower.empty() || boundary < list.lower.back()) list.lower.push_back(boundary);
    }
    list.lower.push_back(-std::numeric_limits<double>::infinity());
    list.bands.resize(list.lower.size());
  }
  for (size_t i = 0; i < n; ++i) {
    AddToBand(row(live_slots[i]), dim, live_slots[i], cosine_of[i], out.lists[list_of[i]].BandOf(cosine_of[i]));
  }
  return out;
}

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

  std::condition_variable_any idle;  // notified when a background clustering ends

  // Rewrites the rows without tombstones (slots renumbered densely) and drops their entries from the bands;
  // the centroids stay. Below exact_below / 2 live entries the model becomes unclustered. Never while a
  // clustering runs (it reads slots by number).
  void Compact(Model& m) const {
    // Everything that allocates first, into locals: if it throws, the model has not changed.
    std::vector<uint32_t> remap(m.slots(), UINT32_MAX);
    std::vector<std::unique_ptr<float[]>> blocks;
    std::vector<uint64_t> slot_ids;
    slot_ids.reserve(m.live());
    for (size_t s = 0; s < m.slots(); ++s) {
      if (!m.slot_live[s]) continue;
      const size_t next = slot_ids.size();
      if (next % kRowsPerBlock == 0) blocks.push_back(std::make_unique<float[]>(kRowsPerBlock * m.dim));
      std::copy(m.row(s), m.row(s) + m.dim, blocks.back().get() + (next % kRowsPerBlock) * m.dim);
      remap[s] = static_cast<uint32_t>(next);
      slot_ids.push_back(m.slot_ids[s]);
    }
    std::unordered_map<uint64_t, size_t> id_to_slot;
    id_to_slot.reserve(slot_ids.size());
    for (size_t s = 0; s < slot_ids.size(); ++s) id_to_slot.emplace(slot_ids[s], s);
    std::vector<List> flat;  // the one list of an unclustered model, when the model is unclustered here
    const bool uncluster = m.clustered() && slot_ids.size() < options.exact_below / 2;
    if (uncluster) {
      flat.resize(1);
      flat[0].lower = {-std::numeric_limits<double>::infinity()};
      flat[0].bands.resize(1);
      for (size_t s = 0; s < slot_ids.size(); ++s) {
        AddToBand(blocks[s / kRowsPerBlock].get() + (s % kRowsPerBlock) * m.dim, m.dim, s, 0.0, flat[0].bands[0]);
      }
    }
    // Then moves, which do not throw.
    m.blocks = std::move(blocks);
    m.slot_ids = std::move(slot_ids);
    m.slot_live.assign(m.slot_ids.size(), 1);  // no larger than before: no allocation
    m.id_to_slot = std::move(id_to_slot);
    if (uncluster) {
      m.centroids.clear();
      m.lists = std::move(flat);
      m.clustered_at = 0;
      return;
    }
    const size_t stride = kRecordHeader + m.dim;
    for (List& list : m.lists) {
      for (Band& band : list.bands) {
        size_t kept = 0;
        for (size_t i = 0; i < band.size(); ++i) {
          const uint32_t to = remap[band.slot[i]];
          if (to == UINT32_MAX) continue;
          std::memmove(band.records.data() + kept * stride, band.records.data() + i * stride, stride);
          band.slot[kept] = to;
          ++kept;
        }
        band.records.resize(kept * stride);
        band.slot.resize(kept);
        band.records.shrink_to_fit();  // libstdc++'s never throws (it keeps the memory instead)
      }
    }
  }

  // Background clustering: one worker thread (started with the first clustering) takes models from
  // `pending`, builds centroids and lists from a snapshot of their slots without the lock, and installs them
  // under the exclusive lock. Searches and inserts go on with the old structure until then.
  std::thread worker;
  std::deque<Model*> pending;  // models with clustering set, waiting for the worker
  bool stopping = false;
  std::condition_variable_any work;

  static bool CompactionDue(const Model& m) {
    const size_t tombstones = m.slots() - m.live();
    return tombstones >= kMinTombstonesToCompact && tombstones > m.live() && tombstones >= m.compact_retry_at;
  }

  bool ClusteringDue(const Model& m) const {
    const bool first = !m.clustered() && m.live() >= options.exact_below;
    const bool grown = m.clustered() && m.live() >= kReclusterGrowth * m.clustered_at;
    return (first || grown) && m.live() >= m.retry_at && m.live() >= kMinLists;
  }

  // Called after every change (exclusive lock held): compacts, or queues a clustering, when due.
  // Never throws: out of memory here only postpones the compaction or the clustering.
  void Maintain(Model& m) {
    if (m.clustering) return;  // compaction waits: the clustering reads slots by number
    if (CompactionDue(m)) {
      try {
        Compact(m);
        m.compact_retry_at = 0;
      } catch (const std::exception&) {  // out of memory: the model is unchanged; tried again later
        const size_t tombstones = m.slots() - m.live();
        m.compact_retry_at = tombstones + tombstones / 2;
      }
    }
    try {
      if (!ClusteringDue(m)) return;
      pending.push_back(&m);
      if (!worker.joinable()) {
        try {
          worker = std::thread([this] { Work(); });
        } catch (const std::exception&) {
          pending.pop_back();
          throw;
        }
      }
      m.clustering = true;
      work.notify_one();
    } catch (const std::exception&) {  // std::bad_alloc, std::system_error: tried again later
      m.retry_at = m.live() + m.live() / 2;
    }
  }

  // Files into `built` the slots inserted since its snapshot, without the exclusive lock (rows never move or
  // change once written; a slot removed meanwhile is filed too and skipped by searches), until few are left.
  void CatchUp(const Model& m, ClusterBuild& built) const {
    std::vector<const float*> blocks;
    for (;;) {
      size_t end;
      {
        std::shared_lock read(mu);
        end = m.slots();
        blocks = m.BlockAddresses();
      }
      if (end - built.slots <= kRowsPerBlock) return;
      for (size_t slot = built.slots; slot < end; ++slot) {
        FileInto(built.centroids, built.lists, m.dim, blocks[slot / kRowsPerBlock] + (slot % kRowsPerBlock) * m.dim, slot);
      }
      built.slots = end;
    }
  }

  void Work() {
    std::unique_lock lock(mu);
    for (;;) {
      work.wait(lock, [&] { return stopping || !pending.empty(); });
      if (stopping) return;
      Model& m = *pending.front();
      pending.pop_front();
      std::optional<ClusterBuild> built;
      // The snapshot: rows never move or change once written, and compaction waits, so the rows of these
      // slots can be read without the lock.
      std::vector<const float*> blocks;
      std::vector<uint8_t> live;
      try {
        blocks = m.BlockAddresses();
        live = m.slot_live;
      } catch (const std::exception&) {
        live.clear();
      }
      const bool enough = static_cast<size_t>(std::count(live.begin(), live.end(), 1)) >= kMinLists;
      lock.unlock();
      try {
        if (!enough) throw std::runtime_error("too few live vectors to cluster");  // removed while queued
        built = BuildClusters(m.dim, blocks, live, options);
        CatchUp(m, *built);
      } catch (const std::exception&) {  // std::bad_alloc or faiss::FaissException: not clustered this time
        built.reset();
      }
      lock.lock();
      // Inserts that won the lock meanwhile: catch up again without it, a few rounds at most, so that the
      // exclusive lock files only a few.
      for (int round = 0; built && round < 8 && m.slots() - built->slots > kRowsPerBlock; ++round) {
        lock.unlock();
        try {
          CatchUp(m, *built);
        } catch (const std::exception&) {
          built.reset();
        }
        lock.lock();
      }
      if (built) {
        // The last inserts go into the new lists before they replace the old: if that runs out of memory
        // the old structure stays, whole.
        try {
          for (size_t slot = built->slots; slot < m.slots(); ++slot) {
            FileInto(built->centroids, built->lists, m.dim, m.row(slot), slot);
          }
        } catch (const std::exception&) {
          built.reset();
        }
      }
      if (built && !built->lists.empty()) {
        m.centroids = std::move(built->centroids);
        m.lists = std::move(built->lists);
        m.clustered_at = built->live;
      } else {
        m.retry_at = m.live() + m.live() / 2;
      }
      m.clustering = false;
      Maintain(m);  // what was deferred: a compaction, or another clustering if it grew meanwhile
      idle.notify_all();
    }
  }

  // A bounded heap of the k best so far; its top is the worst kept.
  struct TopK {
    explicit TopK(size_t k_) : k(k_), heap(&Better) {}
    void Offer(const VectorMatch& c) {
      if (heap.size() < k) {
        heap.push(c);
      } else if (Better(c, heap.top())) {
        heap.pop();
        heap.push(c);
      }
    }
    // The similarity a vector must reach to enter: -2 (anything) until k are held.
    float Floor() const { return heap.size() < k ? -2.0f : heap.top().similarity; }
    std::vector<VectorMatch> Take() {
      std::vector<VectorMatch> out;
      out.reserve(heap.size());
      for (; !heap.empty(); heap.pop()) out.push_back(heap.top());
      std::reverse(out.begin(), out.end());
      return out;
    }
    size_t k;
    std::priority_queue<VectorMatch, std::vector<VectorMatch>, decltype(&Better)> heap;
  };

  // visit(slot, similarity) for every live vector that can reach floor() (re-read as it may rise), with
  // its similarity computed in float exactly as a plain scan computes it. Skipped without computing it:
  //  - whole bands, when clustered: on the sphere angle(q, x) >= |angle(q, c) - angle(x, c)|, so a band
  //    whose angles to the centroid c all lie farther than acos(floor) from angle(q, c) cannot reach the
  //    floor (lists in order of decreasing centroid similarity, so a top-k floor rises fast);
  //  - single vectors whose code bound, q . (scale * code) + ||x - scale * code|| (Cauchy-Schwarz) plus the
  //    float rounding of both dot products, is below the floor.
  template <typename Floor, typename Visit>
  void Candidates(const Model& m, const float* q, Floor&& floor, Visit&& visit) const {
    // Rounding: each float dot product of n terms with |sum of |terms|| <= ~1 is within n * u of exact.
    const float rounding = 2.0f * static_cast<float>(m.dim) * kUnitRoundoff * 1.01f + 1e-6f;
    std::vector<std::pair<double, uint32_t>> order(m.lists.size());
    for (size_t l = 0; l < m.lists.size(); ++l) {
      order[l] = {m.clustered() ? DotDouble(q, m.centroid(l), m.dim) : 0.0, static_cast<uint32_t>(l)};
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    const size_t stride = kRecordHeader + m.dim;
    for (const auto& [cq, l] : order) {
      // The band test's cosine range, recomputed when the floor has risen.
      const double angle_q = std::acos(std::clamp(cq, -1.0, 1.0));
      double range_floor = std::numeric_limits<double>::quiet_NaN();
      double cos_high = 2.0, cos_low = -2.0;
      for (const Band& band : m.lists[l].bands) {
        if (band.size() == 0) continue;
        const double f = floor();
        if (m.clustered() && f - kSimilaritySlack > -1.0) {
          if (f != range_floor) {
            range_floor = f;
            const double alpha = std::acos(f - kSimilaritySlack) + kAngleSlack;
            // The smallest angle allowed; none when it would be <= 0 (stored cosines may round above 1).
            cos_high = angle_q - alpha <= 0.0 ? 2.0 : std::cos(angle_q - alpha);
            cos_low = angle_q + alpha >= std::numbers::pi ? -2.0 : std::cos(angle_q + alpha);
          }
          if (band.cos_min > cos_high || band.cos_max < cos_low) continue;
        }
        const int8_t* record = band.records.data();
        for (size_t i = 0; i < band.size(); ++i, record += stride) {
          if (options.int8_filter) {
            float scale, error;
            std::memcpy(&scale, record, sizeof(float));
            std::memcpy(&error, record + sizeof(float), sizeof(float));
            const float bound = scale * DotCode(q, record + kRecordHeader, m.dim) + error * 1.00001f + rounding;
            if (bound < floor()) continue;
          }
          const size_t slot = band.slot[i];
          if (m.slot_live[slot]) visit(slot, ClampSimilarity(Dot(q, m.row(slot), m.dim)));
        }
      }
    }
  }
};

VectorIndex::VectorIndex(VectorIndexOptions options) : impl_(std::make_unique<Impl>()) {
  options.kmeans_iterations = std::clamp(options.kmeans_iterations, 1, 100);
  impl_->options = options;
}

VectorIndex::~VectorIndex() {
  {
    std::unique_lock lock(impl_->mu);
    impl_->stopping = true;  // a clustering under way finishes first (faiss cannot be interrupted)
  }
  impl_->work.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

void VectorIndex::WaitForClustering() const {
  std::unique_lock lock(impl_->mu);
  impl_->idle.wait(lock, [&] {
    return std::none_of(impl_->models.begin(), impl_->models.end(), [](const auto& m) { return m.second.clustering; });
  });
}

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
    it->second.Unclustered();
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
  if (m.slots() >= UINT32_MAX) return absl::ResourceExhaustedError("more than 2^32 - 1 vectors in one model");
  try {
    std::vector<float> unit;
    if (absl::Status s = Normalise(vector, unit, "vector"); !s.ok()) return s;
    const size_t slot = m.AppendRow(unit.data(), id);
    try {
      FileSlot(m, slot);
    } catch (const std::bad_alloc&) {
      m.PopRow();
      throw;
    }
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory adding to model '", model_id, "'"));
  }
  impl_->Maintain(m);
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
  m.slot_live[found->second] = 0;
  m.id_to_slot.erase(found);
  impl_->Maintain(m);
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
  try {
    std::vector<float> q;
    if (absl::Status s = Impl::PrepareQuery(m, model_id, query, q); !s.ok()) return s;
    std::vector<VectorMatch> out;
    impl_->Candidates(
        m, q.data(), [&] { return min_similarity; },
        [&](size_t slot, float sim) {
          if (sim >= min_similarity) out.push_back({m.slot_ids[slot], sim});
        });
    std::sort(out.begin(), out.end(), Better);
    return out;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory searching the vector index");
  }
}

absl::StatusOr<std::vector<VectorMatch>> VectorIndex::SearchTopK(const std::string& model_id,
                                                                 std::span<const float> query, size_t k) const {
  std::shared_lock lock(impl_->mu);
  absl::StatusOr<const Model*> model = impl_->FindModel(model_id);
  if (!model.ok()) return model.status();
  const Model& m = **model;
  try {
    std::vector<float> q;
    if (absl::Status s = Impl::PrepareQuery(m, model_id, query, q); !s.ok()) return s;
    k = std::min(k, m.live());
    if (k == 0) return std::vector<VectorMatch>();
    Impl::TopK top(k);
    impl_->Candidates(
        m, q.data(), [&] { return top.Floor(); },
        [&](size_t slot, float sim) { top.Offer({m.slot_ids[slot], sim}); });
    return top.Take();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory searching the vector index");
  }
}

size_t VectorIndex::size(const std::string& model_id) const {
  std::shared_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  return it == impl_->models.end() ? 0 : it->second.live();
}

size_t VectorIndex::total_size() const {
  std::shared_lock lock(impl_->mu);
  size_t n = 0;
  for (const auto& [id, model] : impl_->models) n += model.live();
  return n;
}

bool VectorIndex::UsesClusters(const std::string& model_id) const {
  std::shared_lock lock(impl_->mu);
  const auto it = impl_->models.find(model_id);
  return it != impl_->models.end() && it->second.clustered();
}

size_t VectorIndex::MemoryBytes() const {
  constexpr size_t kHashNodeBytes = 32;
  std::shared_lock lock(impl_->mu);
  size_t total = sizeof(Impl);
  for (const auto& [name, m] : impl_->models) {
    total += name.capacity() + sizeof(Model) + m.blocks.size() * kRowsPerBlock * m.dim * sizeof(float) +
             m.slot_ids.capacity() * sizeof(uint64_t) + m.slot_live.capacity() +
             m.id_to_slot.bucket_count() * sizeof(void*) + m.id_to_slot.size() * kHashNodeBytes +
             m.centroids.capacity() * sizeof(float) + m.lists.capacity() * sizeof(List);
    for (const List& list : m.lists) {
      total += list.lower.capacity() * sizeof(double) + list.bands.capacity() * sizeof(Band);
      for (const Band& b : list.bands) {
        total += b.records.capacity() + b.slot.capacity() * sizeof(uint32_t);
      }
    }
  }
  return total;
}

}  // namespace hashbank
