#include "matcher/pdq_index.h"

#include <algorithm>
#include <bit>
#include <mutex>

#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

constexpr int kSegments = 16;
constexpr uint32_t kBuckets = 1u << 16;
constexpr uint64_t kNoId = ~uint64_t{0};
constexpr uint32_t kFreeSlot = ~uint32_t{0};

inline uint32_t Segment(const Hash256& h, int s) {
  return static_cast<uint32_t>(h.limbs[static_cast<size_t>(s >> 2)] >> (16 * (s & 3))) & 0xFFFFu;
}

// The two segment values after s (cyclically), packed as stored in a bucket entry.
inline uint32_t NextTwo(const Hash256& h, int s) {
  return Segment(h, (s + 1) % kSegments) | (Segment(h, (s + 2) % kSegments) << 16);
}

struct Posting {
  uint32_t slot;
  uint32_t next2;  // segment values s+1 (low 16 bits) and s+2 (high 16 bits)
};
static_assert(sizeof(Posting) == 8);

// 16-bit masks ordered by popcount 0..3 (1 + 16 + 120 + 560 = 697), the probe offsets for per-segment
// radius up to 3 (r <= 63).
struct ProbeMasks {
  std::vector<uint16_t> masks;
  size_t end_of_radius[4];
  ProbeMasks() {
    for (int pc = 0; pc <= 3; ++pc) {
      for (uint32_t m = 0; m < kBuckets; ++m) {
        if (std::popcount(m) == pc) masks.push_back(static_cast<uint16_t>(m));
      }
      end_of_radius[pc] = masks.size();
    }
  }
};

const ProbeMasks& Probes() {
  static const ProbeMasks probes;
  return probes;
}

// The smallest start s whose cyclic running sums of segment distances stay within floor(l*r/16) for every
// l in 1..16, or -1 if none (only possible when the distance exceeds r).
int SmallestValidStart(const int (&d)[kSegments], int r) {
  for (int s = 0; s < kSegments; ++s) {
    int sum = 0;
    bool ok = true;
    for (int l = 1; l <= kSegments && ok; ++l) {
      sum += d[(s + l - 1) % kSegments];
      ok = sum <= (l * r) / kSegments;
    }
    if (ok) return s;
  }
  return -1;
}


// The in-bucket prefilter: indices i in [0, n) whose two stored segment values pass the cycle lemma's
// l = 2 and l = 3 bounds, written to `out`. slack2 = limit2 - ds and slack3 = limit3 - ds.
size_t FilterScalar(const uint32_t* next2, uint32_t n, uint32_t qn, int slack2, int slack3, uint32_t* out) {
  size_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t x = next2[i] ^ qn;
    const int d1 = std::popcount(x & 0xFFFFu);
    out[k] = i;
    k += static_cast<size_t>(d1 <= slack2 && d1 + std::popcount(x >> 16) <= slack3);
  }
  return k;
}

#if defined(__x86_64__) && defined(__GNUC__)
// Eight entries at a time: byte popcounts by nibble lookup, summed to 16-bit halves.
__attribute__((target("avx2"))) size_t FilterAvx2(const uint32_t* next2, uint32_t n, uint32_t qn, int slack2,
                                                  int slack3, uint32_t* out) {
  const __m256i q = _mm256_set1_epi32(static_cast<int>(qn));
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i low_byte = _mm256_set1_epi16(0x00FF);
  const __m256i low_half = _mm256_set1_epi32(0xFFFF);
  const __m256i lim2 = _mm256_set1_epi32(slack2);
  const __m256i lim3 = _mm256_set1_epi32(slack3);
  size_t k = 0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(next2 + i)), q);
    const __m256i pc8 = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, nibble)),
                                        _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble)));
    const __m256i pc16 = _mm256_add_epi16(_mm256_and_si256(pc8, low_byte), _mm256_srli_epi16(pc8, 8));
    const __m256i d1 = _mm256_and_si256(pc16, low_half);
    const __m256i d12 = _mm256_add_epi32(d1, _mm256_srli_epi32(pc16, 16));
    const __m256i fail = _mm256_or_si256(_mm256_cmpgt_epi32(d1, lim2), _mm256_cmpgt_epi32(d12, lim3));
    unsigned pass = ~static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(fail))) & 0xFFu;
    while (pass != 0) {
      out[k++] = i + static_cast<uint32_t>(std::countr_zero(pass));
      pass &= pass - 1;
    }
  }
  const size_t tail = FilterScalar(next2 + i, n - i, qn, slack2, slack3, out + k);
  for (size_t t = 0; t < tail; ++t) out[k + t] += i;
  return k + tail;
}
#endif

