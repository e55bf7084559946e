#include "protocol/merkle.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hashbank {
namespace {

std::string Hex(const MerkleHash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : hash) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

std::vector<uint8_t> FromHex(std::string_view hex) {
  auto nibble = [](char c) -> uint8_t {
    return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

MerkleHash HashFromHex(std::string_view hex) {
  const std::vector<uint8_t> bytes = FromHex(hex);
  MerkleHash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

std::vector<std::string> HexAll(const std::vector<MerkleHash>& hashes) {
  std::vector<std::string> out;
  for (const MerkleHash& h : hashes) out.push_back(Hex(h));
  return out;
}

// The Certificate Transparency test tree (google/certificate-transparency merkle_tree_test.cc,
// transparency-dev/merkle testonly): eight leaves and the roots of its prefixes.
constexpr std::string_view kCtLeaves[] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
};
constexpr std::string_view kCtRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

std::vector<MerkleHash> CtLeafHashes() {
  std::vector<MerkleHash> out;
  for (std::string_view leaf : kCtLeaves) out.push_back(LeafHash(FromHex(leaf)));
  return out;
}

std::vector<MerkleHash> RandomLeaves(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<MerkleHash> out(n);
  for (MerkleHash& h : out) {
    for (uint8_t& b : h) b = static_cast<uint8_t>(rng());
  }
  return out;
}

// RFC 9162 2.1.1's recursive definition, written independently of the code under test.
MerkleHash NaiveMth(std::span<const MerkleHash> leaves) {
  if (leaves.empty()) return EmptyTreeHash();
  if (leaves.size() == 1) return leaves[0];
  size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return NodeHash(NaiveMth(leaves.subspan(0, k)), NaiveMth(leaves.subspan(k)));
}

MerkleHash FlipBit(MerkleHash hash, size_t bit) {
  hash[bit / 8] = static_cast<uint8_t>(hash[bit / 8] ^ (1u << (bit % 8)));
  return hash;
}

// Counts reads, to check proof generation's cost.
class CountingSource : public SubtreeSource {
 public:
  explicit CountingSource(const SubtreeSource& inner) : inner_(inner) {}
  absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t level, uint64_t index) const override {
    ++reads;
    return inner_.PerfectSubtree(level, index);
  }
  mutable int reads = 0;

 private:
  const SubtreeSource& inner_;
};

// The structure a verifier replays for a proof, leaf side first: for an inclusion proof, whether each hash joins
// on the left. Parameters with the same shape accept exactly the same proofs, so a proof for one verifies under
// the other; that is no forgery (the claimed leaf or subtree would need a hash preimage) but it means a proof
// does not bind the tree size: sizes come from the signed checkpoint.
std::vector<int> InclusionShape(uint64_t index, uint64_t size) {
  std::vector<int> sides;
  while (size > 1) {
    const uint64_t k = std::bit_floor(size - 1);
    if (index < k) {
      sides.push_back(0);
      size = k;
    } else {
      sides.push_back(1);
      index -= k;
      size -= k;
    }
  }
  return {sides.rbegin(), sides.rend()};
}

// For a consistency proof (RFC 9162 SUBPROOF): 0 = a right sibling (new tree only), 1 = a left sibling (both
// trees), 2 = the first hash of the path, 3 = the old root, prepended by the verifier (not in the proof).
std::vector<int> ConsistencyShape(uint64_t old_size, uint64_t new_size) {
  std::vector<int> kinds;
  bool from_leaf_zero = true;
  while (old_size != new_size) {
    const uint64_t k = std::bit_floor(new_size - 1);
    if (old_size <= k) {
      kinds.push_back(0);
      new_size = k;
    } else {
      kinds.push_back(1);
      old_size -= k;
      new_size -= k;
      from_leaf_zero = false;
    }
  }
  kinds.push_back(from_leaf_zero ? 3 : 2);
  return {kinds.rbegin(), kinds.rend()};
}

size_t ProofLengthOfShape(const std::vector<int>& consistency_shape) {
  return consistency_shape.size() - (consistency_shape.front() == 3 ? 1 : 0);
}

class FailingSource : public SubtreeSource {
 public:
  absl::StatusOr<MerkleHash> PerfectSubtree(uint32_t, uint64_t) const override {
    return absl::UnavailableError("disk on fire");
  }
};

// ---- Known answers ----

TEST(MerkleHashTest, EmptyTreeHashIsSha256OfTheEmptyString) {
  EXPECT_EQ(Hex(EmptyTreeHash()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(RootFromLeaves({})), Hex(EmptyTreeHash()));
  EXPECT_EQ(Hex(CompactTree().Root()), Hex(EmptyTreeHash()));
  EXPECT_EQ(Hex(InMemoryTree().Root()), Hex(EmptyTreeHash()));
}

TEST(MerkleHashTest, LeafAndNodeHashesUseDomainSeparationPrefixes) {
  // The first CT leaf is empty: its hash is SHA-256 of the single byte 0x00, the tree of size 1's root.
  EXPECT_EQ(Hex(LeafHash({})), kCtRoots[0]);
  // Size 2's root is SHA-256(0x01 || leaf0 || leaf1).
  const std::vector<MerkleHash> leaves = CtLeafHashes();
  EXPECT_EQ(Hex(NodeHash(leaves[0], leaves[1])), kCtRoots[1]);
  EXPECT_NE(Hex(NodeHash(leaves[1], leaves[0])), kCtRoots[1]);
}

TEST(MerkleHashTest, RootsMatchCertificateTransparencyVectorsForSizes1To8) {
  const std::vector<MerkleHash> leaves = CtLeafHashes();
  CompactTree compact;
  InMemoryTree memory;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    compact.Append(leaves[n - 1]);
    memory.Append(leaves[n - 1]);
    const std::span<const MerkleHash> prefix(leaves.data(), n);
    EXPECT_EQ(Hex(RootFromLeaves(prefix)), kCtRoots[n - 1]) << "size " << n;
    EXPECT_EQ(Hex(compact.Root()), kCtRoots[n - 1]) << "size " << n;
    EXPECT_EQ(Hex(memory.Root()), kCtRoots[n - 1]) << "size " << n;
    EXPECT_EQ(Hex(NaiveMth(prefix)), kCtRoots[n - 1]) << "size " << n;
  }
}

TEST(MerkleHashTest, InMemoryTreeHoldsTheCertificateTransparencyNodeHashes) {
  // Every perfect subtree of the 8-leaf tree, by level (transparency-dev/merkle's nodeHashes table).
  const std::vector<std::vector<std::string_view>> levels = {
      {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
       "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
       "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
       "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
       "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
       "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
       "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
       "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
      {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
       "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
       "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
      {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
       "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
      {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
  };
  const InMemoryTree tree(CtLeafHashes());
  for (uint32_t level = 0; level < levels.size(); ++level) {
    for (uint64_t index = 0; index < levels[level].size(); ++index) {
      absl::StatusOr<MerkleHash> hash = tree.PerfectSubtree(level, index);
      ASSERT_TRUE(hash.ok()) << hash.status();
      EXPECT_EQ(Hex(*hash), levels[level][index]) << "level " << level << " index " << index;
    }
    EXPECT_EQ(tree.PerfectSubtree(level, levels[level].size()).status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(tree.PerfectSubtree(4, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tree.PerfectSubtree(UINT32_MAX, UINT64_MAX).status().code(), absl::StatusCode::kNotFound);
}

TEST(MerkleProofTest, InclusionProofsMatchCertificateTransparencyVectors) {
  struct Case {
    uint64_t leaf;
    uint64_t size;
    std::vector<std::string> path;
  };
  const std::vector<Case> cases = {
      {0, 1, {}},
      {0, 8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5, 8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1, 5,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      // Leaf 6 of 7: a two-step path where its neighbours have three.
      {6, 7,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
  };
  const std::vector<MerkleHash> leaves = CtLeafHashes();
  const InMemoryTree tree(leaves);
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<MerkleHash>> proof = InclusionProof(c.leaf, c.size, tree);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(HexAll(*proof), c.path) << "leaf " << c.leaf << " size " << c.size;
    EXPECT_TRUE(VerifyInclusion(c.leaf, c.size, leaves[c.leaf], *proof, HashFromHex(kCtRoots[c.size - 1])).ok());
  }
}

TEST(MerkleProofTest, ConsistencyProofsMatchCertificateTransparencyVectors) {
  struct Case {
    uint64_t old_size;
    uint64_t new_size;
    std::vector<std::string> proof;
  };
  const std::vector<Case> cases = {
      {1, 1, {}},
      {1, 8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6, 8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  const InMemoryTree tree(CtLeafHashes());
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<MerkleHash>> proof = ConsistencyProof(c.old_size, c.new_size, tree);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(HexAll(*proof), c.proof) << c.old_size << " -> " << c.new_size;
    EXPECT_TRUE(VerifyConsistency(c.old_size, c.new_size, HashFromHex(kCtRoots[c.old_size - 1]),
                                  HashFromHex(kCtRoots[c.new_size - 1]), *proof)
                    .ok());
  }
}

// ---- Exhaustive agreement on small trees ----

TEST(MerkleHashTest, RootFromLeavesAgreesWithTheRecursiveDefinitionUpTo130Leaves) {
  const std::vector<MerkleHash> leaves = RandomLeaves(130, 1);
  for (size_t n = 0; n <= leaves.size(); ++n) {
    const std::span<const MerkleHash> prefix(leaves.data(), n);
    ASSERT_EQ(Hex(RootFromLeaves(prefix)), Hex(NaiveMth(prefix))) << "size " << n;
    ASSERT_EQ(Hex(InMemoryTree(prefix).Root()), Hex(NaiveMth(prefix))) << "size " << n;
  }
}

TEST(MerkleHashTest, SubtreeHashAgreesWithTheRecursiveDefinitionForEveryAlignedRange) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 2);
  const InMemoryTree tree(leaves);
  for (uint64_t begin = 0; begin <= 64; ++begin) {
    for (uint64_t end = begin; end <= 64; ++end) {
      absl::StatusOr<MerkleHash> hash = SubtreeHash(begin, end, tree);
      if (begin == end || begin % std::bit_floor(end - begin) == 0) {
        ASSERT_TRUE(hash.ok()) << begin << ".." << end << ": " << hash.status();
        EXPECT_EQ(Hex(*hash), Hex(NaiveMth(std::span<const MerkleHash>(leaves).subspan(begin, end - begin))))
            << begin << ".." << end;
      } else {
        EXPECT_EQ(hash.status().code(), absl::StatusCode::kInvalidArgument) << begin << ".." << end;
      }
    }
  }
  EXPECT_EQ(SubtreeHash(5, 4, tree).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SubtreeHash(0, 65, tree).status().code(), absl::StatusCode::kNotFound);
}

TEST(MerkleProofTest, InclusionProofVerifiesForEveryLeafOfEverySizeUpTo64) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 3);
  InMemoryTree tree;
  for (uint64_t n = 1; n <= 64; ++n) {
    tree.Append(leaves[n - 1]);
    const MerkleHash root = RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n));
    for (uint64_t i = 0; i < n; ++i) {
      absl::StatusOr<std::vector<MerkleHash>> proof = InclusionProof(i, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_EQ(proof->size(), InclusionProofLength(i, n));
      absl::Status verified = VerifyInclusion(i, n, leaves[i], *proof, root);
      EXPECT_TRUE(verified.ok()) << "leaf " << i << " size " << n << ": " << verified;
    }
  }
}

TEST(MerkleProofTest, InclusionProofsAgainstAnOlderSizeVerifyInALargerTree) {
  const std::vector<MerkleHash> leaves = RandomLeaves(40, 4);
  const InMemoryTree tree(leaves);  // holds more leaves than the proofs are about
  for (uint64_t n = 1; n <= 40; ++n) {
    const MerkleHash root = RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n));
    for (uint64_t i = 0; i < n; ++i) {
      absl::StatusOr<std::vector<MerkleHash>> proof = InclusionProof(i, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(VerifyInclusion(i, n, leaves[i], *proof, root).ok()) << "leaf " << i << " size " << n;
    }
  }
}

TEST(MerkleProofTest, ConsistencyProofVerifiesForEveryPairOfSizesUpTo64) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 5);
  const InMemoryTree tree(leaves);
  std::vector<MerkleHash> roots;
  for (size_t n = 0; n <= 64; ++n) roots.push_back(RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n)));
  for (uint64_t n = 0; n <= 64; ++n) {
    for (uint64_t m = 0; m <= n; ++m) {
      absl::StatusOr<std::vector<MerkleHash>> proof = ConsistencyProof(m, n, tree);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_EQ(proof->size(), ConsistencyProofLength(m, n));
      if (m == 0 || m == n) {
        EXPECT_TRUE(proof->empty());
      }
      absl::Status verified = VerifyConsistency(m, n, roots[m], roots[n], *proof);
      EXPECT_TRUE(verified.ok()) << m << " -> " << n << ": " << verified;
    }
  }
}

TEST(MerkleProofTest, ProofGenerationReadsLogarithmicallyManySubtrees) {
  const InMemoryTree tree(RandomLeaves(1000, 6));
  for (uint64_t n : {1000u, 999u, 767u, 513u, 255u}) {
    const int bound = 2 * static_cast<int>(std::bit_width(n));
    for (uint64_t i = 0; i < n; i += 37) {
      CountingSource source(tree);
      ASSERT_TRUE(InclusionProof(i, n, source).ok());
      EXPECT_LE(source.reads, bound) << "leaf " << i << " size " << n;
      CountingSource consistency_source(tree);
      ASSERT_TRUE(ConsistencyProof(i + 1, n, consistency_source).ok());
      EXPECT_LE(consistency_source.reads, bound) << (i + 1) << " -> " << n;
    }
  }
}

TEST(MerkleProofTest, SourceErrorsPassThroughProofGeneration) {
  const FailingSource source;
  EXPECT_EQ(InclusionProof(3, 10, source).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ConsistencyProof(3, 10, source).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SubtreeHash(0, 10, source).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CompactTree::FromSource(10, source).status().code(), absl::StatusCode::kUnavailable);
  // Trivial proofs read nothing.
  EXPECT_TRUE(InclusionProof(0, 1, source).ok());
  EXPECT_TRUE(ConsistencyProof(0, 10, source).ok());
  EXPECT_TRUE(ConsistencyProof(10, 10, source).ok());
}

// ---- CompactTree ----

TEST(CompactTreeTest, RootMatchesRootFromLeavesAfterEveryAppendUpTo1000) {
  const std::vector<MerkleHash> leaves = RandomLeaves(1000, 7);
  CompactTree tree;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    tree.Append(leaves[n - 1]);
    ASSERT_EQ(tree.size(), n);
    ASSERT_EQ(tree.frontier().size(), static_cast<size_t>(std::popcount(n)));
    ASSERT_EQ(Hex(tree.Root()), Hex(RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n)))) << "size " << n;
  }
}

