#include "protocol/merkle.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "crypto/sha256.h"

namespace hashbank {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;
constexpr size_t kHashSize = std::tuple_size_v<MerkleHash>;

// Folds perfect-subtree hashes covering consecutive ranges, largest (leftmost) first, into the RFC 9162 hash
// of their union: each split point of the RFC's recursion is where one piece ends, so the rightmost pieces
// combine first. `pieces` is not empty.
MerkleHash FoldRightToLeft(std::span<const MerkleHash> pieces) {
  MerkleHash acc = pieces.back();
  for (size_t i = pieces.size() - 1; i-- > 0;) acc = NodeHash(pieces[i], acc);
  return acc;
}

// The largest power of two strictly less than n, where RFC 9162 splits a list of n >= 2 leaves.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

uint32_t LevelOf(uint64_t perfect_width) { return static_cast<uint32_t>(std::countr_zero(perfect_width)); }

struct Range {
  uint64_t begin;
  uint64_t end;
};

// Calls visit(Range) for each node of the RFC 9162 2.1.3.1 inclusion path, root side first (the reverse of
// the proof's order). Requires leaf_index < tree_size. At most 64 nodes.
template <typename Visit>
void ForEachInclusionNode(uint64_t leaf_index, uint64_t tree_size, Visit visit) {
  uint64_t lo = 0;
  uint64_t hi = tree_size;
  while (hi - lo > 1) {
    const uint64_t mid = lo + SplitPoint(hi - lo);
    if (leaf_index < mid) {
      visit(Range{mid, hi});
      hi = mid;
    } else {
      visit(Range{lo, mid});
      lo = mid;
    }
  }
}

// Calls visit(Range) for each node of the RFC 9162 2.1.4.1 consistency proof, root side first. Requires
// 0 < old_size < new_size. SUBPROOF's b flag is "the current node's left edge is leaf 0", i.e. lo == 0.
template <typename Visit>
void ForEachConsistencyNode(uint64_t old_size, uint64_t new_size, Visit visit) {
  uint64_t lo = 0;
  uint64_t hi = new_size;
  // Invariant: lo < old_size <= hi.
  while (old_size != hi) {
    const uint64_t mid = lo + SplitPoint(hi - lo);
    if (old_size <= mid) {
      visit(Range{mid, hi});
      hi = mid;
    } else {
      visit(Range{lo, mid});
      lo = mid;
    }
  }
  if (lo != 0) visit(Range{lo, hi});
}

// Hashes the nodes of one proof from a SubtreeSource. Nodes off the right edge are perfect subtrees: one
// read. Right-edge nodes [begin, tree_size) nest, so the first one asked for (the largest, as the proofs
// walk root side first) is read piece by piece once and every smaller one is a suffix fold of those pieces.
class ProofNodeHasher {
 public:
  ProofNodeHasher(const SubtreeSource& source, uint64_t tree_size) : source_(source), tree_size_(tree_size) {}

  absl::StatusOr<MerkleHash> Hash(Range node) {
    const uint64_t width = node.end - node.begin;
    if (std::has_single_bit(width)) return source_.PerfectSubtree(LevelOf(width), node.begin >> LevelOf(width));
    if (node.end == tree_size_) {
      if (right_edge_.empty()) {
        if (absl::Status s = LoadRightEdge(node.begin); !s.ok()) return s;
      }
      for (const auto& [begin, hash] : right_edge_) {
        if (begin == node.begin) return hash;
      }
    }
    return SubtreeHash(node.begin, node.end, source_);  // not reached by the proofs here
  }

 private:
  absl::Status LoadRightEdge(uint64_t begin) {
    std::vector<std::pair<uint64_t, MerkleHash>> pieces;
    const uint64_t width = tree_size_ - begin;
    uint64_t at = begin;
    for (int level = 63; level >= 0; --level) {
      const uint64_t piece = uint64_t{1} << level;
      if ((width & piece) == 0) continue;
      absl::StatusOr<MerkleHash> hash = source_.PerfectSubtree(static_cast<uint32_t>(level), at >> level);
      if (!hash.ok()) return hash.status();
      pieces.emplace_back(at, *hash);
      at += piece;
    }
    for (size_t i = pieces.size() - 1; i-- > 0;) pieces[i].second = NodeHash(pieces[i].second, pieces[i + 1].second);
    right_edge_ = std::move(pieces);
    return absl::OkStatus();
  }