using FilterFn = size_t (*)(const uint32_t*, uint32_t, uint32_t, int, int, uint32_t*);

FilterFn ChooseFilter() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();  // static initialisers may run before libgcc's own
  if (__builtin_cpu_supports("avx2")) return FilterAvx2;
#endif
  return FilterScalar;
}

const FilterFn kFilter = ChooseFilter();

}  // namespace

struct PdqIndex::Impl {
  // Bucket v of a segment owns base[meta[v].begin, meta[v + 1].begin); its first `live` entries are in use.
  // The top bit of `live` says the bucket also has entries in `overflow` (inserts that found no hole).
  // One 8-byte record per bucket, so a probe costs one cache miss before the bucket's entries.
  struct BucketMeta {
    uint32_t begin;
    uint32_t live;
  };
  static constexpr uint32_t kOverflowBit = 1u << 31;

  // Entries are stored as two parallel arrays so that the scan streams only the 4-byte segment pairs;
  // the slot is read for the few entries that pass the prefilter.
  struct SegmentTable {
    std::vector<uint32_t> slot;
    std::vector<uint32_t> next2;
    std::vector<BucketMeta> meta;  // kBuckets + 1
    absl::flat_hash_map<uint32_t, std::vector<Posting>> overflow;
    SegmentTable() : meta(kBuckets + 1, BucketMeta{0, 0}) {}
    uint32_t Live(uint32_t v) const { return meta[v].live & ~kOverflowBit; }
  };

  // One bucket to scan, gathered before scanning so that its memory can be prefetched.
  struct Probe {
    uint32_t begin;
    uint32_t count;
    uint16_t segment;
    uint16_t segment_distance;
    uint32_t value;
    bool overflow;
  };

  SegmentTable segments[kSegments];
  std::vector<Hash256> hashes;       // by slot
  std::vector<uint64_t> first_id;    // by slot; kNoId when the slot is free
  absl::flat_hash_map<uint32_t, std::vector<uint64_t>> extra_ids;  // slot -> ids beyond the first (rare)
  std::vector<uint32_t> free_slots;
  size_t entries = 0;
  size_t overflow_slots = 0;  // slots whose segment-0 posting sits in an overflow vector