TEST(CompactTreeTest, CompletedSubtreesAreExactlyTheNewPerfectSubtrees) {
  const std::vector<MerkleHash> leaves = RandomLeaves(300, 8);
  CompactTree compact;
  InMemoryTree memory;
  EXPECT_TRUE(compact.completed_by_last_append().empty());
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    compact.Append(leaves[n - 1]);
    memory.Append(leaves[n - 1]);
    // Appending leaf n-1 completes the subtrees at (L, (n-1) >> L) for L = 0 .. countr_one(n-1).
    const auto completed = compact.completed_by_last_append();
    ASSERT_EQ(completed.size(), static_cast<size_t>(std::countr_one(n - 1)) + 1) << "size " << n;
    for (uint32_t level = 0; level < completed.size(); ++level) {
      EXPECT_EQ(completed[level].level, level);
      EXPECT_EQ(completed[level].index, (n - 1) >> level);
      absl::StatusOr<MerkleHash> expected = memory.PerfectSubtree(level, (n - 1) >> level);
      ASSERT_TRUE(expected.ok()) << expected.status();
      EXPECT_EQ(Hex(completed[level].hash), Hex(*expected));
    }
  }
}

TEST(CompactTreeTest, SerializeRoundTripsAndTheRestoredTreeKeepsGrowing) {
  const std::vector<MerkleHash> leaves = RandomLeaves(200, 9);
  CompactTree tree;
  for (size_t n = 0; n <= 150; ++n) {
    if (n > 0) tree.Append(leaves[n - 1]);
    const std::string bytes = tree.Serialize();
    EXPECT_EQ(bytes.size(), 8 + 32 * static_cast<size_t>(std::popcount(n)));
    absl::StatusOr<CompactTree> restored = CompactTree::Deserialize(bytes);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(restored->size(), n);
    EXPECT_EQ(Hex(restored->Root()), Hex(tree.Root()));
    EXPECT_EQ(restored->Serialize(), bytes);
    for (size_t m = n; m < 200; ++m) restored->Append(leaves[m]);
    EXPECT_EQ(Hex(restored->Root()), Hex(RootFromLeaves(leaves))) << "restored at " << n;
  }
}

