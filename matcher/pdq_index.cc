#include "matcher/pdq_index.h"

#include <algorithm>
#include <bit>
#include <mutex>

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

}  // namespace

struct PdqIndex::Impl {
  struct SegmentTable {
    std::vector<Posting> base;       // counting-sorted by this segment's value
    std::vector<uint32_t> offset;    // kBuckets + 1: bucket v's region is base[offset[v], offset[v+1])
    std::vector<uint32_t> live;      // kBuckets: entries in use at the front of bucket v's region
    std::vector<std::vector<Posting>> overflow;  // kBuckets: inserts that found no hole
    SegmentTable() : offset(kBuckets + 1, 0), live(kBuckets, 0), overflow(kBuckets) {}
  };

  SegmentTable segments[kSegments];
  std::vector<Hash256> hashes;       // by slot
  std::vector<uint64_t> first_id;    // by slot; kNoId when the slot is free
  absl::flat_hash_map<uint32_t, std::vector<uint64_t>> extra_ids;  // slot -> ids beyond the first (rare)
  std::vector<uint32_t> free_slots;
  size_t entries = 0;

  // The slot holding exactly `h`, or kFreeSlot.
  uint32_t FindSlot(const Hash256& h) const {
    const SegmentTable& t = segments[0];
    const uint32_t v = Segment(h, 0);
    for (uint32_t i = t.offset[v], end = t.offset[v] + t.live[v]; i < end; ++i) {
      if (hashes[t.base[i].slot] == h) return t.base[i].slot;
    }
    for (const Posting& p : t.overflow[v]) {
      if (hashes[p.slot] == h) return p.slot;
    }
    return kFreeSlot;
  }

  void AddPostings(uint32_t slot) {
    const Hash256& h = hashes[slot];
    for (int s = 0; s < kSegments; ++s) {
      SegmentTable& t = segments[s];
      const uint32_t v = Segment(h, s);
      const Posting p{slot, NextTwo(h, s)};
      if (t.offset[v] + t.live[v] < t.offset[v + 1]) {
        t.base[t.offset[v] + t.live[v]++] = p;
      } else {
        t.overflow[v].push_back(p);
      }
    }
  }

  void RemovePostings(uint32_t slot) {
    const Hash256& h = hashes[slot];
    for (int s = 0; s < kSegments; ++s) {
      SegmentTable& t = segments[s];
      const uint32_t v = Segment(h, s);
      bool removed = false;
      for (uint32_t i = t.offset[v], end = t.offset[v] + t.live[v]; i < end; ++i) {
        if (t.base[i].slot == slot) {
          t.base[i] = t.base[end - 1];
          --t.live[v];
          removed = true;
          break;
        }
      }
      if (!removed) {
        auto& o = t.overflow[v];
        for (size_t i = 0; i < o.size(); ++i) {
          if (o[i].slot == slot) {
            o[i] = o.back();
            o.pop_back();
            break;
          }
        }
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
    const int radius = r / kSegments;  // per-segment probe radius, floor(r/16)
    if (radius > 3) {
      for (uint32_t slot = 0; slot < hashes.size(); ++slot) {
        if (first_id[slot] == kNoId) continue;
        const int d = HammingDistance(hashes[slot], q);
        if (d <= r) EmitIds(slot, d, emit);
      }
      return;
    }
    const int limit2 = (2 * r) / kSegments, limit3 = (3 * r) / kSegments;
    const ProbeMasks& probes = Probes();
    const size_t probe_count = probes.end_of_radius[radius];
    for (int s = 0; s < kSegments; ++s) {
      const SegmentTable& t = segments[s];
      const uint32_t qv = Segment(q, s);
      const uint32_t qnext = NextTwo(q, s);
      auto check = [&](const Posting& p, int ds) {
        const uint32_t x = p.next2 ^ qnext;
        const int d1 = ds + std::popcount(x & 0xFFFFu);
        if (d1 > limit2) return;
        if (d1 + std::popcount(x >> 16) > limit3) return;
        const Hash256& h = hashes[p.slot];
        const int distance = HammingDistance(h, q);
        if (distance > r) return;
        int d[kSegments];
        for (int k = 0; k < kSegments; ++k) d[k] = std::popcount(Segment(h, k) ^ Segment(q, k));
        if (SmallestValidStart(d, r) == s) EmitIds(p.slot, distance, emit);
      };
      for (size_t m = 0; m < probe_count; ++m) {
        const uint16_t mask = probes.masks[m];
        const uint32_t v = qv ^ mask;
        const int ds = std::popcount(static_cast<uint32_t>(mask));
        const Posting* bucket = t.base.data() + t.offset[v];
        for (uint32_t i = 0, n = t.live[v]; i < n; ++i) check(bucket[i], ds);
        for (const Posting& p : t.overflow[v]) check(p, ds);
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
  const size_t slots = m.hashes.size();
  for (int s = 0; s < kSegments; ++s) {
    Impl::SegmentTable& t = m.segments[s];
    std::fill(t.offset.begin(), t.offset.end(), 0);
    for (const Hash256& h : m.hashes) ++t.offset[Segment(h, s) + 1];
    for (uint32_t v = 0; v < kBuckets; ++v) {
      t.live[v] = t.offset[v + 1];
      t.offset[v + 1] += t.offset[v];
    }
    t.base.assign(slots, Posting{0, 0});
    std::vector<uint32_t> cursor(t.offset.begin(), t.offset.end() - 1);
    for (uint32_t slot = 0; slot < slots; ++slot) {
      const Hash256& h = m.hashes[slot];
      t.base[cursor[Segment(h, s)]++] = Posting{slot, NextTwo(h, s)};
    }
  }
  return absl::OkStatus();
}

absl::Status PdqIndex::Insert(const Hash256& hash, uint64_t id) {
  if (id == kNoId) return absl::InvalidArgumentError("id 2^64-1 is reserved");
  std::unique_lock lock(mu_);
  Impl& m = *impl_;
  const uint32_t existing = m.FindSlot(hash);
  if (existing != kFreeSlot) {
    auto& extra = m.extra_ids[existing];
    if (m.first_id[existing] == id || std::find(extra.begin(), extra.end(), id) != extra.end()) {
      if (extra.empty()) m.extra_ids.erase(existing);
      return absl::AlreadyExistsError(absl::StrCat("id ", id, " is already indexed with this hash"));
    }
    extra.push_back(id);
    ++m.entries;
    return absl::OkStatus();
  }
  uint32_t slot;
  if (!m.free_slots.empty()) {
    slot = m.free_slots.back();
    m.free_slots.pop_back();
    m.hashes[slot] = hash;
    m.first_id[slot] = id;
  } else {
    if (m.hashes.size() >= kFreeSlot) return absl::ResourceExhaustedError("more than 2^32 - 1 hashes");
    slot = static_cast<uint32_t>(m.hashes.size());
    m.hashes.push_back(hash);
    m.first_id.push_back(id);
  }
  m.AddPostings(slot);
  ++m.entries;
  return absl::OkStatus();
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
    bytes += t.base.capacity() * sizeof(Posting) + t.offset.capacity() * sizeof(uint32_t) +
             t.live.capacity() * sizeof(uint32_t) + t.overflow.capacity() * sizeof(std::vector<Posting>);
    for (const auto& o : t.overflow) bytes += o.capacity() * sizeof(Posting);
  }
  bytes += m.extra_ids.capacity() * (sizeof(uint32_t) + sizeof(std::vector<uint64_t>));
  for (const auto& [slot, ids] : m.extra_ids) bytes += ids.capacity() * sizeof(uint64_t);
  return bytes;
}

}  // namespace hashbank
