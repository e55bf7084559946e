// Merkle tree hashing and proofs of RFC 9162 (Certificate Transparency 2.0) section 2.1, with SHA-256: the
// structure under every node's append-only log. A log of n entries has root MTH(D[n]); an inclusion proof shows
// one entry is in a tree of a given size, a consistency proof shows a tree of size m is a prefix of a tree of
// size n (the log was only appended to).
//
// Terms. Leaves are numbered from 0. A perfect subtree at (level L, index i) covers leaves [i * 2^L,
// (i + 1) * 2^L) and is a complete binary tree; every node of an RFC 9162 tree that is not on its right edge
// is one. A tree of size n is covered by one perfect subtree per set bit of n, largest first (the "frontier"
// or compact range), and its root is those hashes folded right to left with NodeHash.
//
// Proof generation reads perfect subtrees from a SubtreeSource (storage persists them; InMemoryTree holds
// them in memory) and computes right-edge nodes from them: O(log n) source reads per proof. Verification
// follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally and takes its parameters, hashes and proof from an
// untrusted peer: any input gives an error value, never a crash.
//
// Errors: InvalidArgument for impossible parameters (leaf index >= tree size, old size > new size, a proof
// of the wrong length, a subtree range that is not a node of any tree); DataLoss when a well-formed proof
// does not verify ("... does not verify"), which means the log served a root or proof that contradicts
// the caller's data: a fork, a rewritten history or corruption. A SubtreeSource's own errors pass through.
// Free functions are pure and thread-safe; CompactTree and InMemoryTree are values, safe to read concurrently
// and to be written by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

using MerkleHash = std::array<uint8_t, 32>;

// SHA-256(0x00 || entry_bytes): the hash of one log entry (its exact stored bytes).
MerkleHash LeafHash(std::span<const uint8_t> entry_bytes);
// SHA-256(0x01 || left || right).
MerkleHash NodeHash(const MerkleHash& left, const MerkleHash& right);
// SHA-256 of the empty string: the root of the empty tree.
MerkleHash EmptyTreeHash();
// MTH over already-hashed leaves; EmptyTreeHash() for none. O(n) time, O(log n) extra space.
MerkleHash RootFromLeaves(std::span<const MerkleHash> leaf_hashes);

// Where proof generation reads the hashes of perfect subtrees. Implementations return the hash of the perfect
// subtree at (level, index) of the log, or an error (NotFound if it does not exist yet, or the storage
// error). Callers ask only for subtrees inside the tree size they are proving against.
class SubtreeSource {
 public:
  virtual ~SubtreeSource() = default;
  virtual absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t level, uint64_t index) const = 0;
};

// MTH of leaves [begin, end) as RFC 9162 defines it for that sublist: the perfect pieces of the range, largest
// first, folded right to left. The range must be a node of some RFC 9162 tree, i.e. begin a multiple of the
// largest power of two <= end - begin (InvalidArgument otherwise); begin == end gives EmptyTreeHash().
// popcount(end - begin) source reads.
absl::StatusOr<MerkleHash> SubtreeHash(uint64_t begin, uint64_t end, const SubtreeSource& source);

// CompactTree: the frontier of a growing log, enough to append and compute the root without the leaves.
// O(log n) memory; Append is O(1) amortised (O(log n) worst case) NodeHash calls; Root is O(log n).
// Serialize gives the size as 8 bytes big-endian followed by the popcount(size) frontier hashes, largest
// subtree first; Deserialize accepts exactly that (InvalidArgument otherwise, including a size above kMaxSize).
class CompactTree {
 public:
  // Sizes stop here so that the 2^64 overflow is unreachable: from kMaxSize it takes 2^63 appends.
  static constexpr uint64_t kMaxSize = uint64_t{1} << 63;

  // A perfect subtree whose hash the last Append made known.
  struct CompletedSubtree {
    uint32_t level;
    uint64_t index;
    MerkleHash hash;
    friend bool operator==(const CompletedSubtree&, const CompletedSubtree&) = default;
  };

  CompactTree() = default;

  // The frontier of the tree of `size` leaves read from `source` (popcount(size) reads), e.g. on restart.
  static absl::StatusOr<CompactTree> FromSource(uint64_t size, const SubtreeSource& source);
  static absl::StatusOr<CompactTree> Deserialize(std::string_view bytes);
  std::string Serialize() const;

  void Append(const MerkleHash& leaf_hash);
  uint64_t size() const { return size_; }
  MerkleHash Root() const;
  // The perfect subtrees, largest (leftmost) first, that cover the tree: one per set bit of size().
  std::span<const MerkleHash> frontier() const { return frontier_; }
  // What the last Append completed, bottom up: the leaf itself at level 0, then each subtree it closed. A
  // store that persists these can serve every PerfectSubtree of the log. Empty before the first Append.
  std::span<const CompletedSubtree> completed_by_last_append() const { return completed_; }

 private:
  uint64_t size_ = 0;
  std::vector<MerkleHash> frontier_;
  std::vector<CompletedSubtree> completed_;
};

// InMemoryTree: every perfect subtree of a log held in memory (about 2n hashes), for tests and small logs.
// PerfectSubtree gives NotFound for a subtree not (yet) complete.
class InMemoryTree : public SubtreeSource {
 public:
  InMemoryTree() = default;
  explicit InMemoryTree(std::span<const MerkleHash> leaf_hashes);

  void Append(const MerkleHash& leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  MerkleHash Root() const;  // O(log n)

  absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t level, uint64_t index) const override;

 private:
  std::vector<std::vector<MerkleHash>> levels_;  // levels_[L][i]: the perfect subtree at (L, i)
};

// RFC 9162 2.1.3.1: the inclusion path of leaf `leaf_index` in the tree of `tree_size` leaves, leaf-side first.
absl::StatusOr<std::vector<MerkleHash>> InclusionProof(uint64_t leaf_index, uint64_t tree_size,
                                                       const SubtreeSource& source);
// RFC 9162 2.1.3.2. OK when `proof` proves `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` with
// root `root`.
absl::Status VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const MerkleHash& leaf_hash,
                             std::span<const MerkleHash> proof, const MerkleHash& root);

// RFC 9162 2.1.4.1: the consistency proof from the tree of `old_size` leaves to the one of `new_size`. Empty
// when old_size is 0 or equal to new_size.
absl::StatusOr<std::vector<MerkleHash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                                         const SubtreeSource& source);
// RFC 9162 2.1.4.2, extended to the trivial cases: old_size == new_size needs an empty proof and equal roots;
// old_size == 0 needs an empty proof and old_root == EmptyTreeHash() (any new tree extends the empty one).
absl::Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const MerkleHash& old_root,
                               const MerkleHash& new_root, std::span<const MerkleHash> proof);

// The number of hashes InclusionProof / ConsistencyProof return for these sizes (0 for impossible ones).
size_t InclusionProofLength(uint64_t leaf_index, uint64_t tree_size);
size_t ConsistencyProofLength(uint64_t old_size, uint64_t new_size);

}  // namespace hashbank