TEST(CompactTreeTest, SerializeWritesTheSizeBigEndianThenTheFrontier) {
  CompactTree tree;
  const std::vector<MerkleHash> leaves = CtLeafHashes();
  for (size_t i = 0; i < 3; ++i) tree.Append(leaves[i]);
  const std::string bytes = tree.Serialize();
  ASSERT_EQ(bytes.size(), 8u + 64u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\0\0\0\0\0\0\0\3", 8));
  EXPECT_EQ(bytes.substr(8, 32), std::string(reinterpret_cast<const char*>(HashFromHex(kCtRoots[1]).data()), 32));
  EXPECT_EQ(bytes.substr(40, 32), std::string(reinterpret_cast<const char*>(leaves[2].data()), 32));
}

TEST(CompactTreeTest, DeserializeRejectsMalformedBytes) {
  CompactTree tree;
  for (const MerkleHash& leaf : RandomLeaves(5, 10)) tree.Append(leaf);
  const std::string good = tree.Serialize();  // size 5: two hashes
  for (size_t length = 0; length < good.size(); ++length) {
    EXPECT_EQ(CompactTree::Deserialize(good.substr(0, length)).status().code(), absl::StatusCode::kInvalidArgument)
        << "truncated to " << length;
  }
  EXPECT_EQ(CompactTree::Deserialize(good + "x").status().code(), absl::StatusCode::kInvalidArgument);
  std::string wrong_size = good;
  wrong_size[7] = 7;  // three hashes needed, two present
  EXPECT_EQ(CompactTree::Deserialize(wrong_size).status().code(), absl::StatusCode::kInvalidArgument);
  // Above the maximum size, even with the right number of hashes.
  std::string huge(8, '\xff');
  huge.append(64 * 32, 'h');
  EXPECT_EQ(CompactTree::Deserialize(huge).status().code(), absl::StatusCode::kInvalidArgument);
  // Exactly the maximum is accepted, and still appends.
  std::string max_size("\x80\0\0\0\0\0\0\0", 8);
  max_size.append(32, 'h');
  absl::StatusOr<CompactTree> at_max = CompactTree::Deserialize(max_size);
  ASSERT_TRUE(at_max.ok()) << at_max.status();
  at_max->Append(MerkleHash{});
  EXPECT_EQ(at_max->size(), CompactTree::kMaxSize + 1);
}

TEST(CompactTreeTest, FromSourceRebuildsTheFrontier) {
  const std::vector<MerkleHash> leaves = RandomLeaves(100, 11);
  const InMemoryTree memory(leaves);
  CompactTree appended;
  for (uint64_t n = 0; n <= 100; ++n) {
    if (n > 0) appended.Append(leaves[n - 1]);
    absl::StatusOr<CompactTree> rebuilt = CompactTree::FromSource(n, memory);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    EXPECT_EQ(rebuilt->Serialize(), appended.Serialize()) << "size " << n;
  }
  EXPECT_EQ(CompactTree::FromSource(101, memory).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CompactTree::FromSource(CompactTree::kMaxSize + 1, memory).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Tampering and hostile parameters ----

const std::vector<uint64_t> kTamperSizes = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 33, 64};

TEST(MerkleTamperTest, InclusionRejectsEveryFlippedBitOfProofLeafAndRoot) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 12);
  const InMemoryTree tree(leaves);
  for (uint64_t n : kTamperSizes) {
    const MerkleHash root = RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n));
    for (uint64_t i : {uint64_t{0}, n / 2, n - 1}) {
      std::vector<MerkleHash> proof = *InclusionProof(i, n, tree);
      for (size_t k = 0; k < proof.size(); ++k) {
        for (size_t bit = 0; bit < 256; ++bit) {
          std::vector<MerkleHash> tampered = proof;
          tampered[k] = FlipBit(tampered[k], bit);
          ASSERT_EQ(VerifyInclusion(i, n, leaves[i], tampered, root).code(), absl::StatusCode::kDataLoss)
              << "leaf " << i << " size " << n << " proof hash " << k << " bit " << bit;
        }
      }
      for (size_t bit = 0; bit < 256; ++bit) {
        ASSERT_EQ(VerifyInclusion(i, n, FlipBit(leaves[i], bit), proof, root).code(), absl::StatusCode::kDataLoss);
        ASSERT_EQ(VerifyInclusion(i, n, leaves[i], proof, FlipBit(root, bit)).code(), absl::StatusCode::kDataLoss);
      }
    }
  }
}