  // Lays out every segment table afresh from the live slots: counting sort by segment value, each bucket
  // given `slack` extra room (a fraction of its size) for in-place inserts. Built on every core, each
  // table as two cache-friendly scatters (by the high byte into 256 partitions, then each partition by the
  // low byte): one scatter into 65 536 buckets thrashes the caches.
  void BuildSegments(double slack) {
    std::vector<uint32_t> live;
    live.reserve(hashes.size());
    for (uint32_t slot = 0; slot < hashes.size(); ++slot) {
      if (first_id[slot] != kNoId) live.push_back(slot);
    }
    auto build_segment = [this, &live, slack](int s) {
      SegmentTable& t = segments[s];
      std::vector<uint32_t> count(kBuckets, 0);
      for (uint32_t slot : live) ++count[Segment(hashes[slot], s)];
      std::vector<uint32_t> begin(kBuckets + 1, 0);
      for (uint32_t v = 0; v < kBuckets; ++v) {
        const uint32_t room = slack > 0 ? count[v] + static_cast<uint32_t>(count[v] * slack) + 1 : count[v];
        begin[v + 1] = begin[v] + room;
        t.meta[v] = BucketMeta{begin[v], count[v]};
      }
      t.meta[kBuckets] = BucketMeta{begin[kBuckets], 0};
      t.overflow.clear();
      std::vector<uint64_t> staged(live.size());  // next2 << 32 | slot, grouped by the value's high byte
      std::vector<uint8_t> staged_low(live.size());
      uint32_t part_begin[257];
      {
        uint32_t acc = 0;
        for (uint32_t hb = 0; hb < 256; ++hb) {
          part_begin[hb] = acc;
          for (uint32_t lo = 0; lo < 256; ++lo) acc += count[(hb << 8) | lo];
        }
        part_begin[256] = acc;
      }
      uint32_t cursor[256];
      std::copy(part_begin, part_begin + 256, cursor);
      for (uint32_t slot : live) {
        const Hash256& h = hashes[slot];
        const uint32_t v = Segment(h, s);
        const uint32_t at = cursor[v >> 8]++;
        staged[at] = (uint64_t{NextTwo(h, s)} << 32) | slot;
        staged_low[at] = static_cast<uint8_t>(v & 0xFF);
      }
      t.slot.assign(begin[kBuckets], 0);
      t.next2.assign(begin[kBuckets], 0);
      for (uint32_t hb = 0; hb < 256; ++hb) {
        uint32_t* bucket_cursor = begin.data() + (hb << 8);
        for (uint32_t at = part_begin[hb]; at < part_begin[hb + 1]; ++at) {
          const uint32_t pos = bucket_cursor[staged_low[at]]++;
          t.slot[pos] = static_cast<uint32_t>(staged[at]);
          t.next2[pos] = static_cast<uint32_t>(staged[at] >> 32);
        }
      }
    };
    const int workers = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&, w] {
        for (int s = w; s < kSegments; s += workers) build_segment(s);
      });
    }
    for (auto& th : pool) th.join();
    overflow_slots = 0;
  }

  template <typename Fn>
  static void ForEachInBucket(const SegmentTable& t, uint32_t v, Fn&& fn) {
    const BucketMeta m = t.meta[v];
    for (uint32_t i = m.begin, end = m.begin + (m.live & ~kOverflowBit); i < end; ++i) fn(Posting{t.slot[i], t.next2[i]});
    if ((m.live & kOverflowBit) != 0) {
      for (const Posting& o : t.overflow.at(v)) fn(o);
    }
  }

  // The slot holding exactly `h`, or kFreeSlot.
  uint32_t FindSlot(const Hash256& h) const {
    uint32_t found = kFreeSlot;
    const uint32_t next2 = NextTwo(h, 0);  // compared first: the posting holds it, the hash is a cache miss away
    ForEachInBucket(segments[0], Segment(h, 0), [&](const Posting& p) {
      if (found == kFreeSlot && p.next2 == next2 && hashes[p.slot] == h) found = p.slot;
    });
    return found;
  }

  void AddPosting(int s, uint32_t slot) {
    const Hash256& h = hashes[slot];
    SegmentTable& t = segments[s];
    const uint32_t v = Segment(h, s);
    const Posting p{slot, NextTwo(h, s)};
    BucketMeta& m = t.meta[v];
    const uint32_t live = m.live & ~kOverflowBit;
    if (m.begin + live < t.meta[v + 1].begin) {
      t.slot[m.begin + live] = p.slot;
      t.next2[m.begin + live] = p.next2;
      ++m.live;
    } else {
      t.overflow[v].push_back(p);
      m.live |= kOverflowBit;
      if (s == 0) ++overflow_slots;
    }
  }

  void AddPostings(uint32_t slot) {
    for (int s = 0; s < kSegments; ++s) AddPosting(s, slot);
  }

  // A slot for a new hash (a free one first). ResourceExhausted past 2^32 - 1 hashes.
  absl::StatusOr<uint32_t> NewSlot(const Hash256& hash, uint64_t id) {
    uint32_t slot;
    if (!free_slots.empty()) {
      slot = free_slots.back();
      free_slots.pop_back();
      hashes[slot] = hash;
      first_id[slot] = id;
    } else {
      if (hashes.size() >= kFreeSlot) return absl::ResourceExhaustedError("more than 2^32 - 1 hashes");
      slot = static_cast<uint32_t>(hashes.size());
      hashes.push_back(hash);
      first_id.push_back(id);
    }
    return slot;
  }

  // Adds `id` to the slot already holding its hash; false if the pair is present.
  bool AddExtraId(uint32_t slot, uint64_t id) {
    auto& extra = extra_ids[slot];
    if (first_id[slot] == id || std::find(extra.begin(), extra.end(), id) != extra.end()) {
      if (extra.empty()) extra_ids.erase(slot);
      return false;
    }
    extra.push_back(id);
    ++entries;
    return true;
  }

  // An index that grows by inserts (a node filling up through sync) would end with most entries in the
  // overflow vectors, which cost a hash lookup and an allocation each. When they pass an eighth of the
  // hashes, lay the flat tables out again with a quarter of slack per bucket: the cost is amortised over
  // the inserts that caused it (each re-layout happens after the index grew by at least 1/8).
  void RelayoutIfOverflowing(size_t pending) {
    const size_t live = hashes.size() - free_slots.size();
    if (overflow_slots + pending > std::max<size_t>(size_t{1} << 14, live / 8)) BuildSegments(0.25);
  }

  void RemovePostings(uint32_t slot) {
    const Hash256& h = hashes[slot];
    for (int s = 0; s < kSegments; ++s) {
      SegmentTable& t = segments[s];
      const uint32_t v = Segment(h, s);
      BucketMeta& m = t.meta[v];
      const uint32_t live = m.live & ~kOverflowBit;
      bool removed = false;
      for (uint32_t i = m.begin, end = m.begin + live; i < end; ++i) {
        if (t.slot[i] == slot) {
          t.slot[i] = t.slot[end - 1];
          t.next2[i] = t.next2[end - 1];
          --m.live;
          removed = true;
          break;
        }
      }
      if (removed || (m.live & kOverflowBit) == 0) continue;
      auto it = t.overflow.find(v);
      auto& o = it->second;
      for (size_t i = 0; i < o.size(); ++i) {
        if (o[i].slot == slot) {
          o[i] = o.back();
          o.pop_back();
          if (s == 0 && overflow_slots > 0) --overflow_slots;
          break;
        }
      }
      if (o.empty()) {
        t.overflow.erase(it);
        m.live &= ~kOverflowBit;
      }
    }
  }

  template <typename Emit>
  void EmitIds(uint32_t slot, int distance, Emit&& emit) const {
    emit(PdqMatch{first_id[slot], distance});
    if (auto it = extra_ids.find(slot); it != extra_ids.end()) {
      for (uint64_t id : it->second) emit(PdqMatch{id, distance});
    }
  }

  template <typename Emit>
  void Query(const Hash256& q, int r, Emit&& emit) const {
    if (r == 0) {  // an exact lookup (a duplicate check): the one bucket of segment 0 holds it, if anything does
      if (const uint32_t slot = FindSlot(q); slot != kFreeSlot) EmitIds(slot, 0, emit);
      return;
    }
    const int radius = r / kSegments;  // per-segment probe radius, floor(r/16)
    if (radius > 3) {
      for (uint32_t slot = 0; slot < hashes.size(); ++slot) {
        if (first_id[slot] == kNoId) continue;
        const int d = HammingDistance(hashes[slot], q);
        if (d <= r) EmitIds(slot, d, emit);
      }
      return;
    }
    const ProbeMasks& probes = Probes();
    const size_t per_segment = probes.end_of_radius[radius];
    // Phase 1: prefetch every probed bucket's metadata. Phase 2: read it, prefetch the entries.
    // Phase 3: scan. The buckets are scattered, so overlapping their cache misses is most of the speed.
    thread_local std::vector<Probe> probe_list;
    probe_list.clear();
    for (int s = 0; s < kSegments; ++s) {
      const BucketMeta* meta = segments[s].meta.data();
      const uint32_t qv = Segment(q, s);
      for (size_t m = 0; m < per_segment; ++m) __builtin_prefetch(meta + (qv ^ probes.masks[m]));
    }
    for (int s = 0; s < kSegments; ++s) {
      const SegmentTable& t = segments[s];
      const uint32_t qv = Segment(q, s);
      for (size_t m = 0; m < per_segment; ++m) {
        const uint16_t mask = probes.masks[m];
        const uint32_t v = qv ^ mask;
        const BucketMeta bm = t.meta[v];
        if (bm.live == 0) continue;
        __builtin_prefetch(t.next2.data() + bm.begin);
        probe_list.push_back(Probe{bm.begin, bm.live & ~kOverflowBit, static_cast<uint16_t>(s),
                                   static_cast<uint16_t>(std::popcount(static_cast<uint32_t>(mask))), v,
                                   (bm.live & kOverflowBit) != 0});
      }
    }
    const int limit2 = (2 * r) / kSegments, limit3 = (3 * r) / kSegments;
    uint32_t qnext[kSegments];
    for (int s = 0; s < kSegments; ++s) qnext[s] = NextTwo(q, s);
    thread_local std::vector<uint32_t> passed;
    for (const Probe& probe : probe_list) {
      const int s = probe.segment;
      const SegmentTable& t = segments[s];
      const int ds = probe.segment_distance;
      auto verify = [&](uint32_t slot) {
        const Hash256& h = hashes[slot];
        const int distance = HammingDistance(h, q);
        if (distance > r) return;
        int d[kSegments];
        for (int k = 0; k < kSegments; ++k) d[k] = std::popcount(Segment(h, k) ^ Segment(q, k));
        if (SmallestValidStart(d, r) == s) EmitIds(slot, distance, emit);
      };
      if (passed.size() < probe.count) passed.resize(probe.count);
      const size_t n = kFilter(t.next2.data() + probe.begin, probe.count, qnext[s], limit2 - ds, limit3 - ds,
                               passed.data());
      for (size_t i = 0; i < n; ++i) verify(t.slot[probe.begin + passed[i]]);
      if (probe.overflow) {
        for (const Posting& p : t.overflow.at(probe.value)) {
          const uint32_t x = p.next2 ^ qnext[s];
          const int d1 = ds + std::popcount(x & 0xFFFFu);
          if (d1 <= limit2 && d1 + std::popcount(x >> 16) <= limit3) verify(p.slot);
        }
      }
    }
  }
};