  const SubtreeSource& source_;
  const uint64_t tree_size_;
  std::vector<std::pair<uint64_t, MerkleHash>> right_edge_;  // (begin, hash of [begin, tree_size_))
};

void ShiftRight(uint64_t& fn, uint64_t& sn) {
  fn >>= 1;
  sn >>= 1;
}

}  // namespace

MerkleHash LeafHash(std::span<const uint8_t> entry_bytes) {
  return Sha256({std::span<const uint8_t>(&kLeafPrefix, 1), entry_bytes});
}

MerkleHash NodeHash(const MerkleHash& left, const MerkleHash& right) {
  return Sha256({std::span<const uint8_t>(&kNodePrefix, 1), left, right});
}

MerkleHash EmptyTreeHash() {
  static const MerkleHash kEmpty = Sha256({});
  return kEmpty;
}

MerkleHash RootFromLeaves(std::span<const MerkleHash> leaf_hashes) {
  // The frontier, as CompactTree keeps it, without recording what each append completed.
  std::vector<MerkleHash> frontier;
  uint64_t size = 0;
  for (const MerkleHash& leaf : leaf_hashes) {
    MerkleHash hash = leaf;
    for (uint64_t s = size; (s & 1) != 0; s >>= 1) {
      hash = NodeHash(frontier.back(), hash);
      frontier.pop_back();
    }
    frontier.push_back(hash);
    ++size;
  }
  return frontier.empty() ? EmptyTreeHash() : FoldRightToLeft(frontier);
}

absl::StatusOr<MerkleHash> SubtreeHash(uint64_t begin, uint64_t end, const SubtreeSource& source) {
  if (begin > end) {
    return absl::InvalidArgumentError(absl::StrCat("subtree range [", begin, ", ", end, ") is reversed"));
  }
  if (begin == end) return EmptyTreeHash();
  const uint64_t width = end - begin;
  if (begin % std::bit_floor(width) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("subtree range [", begin, ", ", end, ") is not a node of a Merkle tree: ", begin,
                     " is not a multiple of ", std::bit_floor(width)));
  }
  std::array<MerkleHash, 64> pieces;
  size_t count = 0;
  uint64_t at = begin;
  for (int level = 63; level >= 0; --level) {
    const uint64_t piece = uint64_t{1} << level;
    if ((width & piece) == 0) continue;
    absl::StatusOr<MerkleHash> hash = source.PerfectSubtree(static_cast<uint32_t>(level), at >> level);
    if (!hash.ok()) return hash.status();
    pieces[count++] = *hash;
    at += piece;
  }
  return FoldRightToLeft(std::span<const MerkleHash>(pieces.data(), count));
}

// ---- CompactTree ----

absl::StatusOr<CompactTree> CompactTree::FromSource(uint64_t size, const SubtreeSource& source) {
  if (size > kMaxSize) {
    return absl::InvalidArgumentError(absl::StrCat("tree size ", size, " is above the maximum ", kMaxSize));
  }
  CompactTree tree;
  uint64_t at = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t piece = uint64_t{1} << level;
    if ((size & piece) == 0) continue;
    absl::StatusOr<MerkleHash> hash = source.PerfectSubtree(static_cast<uint32_t>(level), at >> level);
    if (!hash.ok()) return hash.status();
    tree.frontier_.push_back(*hash);
    at += piece;
  }
  tree.size_ = size;
  return tree;
}

std::string CompactTree::Serialize() const {
  std::string out;
  out.reserve(8 + frontier_.size() * kHashSize);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((size_ >> shift) & 0xFF));
  for (const MerkleHash& hash : frontier_) out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return out;
}