TEST(MerkleTamperTest, InclusionRejectsAWrongIndexOrSize) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 13);
  const InMemoryTree tree(leaves);
  int same_shape_other_size = 0;
  for (uint64_t n : kTamperSizes) {
    const MerkleHash root = RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n));
    for (uint64_t i = 0; i < n; ++i) {
      const std::vector<MerkleHash> proof = *InclusionProof(i, n, tree);
      for (uint64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const absl::StatusCode code = VerifyInclusion(j, n, leaves[i], proof, root).code();
        // Same length of path: the hashes disagree; another length: rejected before hashing.
        EXPECT_EQ(code, InclusionProofLength(j, n) == proof.size() ? absl::StatusCode::kDataLoss
                                                                     : absl::StatusCode::kInvalidArgument)
            << "proof for " << i << " checked as " << j << " in size " << n;
      }
      for (uint64_t other : {n - 1, n + 1, n + 2, 2 * n}) {
        if (other == n || i >= other) continue;
        const absl::StatusCode code = VerifyInclusion(i, other, leaves[i], proof, root).code();
        absl::StatusCode expected = absl::StatusCode::kInvalidArgument;
        if (InclusionShape(i, other) == InclusionShape(i, n)) {
          expected = absl::StatusCode::kOk;  // e.g. leaf 0 of 3 and of 4: see InclusionShape
          ++same_shape_other_size;
        } else if (InclusionProofLength(i, other) == proof.size()) {
          expected = absl::StatusCode::kDataLoss;
        }
        EXPECT_EQ(code, expected) << "leaf " << i << " proof for size " << n << " checked as size " << other;
      }
    }
  }
  EXPECT_GT(same_shape_other_size, 0);  // the ambiguity is real, and the shape model predicts it
}