PdqIndex::PdqIndex() : impl_(std::make_unique<Impl>()) {}
PdqIndex::~PdqIndex() = default;

absl::Status PdqIndex::BulkLoad(std::span<const std::pair<Hash256, uint64_t>> entries) {
  std::unique_lock lock(mu_);
  Impl& m = *impl_;
  if (!m.hashes.empty()) return absl::FailedPreconditionError("BulkLoad needs an empty index");
  if (entries.size() >= kFreeSlot) return absl::ResourceExhaustedError("more than 2^32 - 1 entries");
  // Group by segment 0 (counting sort), then sort each small bucket by hash to find identical hashes.
  std::vector<uint32_t> count(kBuckets + 1, 0);
  for (const auto& e : entries) ++count[Segment(e.first, 0) + 1];
  for (uint32_t v = 0; v < kBuckets; ++v) count[v + 1] += count[v];
  std::vector<uint32_t> order(entries.size());
  {
    std::vector<uint32_t> cursor(count.begin(), count.end() - 1);
    for (uint32_t i = 0; i < entries.size(); ++i) order[cursor[Segment(entries[i].first, 0)]++] = i;
  }
  m.hashes.reserve(entries.size());
  m.first_id.reserve(entries.size());
  for (uint32_t v = 0; v < kBuckets; ++v) {
    auto begin = order.begin() + count[v], end = order.begin() + count[v + 1];
    std::sort(begin, end, [&](uint32_t a, uint32_t b) {
      return std::tie(entries[a].first, entries[a].second) < std::tie(entries[b].first, entries[b].second);
    });
    for (auto it = begin; it != end; ++it) {
      const auto& [hash, id] = entries[*it];
      if (!m.hashes.empty() && m.hashes.back() == hash && it != begin) {
        const uint32_t slot = static_cast<uint32_t>(m.hashes.size() - 1);
        const auto& prev = entries[*(it - 1)];
        if (prev.second == id) continue;  // duplicate pair
        m.extra_ids[slot].push_back(id);
        ++m.entries;
        continue;
      }
      m.hashes.push_back(hash);
      m.first_id.push_back(id);
      ++m.entries;
    }
  }
  order = {};
  m.BuildSegments(0.0);
  return absl::OkStatus();
}