absl::StatusOr<CompactTree> CompactTree::Deserialize(std::string_view bytes) {
  if (bytes.size() < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("compact tree: ", bytes.size(), " bytes, shorter than its 8-byte size"));
  }
  uint64_t size = 0;
  for (size_t i = 0; i < 8; ++i) size = (size << 8) | static_cast<uint8_t>(bytes[i]);
  if (size > kMaxSize) {
    return absl::InvalidArgumentError(absl::StrCat("compact tree: size ", size, " is above the maximum ", kMaxSize));
  }
  const size_t hashes = static_cast<size_t>(std::popcount(size));
  if (bytes.size() != 8 + hashes * kHashSize) {
    return absl::InvalidArgumentError(absl::StrCat("compact tree: size ", size, " needs ", 8 + hashes * kHashSize,
                                                   " bytes, got ", bytes.size()));
  }
  CompactTree tree;
  tree.size_ = size;
  tree.frontier_.resize(hashes);
  for (size_t i = 0; i < hashes; ++i) {
    std::copy_n(bytes.data() + 8 + i * kHashSize, kHashSize, reinterpret_cast<char*>(tree.frontier_[i].data()));
  }
  return tree;
}

void CompactTree::Append(const MerkleHash& leaf_hash) {
  // Unreachable: sizes start at most at kMaxSize (2^63) and grow by one per append.
  if (size_ == UINT64_MAX) std::abort();
  completed_.clear();
  completed_.push_back(CompletedSubtree{0, size_, leaf_hash});
  MerkleHash hash = leaf_hash;
  uint32_t level = 0;
  uint64_t index = size_;
  // Each trailing one bit of the old size is a frontier subtree as large as the one being built: merge them.
  for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    hash = NodeHash(frontier_.back(), hash);
    frontier_.pop_back();
    ++level;
    index >>= 1;
    completed_.push_back(CompletedSubtree{level, index, hash});
  }
  frontier_.push_back(hash);
  ++size_;
}

MerkleHash CompactTree::Root() const { return frontier_.empty() ? EmptyTreeHash() : FoldRightToLeft(frontier_); }

// ---- InMemoryTree ----

InMemoryTree::InMemoryTree(std::span<const MerkleHash> leaf_hashes) {
  for (const MerkleHash& leaf : leaf_hashes) Append(leaf);
}

void InMemoryTree::Append(const MerkleHash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  for (size_t level = 0; levels_[level].size() % 2 == 0; ++level) {
    const std::vector<MerkleHash>& row = levels_[level];
    MerkleHash parent = NodeHash(row[row.size() - 2], row[row.size() - 1]);
    if (levels_.size() == level + 1) levels_.emplace_back();
    levels_[level + 1].push_back(parent);
  }
}

MerkleHash InMemoryTree::Root() const {
  // The frontier piece at level L exists when bit L of the size is set, and is the last subtree of that level.
  std::vector<MerkleHash> frontier;
  for (size_t level = levels_.size(); level-- > 0;) {
    if (levels_[level].size() % 2 == 1) frontier.push_back(levels_[level].back());
  }
  return frontier.empty() ? EmptyTreeHash() : FoldRightToLeft(frontier);
}

absl::StatusOr<MerkleHash> InMemoryTree::PerfectSubtree(uint32_t level, uint64_t index) const {
  if (level >= levels_.size() || index >= levels_[level].size()) {
    return absl::NotFoundError(absl::StrCat("no perfect subtree at level ", level, " index ", index,
                                            " in a tree of ", size(), " leaves"));
  }
  return levels_[level][index];
}

// ---- Proofs ----

size_t InclusionProofLength(uint64_t leaf_index, uint64_t tree_size) {
  if (leaf_index >= tree_size) return 0;
  size_t length = 0;
  ForEachInclusionNode(leaf_index, tree_size, [&](Range) { ++length; });
  return length;
}

size_t ConsistencyProofLength(uint64_t old_size, uint64_t new_size) {
  if (old_size == 0 || old_size >= new_size) return 0;
  size_t length = 0;
  ForEachConsistencyNode(old_size, new_size, [&](Range) { ++length; });
  return length;
}

absl::StatusOr<std::vector<MerkleHash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                                       const SubtreeSource& source) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof: leaf index ", leaf_index, " is not below the tree size ", tree_size));
  }
  std::vector<Range> nodes;
  ForEachInclusionNode(leaf_index, tree_size, [&](Range node) { nodes.push_back(node); });
  ProofNodeHasher hasher(source, tree_size);
  std::vector<MerkleHash> proof(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    absl::StatusOr<MerkleHash> hash = hasher.Hash(nodes[i]);
    if (!hash.ok()) return hash.status();
    proof[nodes.size() - 1 - i] = *hash;  // leaf side first
  }
  return proof;
}