TEST(MerkleTamperTest, InclusionRejectsProofsOfTheWrongLength) {
  const std::vector<MerkleHash> leaves = RandomLeaves(13, 14);
  const InMemoryTree tree(leaves);
  const MerkleHash root = tree.Root();
  std::vector<MerkleHash> proof = *InclusionProof(6, 13, tree);
  ASSERT_FALSE(proof.empty());
  std::vector<MerkleHash> longer = proof;
  longer.push_back(proof.back());
  EXPECT_EQ(VerifyInclusion(6, 13, leaves[6], longer, root).code(), absl::StatusCode::kInvalidArgument);
  proof.pop_back();
  EXPECT_EQ(VerifyInclusion(6, 13, leaves[6], proof, root).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(6, 13, leaves[6], {}, root).code(), absl::StatusCode::kInvalidArgument);
  // A one-leaf tree's proof is empty: the leaf hash is the root.
  EXPECT_TRUE(VerifyInclusion(0, 1, leaves[0], {}, leaves[0]).ok());
  EXPECT_EQ(VerifyInclusion(0, 1, leaves[0], std::vector<MerkleHash>(1), leaves[0]).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MerkleTamperTest, ConsistencyRejectsEveryFlippedBitOfProofAndRoots) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 15);
  const InMemoryTree tree(leaves);
  std::vector<MerkleHash> roots;
  for (size_t n = 0; n <= 64; ++n) roots.push_back(RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n)));
  for (uint64_t n : kTamperSizes) {
    for (uint64_t m : {uint64_t{1}, n / 2, n - 1, n}) {
      if (m == 0) continue;
      const std::vector<MerkleHash> proof = *ConsistencyProof(m, n, tree);
      for (size_t k = 0; k < proof.size(); ++k) {
        for (size_t bit = 0; bit < 256; ++bit) {
          std::vector<MerkleHash> tampered = proof;
          tampered[k] = FlipBit(tampered[k], bit);
          ASSERT_EQ(VerifyConsistency(m, n, roots[m], roots[n], tampered).code(), absl::StatusCode::kDataLoss)
              << m << " -> " << n << " proof hash " << k << " bit " << bit;
        }
      }
      for (size_t bit = 0; bit < 256; ++bit) {
        ASSERT_EQ(VerifyConsistency(m, n, FlipBit(roots[m], bit), roots[n], proof).code(),
                  absl::StatusCode::kDataLoss)
            << m << " -> " << n << " old root bit " << bit;
        ASSERT_EQ(VerifyConsistency(m, n, roots[m], FlipBit(roots[n], bit), proof).code(),
                  absl::StatusCode::kDataLoss)
            << m << " -> " << n << " new root bit " << bit;
      }
    }
  }
}