absl::Status PdqIndex::Insert(const Hash256& hash, uint64_t id) {
  if (id == kNoId) return absl::InvalidArgumentError("id 2^64-1 is reserved");
  std::unique_lock lock(mu_);
  Impl& m = *impl_;
  const uint32_t existing = m.FindSlot(hash);
  if (existing != kFreeSlot) {
    if (!m.AddExtraId(existing, id)) return absl::AlreadyExistsError(absl::StrCat("id ", id, " is already indexed with this hash"));
    return absl::OkStatus();
  }
  auto slot = m.NewSlot(hash, id);
  if (!slot.ok()) return slot.status();
  m.AddPostings(*slot);
  ++m.entries;
  m.RelayoutIfOverflowing(0);
  return absl::OkStatus();
}

absl::StatusOr<size_t> PdqIndex::InsertBatch(std::span<const std::pair<Hash256, uint64_t>> entries) {
  for (const auto& e : entries) {
    if (e.second == kNoId) return absl::InvalidArgumentError("id 2^64-1 is reserved");
  }
  std::unique_lock lock(mu_);
  Impl& m = *impl_;
  if (m.hashes.size() + entries.size() >= kFreeSlot) {  // before anything changes
    return absl::ResourceExhaustedError("more than 2^32 - 1 hashes");
  }
  size_t skipped = 0;
  // Slots first, so that a hash repeated inside the batch shares one slot. New slots get their postings
  // below; FindSlot does not see them yet, so the batch's own new hashes are looked up in `fresh`.
  std::vector<uint32_t> new_slots;
  absl::flat_hash_map<Hash256, uint32_t> fresh;
  for (const auto& [hash, id] : entries) {
    uint32_t slot = m.FindSlot(hash);
    if (slot == kFreeSlot) {
      auto it = fresh.find(hash);
      if (it != fresh.end()) slot = it->second;
    }
    if (slot != kFreeSlot) {
      if (!m.AddExtraId(slot, id)) ++skipped;
      continue;
    }
    auto created = m.NewSlot(hash, id);
    if (!created.ok()) return created.status();
    fresh.emplace(hash, *created);
    new_slots.push_back(*created);
    ++m.entries;
  }
  if (new_slots.empty()) return skipped;
  const size_t live = m.hashes.size() - m.free_slots.size();
  if (m.overflow_slots + new_slots.size() > std::max<size_t>(size_t{1} << 14, live / 8)) {
    m.BuildSegments(0.25);  // a batch this large against the index: lay it out afresh, new slots included
    return skipped;
  }
  // Per segment table, in bucket order: consecutive postings land in nearby buckets.
  std::vector<uint64_t> order(new_slots.size());  // bucket value << 32 | slot
  for (int seg = 0; seg < kSegments; ++seg) {
    for (size_t i = 0; i < new_slots.size(); ++i) {
      order[i] = (uint64_t{Segment(m.hashes[new_slots[i]], seg)} << 32) | new_slots[i];
    }
    std::sort(order.begin(), order.end());
    // Each posting lands in a bucket of its own, a few cache misses each: fetch the bucket's metadata a
    // few postings ahead, and the place its posting goes a little nearer.
    const Impl::SegmentTable& t = m.segments[seg];
    for (size_t i = 0; i < order.size(); ++i) {
      if (i + 8 < order.size()) __builtin_prefetch(t.meta.data() + (order[i + 8] >> 32));
      if (i + 4 < order.size()) {
        const Impl::BucketMeta bm = t.meta[order[i + 4] >> 32];
        const uint32_t at = bm.begin + (bm.live & ~Impl::kOverflowBit);
        __builtin_prefetch(t.slot.data() + at, 1);
        __builtin_prefetch(t.next2.data() + at, 1);
      }
      m.AddPosting(seg, static_cast<uint32_t>(order[i]));
    }
  }
  m.RelayoutIfOverflowing(0);
  return skipped;
}