absl::StatusOr<std::vector<MerkleHash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                                         const SubtreeSource& source) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: old size ", old_size, " is above the new size ", new_size));
  }
  if (old_size == 0 || old_size == new_size) return std::vector<MerkleHash>();
  std::vector<Range> nodes;
  ForEachConsistencyNode(old_size, new_size, [&](Range node) { nodes.push_back(node); });
  ProofNodeHasher hasher(source, new_size);
  std::vector<MerkleHash> proof(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    absl::StatusOr<MerkleHash> hash = hasher.Hash(nodes[i]);
    if (!hash.ok()) return hash.status();
    proof[nodes.size() - 1 - i] = *hash;  // deepest first
  }
  return proof;
}

absl::Status VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const MerkleHash& leaf_hash,
                             std::span<const MerkleHash> proof, const MerkleHash& root) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof: leaf index ", leaf_index, " is not below the tree size ", tree_size));
  }
  const size_t expected = InclusionProofLength(leaf_index, tree_size);
  if (proof.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof: ", proof.size(), " hashes, leaf ", leaf_index,
                                                   " of a tree of ", tree_size, " needs ", expected));
  }
  // RFC 9162 2.1.3.2 steps 2-5.
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  MerkleHash r = leaf_hash;
  for (const MerkleHash& p : proof) {
    if (sn == 0) return absl::InvalidArgumentError("inclusion proof: too long");  // excluded by the length check
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) ShiftRight(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    ShiftRight(fn, sn);
  }
  if (sn != 0) return absl::InvalidArgumentError("inclusion proof: too short");  // excluded by the length check
  if (r != root) {
    return absl::DataLossError(absl::StrCat("inclusion proof for leaf ", leaf_index, " of a tree of ", tree_size,
                                            " does not verify: the root it gives differs from the given root"));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const MerkleHash& old_root,
                               const MerkleHash& new_root, std::span<const MerkleHash> proof) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: old size ", old_size, " is above the new size ", new_size));
  }
  const size_t expected = ConsistencyProofLength(old_size, new_size);
  if (proof.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof: ", proof.size(), " hashes, sizes ", old_size,
                                                   " to ", new_size, " need ", expected));
  }
  if (old_size == new_size) {
    if (old_root != new_root) {
      return absl::DataLossError(
          absl::StrCat("consistency proof does not verify: two different roots for tree size ", old_size));
    }
    return absl::OkStatus();
  }
  if (old_size == 0) {
    if (old_root != EmptyTreeHash()) {
      return absl::DataLossError("consistency proof does not verify: the old root is not the empty tree's");
    }
    return absl::OkStatus();
  }
  // RFC 9162 2.1.4.2 steps 2-7. Step 2 prepends the old root when old_size is a power of two; path_at(i) reads
  // that path without copying the proof.
  const bool prepend = std::has_single_bit(old_size);
  auto path_at = [&](size_t i) -> const MerkleHash& { return prepend ? (i == 0 ? old_root : proof[i - 1]) : proof[i]; };
  const size_t path_size = proof.size() + (prepend ? 1 : 0);
  if (path_size == 0) return absl::InvalidArgumentError("consistency proof: empty");  // excluded by the length check
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) ShiftRight(fn, sn);
  MerkleHash fr = path_at(0);
  MerkleHash sr = fr;
  for (size_t i = 1; i < path_size; ++i) {
    const MerkleHash& c = path_at(i);
    if (sn == 0) return absl::InvalidArgumentError("consistency proof: too long");  // excluded by the length check
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) ShiftRight(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    ShiftRight(fn, sn);
  }
  if (sn != 0) return absl::InvalidArgumentError("consistency proof: too short");  // excluded by the length check
  if (fr != old_root) {
    return absl::DataLossError(absl::StrCat("consistency proof from ", old_size, " to ", new_size,
                                            " does not verify: it gives a different old root"));
  }
  if (sr != new_root) {
    return absl::DataLossError(absl::StrCat("consistency proof from ", old_size, " to ", new_size,
                                            " does not verify: it gives a different new root"));
  }
  return absl::OkStatus();
}

}  // namespace hashbank