TEST(MerkleTamperTest, ConsistencyRejectsWrongSizes) {
  const std::vector<MerkleHash> leaves = RandomLeaves(64, 16);
  const InMemoryTree tree(leaves);
  std::vector<MerkleHash> roots;
  for (size_t n = 0; n <= 64; ++n) roots.push_back(RootFromLeaves(std::span<const MerkleHash>(leaves.data(), n)));
  auto expected_code = [](uint64_t m, uint64_t n, uint64_t other_m, uint64_t other_n) {
    const std::vector<int> shape = ConsistencyShape(m, n);
    const std::vector<int> other_shape = ConsistencyShape(other_m, other_n);
    if (shape == other_shape) return absl::StatusCode::kOk;  // see InclusionShape
    return ProofLengthOfShape(shape) == ProofLengthOfShape(other_shape) ? absl::StatusCode::kDataLoss
                                                                        : absl::StatusCode::kInvalidArgument;
  };
  for (uint64_t n : kTamperSizes) {
    for (uint64_t m = 1; m < n; ++m) {
      const std::vector<MerkleHash> proof = *ConsistencyProof(m, n, tree);
      ASSERT_EQ(proof.size(), ProofLengthOfShape(ConsistencyShape(m, n)));
      for (uint64_t other_m = 1; other_m < n; ++other_m) {
        if (other_m == m) continue;
        EXPECT_EQ(VerifyConsistency(other_m, n, roots[m], roots[n], proof).code(), expected_code(m, n, other_m, n))
            << "proof " << m << " -> " << n << " checked from " << other_m;
      }
      for (uint64_t other_n : {n - 1, n + 1, n + 2, 2 * n}) {
        if (other_n == n || other_n <= m) continue;
        EXPECT_EQ(VerifyConsistency(m, other_n, roots[m], roots[n], proof).code(), expected_code(m, n, m, other_n))
            << "proof " << m << " -> " << n << " checked to " << other_n;
      }
    }
  }
}