absl::Status PdqIndex::Remove(const Hash256& hash, uint64_t id) {
  std::unique_lock lock(mu_);
  Impl& m = *impl_;
  const uint32_t slot = m.FindSlot(hash);
  if (slot == kFreeSlot) return absl::NotFoundError(absl::StrCat("id ", id, " is not indexed with this hash"));
  auto extra = m.extra_ids.find(slot);
  if (m.first_id[slot] == id) {
    if (extra != m.extra_ids.end()) {  // promote another id; the slot stays
      m.first_id[slot] = extra->second.back();
      extra->second.pop_back();
      if (extra->second.empty()) m.extra_ids.erase(extra);
    } else {
      m.RemovePostings(slot);
      m.first_id[slot] = kNoId;
      m.hashes[slot] = Hash256{};
      m.free_slots.push_back(slot);
    }
  } else {
    if (extra == m.extra_ids.end()) return absl::NotFoundError(absl::StrCat("id ", id, " is not indexed with this hash"));
    auto it = std::find(extra->second.begin(), extra->second.end(), id);
    if (it == extra->second.end()) return absl::NotFoundError(absl::StrCat("id ", id, " is not indexed with this hash"));
    *it = extra->second.back();
    extra->second.pop_back();
    if (extra->second.empty()) m.extra_ids.erase(extra);
  }
  --m.entries;
  return absl::OkStatus();
}

namespace {
void SortMatches(std::vector<PdqMatch>* matches) {
  std::sort(matches->begin(), matches->end(),
            [](const PdqMatch& a, const PdqMatch& b) { return std::tie(a.distance, a.id) < std::tie(b.distance, b.id); });
}
int ClampDistance(int r) { return std::clamp(r, 0, PdqIndex::kMaxDistance); }
}  // namespace

std::vector<PdqMatch> PdqIndex::Query(const Hash256& query, int max_distance) const {
  std::vector<PdqMatch> out;
  {
    std::shared_lock lock(mu_);
    impl_->Query(query, ClampDistance(max_distance), [&out](const PdqMatch& m) { out.push_back(m); });
  }
  SortMatches(&out);
  return out;
}

std::vector<std::vector<PdqMatch>> PdqIndex::QueryBatch(std::span<const Hash256> queries, int max_distance) const {
  std::vector<std::vector<PdqMatch>> out(queries.size());
  const int r = ClampDistance(max_distance);
  {
    std::shared_lock lock(mu_);
    for (size_t i = 0; i < queries.size(); ++i) {
      impl_->Query(queries[i], r, [&out, i](const PdqMatch& m) { out[i].push_back(m); });
    }
  }
  for (auto& v : out) SortMatches(&v);
  return out;
}

std::vector<PdqDihedralMatch> PdqIndex::QueryDihedral(const std::array<Hash256, kNumDihedral>& hashes,
                                                      int max_distance) const {
  absl::flat_hash_map<uint64_t, PdqDihedralMatch> best;
  const int r = ClampDistance(max_distance);
  {
    std::shared_lock lock(mu_);
    for (int t = 0; t < kNumDihedral; ++t) {
      impl_->Query(hashes[static_cast<size_t>(t)], r, [&best, t](const PdqMatch& m) {
        auto [it, inserted] = best.try_emplace(m.id, PdqDihedralMatch{m.id, m.distance, static_cast<Dihedral>(t)});
        if (!inserted && m.distance < it->second.distance) {
          it->second.distance = m.distance;
          it->second.transform = static_cast<Dihedral>(t);
        }
      });
    }
  }
  std::vector<PdqDihedralMatch> out;
  out.reserve(best.size());
  for (const auto& [id, match] : best) out.push_back(match);
  std::sort(out.begin(), out.end(), [](const PdqDihedralMatch& a, const PdqDihedralMatch& b) {
    return std::tie(a.distance, a.id) < std::tie(b.distance, b.id);
  });
  return out;
}

size_t PdqIndex::size() const {
  std::shared_lock lock(mu_);
  return impl_->entries;
}

size_t PdqIndex::unique_hashes() const {
  std::shared_lock lock(mu_);
  return impl_->hashes.size() - impl_->free_slots.size();
}

size_t PdqIndex::MemoryBytes() const {
  std::shared_lock lock(mu_);
  const Impl& m = *impl_;
  size_t bytes = sizeof(Impl) + m.hashes.capacity() * sizeof(Hash256) + m.first_id.capacity() * sizeof(uint64_t) +
                 m.free_slots.capacity() * sizeof(uint32_t) + Probes().masks.capacity() * sizeof(uint16_t);
  for (const auto& t : m.segments) {
    bytes += (t.slot.capacity() + t.next2.capacity()) * sizeof(uint32_t) + t.meta.capacity() * sizeof(Impl::BucketMeta) +
             t.overflow.capacity() * (sizeof(uint32_t) + sizeof(std::vector<Posting>));
    for (const auto& [v, o] : t.overflow) bytes += o.capacity() * sizeof(Posting);
  }
  bytes += m.extra_ids.capacity() * (sizeof(uint32_t) + sizeof(std::vector<uint64_t>));
  for (const auto& [slot, ids] : m.extra_ids) bytes += ids.capacity() * sizeof(uint64_t);
  return bytes;
}

}  // namespace hashbank