TEST(MerkleTamperTest, ConsistencyHandlesTheTrivialSizes) {
  const std::vector<MerkleHash> leaves = RandomLeaves(5, 17);
  const MerkleHash root = RootFromLeaves(leaves);
  const MerkleHash other = leaves[0];
  EXPECT_TRUE(VerifyConsistency(5, 5, root, root, {}).ok());
  EXPECT_EQ(VerifyConsistency(5, 5, root, other, {}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(5, 5, root, root, std::vector<MerkleHash>(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(VerifyConsistency(0, 5, EmptyTreeHash(), root, {}).ok());
  EXPECT_EQ(VerifyConsistency(0, 5, other, root, {}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(0, 5, EmptyTreeHash(), root, std::vector<MerkleHash>(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(VerifyConsistency(0, 0, EmptyTreeHash(), EmptyTreeHash(), {}).ok());
  EXPECT_EQ(VerifyConsistency(6, 5, root, root, {}).code(), absl::StatusCode::kInvalidArgument);
  const InMemoryTree tree(leaves);
  EXPECT_EQ(ConsistencyProof(6, 5, tree).status().code(), absl::StatusCode::kInvalidArgument);
  // A proof between different sizes is never empty: an empty one is the wrong length.
  EXPECT_EQ(VerifyConsistency(3, 5, root, root, {}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(MerkleTamperTest, HugeSizesAndOutOfRangeIndicesGiveErrorsNotCrashes) {
  constexpr uint64_t kTwo63 = uint64_t{1} << 63;
  const MerkleHash h{};
  for (uint64_t size : {kTwo63, kTwo63 + 1, UINT64_MAX - 1, UINT64_MAX}) {
    for (uint64_t index : {uint64_t{0}, uint64_t{1}, kTwo63 - 1, kTwo63, size - 1}) {
      if (index >= size) continue;
      const size_t length = InclusionProofLength(index, size);
      EXPECT_GE(length, 1u);
      EXPECT_LE(length, 64u);
      EXPECT_EQ(VerifyInclusion(index, size, h, std::vector<MerkleHash>(length), h).code(),
                absl::StatusCode::kDataLoss)
          << index << " of " << size;
      EXPECT_EQ(VerifyInclusion(index, size, h, std::vector<MerkleHash>(length + 1), h).code(),
                absl::StatusCode::kInvalidArgument);
    }
    EXPECT_EQ(VerifyInclusion(size, size, h, {}, h).code(), absl::StatusCode::kInvalidArgument);
    for (uint64_t old_size : {uint64_t{1}, uint64_t{3}, kTwo63 - 1, kTwo63, size - 1}) {
      if (old_size >= size) continue;
      const size_t length = ConsistencyProofLength(old_size, size);
      EXPECT_GE(length, 1u);
      EXPECT_LE(length, 128u);
      EXPECT_EQ(VerifyConsistency(old_size, size, h, h, std::vector<MerkleHash>(length)).code(),
                absl::StatusCode::kDataLoss)
          << old_size << " -> " << size;
      EXPECT_EQ(VerifyConsistency(old_size, size, h, h, std::vector<MerkleHash>(length + 1)).code(),
                absl::StatusCode::kInvalidArgument);
    }
    EXPECT_EQ(VerifyConsistency(size, size - 1, h, h, {}).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(VerifyInclusion(UINT64_MAX, size, h, {}, h).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(VerifyInclusion(0, 0, h, {}, h).code(), absl::StatusCode::kInvalidArgument);
  // Generation against a source that does not hold such a tree fails with the source's error.
  const InMemoryTree tree(RandomLeaves(10, 18));
  EXPECT_EQ(InclusionProof(3, UINT64_MAX, tree).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(InclusionProof(UINT64_MAX - 1, UINT64_MAX, tree).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ConsistencyProof(5, kTwo63 + 3, tree).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SubtreeHash(0, UINT64_MAX, tree).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(InclusionProof(10, 10, tree).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hashbank
