// libFuzzer target for the Merkle proof verifiers, which read sizes, hashes and proofs from untrusted peers.
//
// The first input byte picks a mode:
//   0: VerifyInclusion on raw fuzzed parameters (index, size, leaf hash, root, proof hashes);
//   1: VerifyConsistency on raw fuzzed parameters;
//   2: a real tree of 1..64 leaves: its inclusion proof must verify, and after the fuzzer's edit (a flipped
//      bit, a changed index or size, a dropped or added hash) must not, unless nothing changed;
//   3: the same for consistency proofs.
// Any crash, sanitizer report or broken property (std::abort) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocol/merkle.h"

namespace hashbank {
namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  MerkleHash Hash() {
    MerkleHash h{};
    for (uint8_t& b : h) b = Byte();
    return h;
  }
  std::vector<MerkleHash> Hashes(size_t max) {
    std::vector<MerkleHash> out;
    while (pos_ < size_ && out.size() < max) out.push_back(Hash());
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void Require(bool property) {
  if (!property) std::abort();
}

bool IsVerificationFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDataLoss || s.code() == absl::StatusCode::kInvalidArgument;
}

std::vector<MerkleHash> Leaves(size_t n, uint8_t seed) {
  std::vector<MerkleHash> leaves;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t bytes[2] = {seed, static_cast<uint8_t>(i)};
    leaves.push_back(LeafHash(bytes));
  }
  return leaves;
}

// Applies one fuzzer-chosen edit to a proof; returns false if the edit turned out to be a no-op.
bool Mutate(Input& in, std::vector<MerkleHash>& proof) {
  switch (in.Byte() % 3) {
    case 0: {
      if (proof.empty()) return false;
      const size_t k = in.Byte() % proof.size();
      const uint8_t bit = in.Byte();
      proof[k][bit / 8] = static_cast<uint8_t>(proof[k][bit / 8] ^ (1u << (bit % 8)));
      return true;
    }
    case 1:
      if (proof.empty()) return false;
      proof.pop_back();
      return true;
    default:
      proof.push_back(in.Hash());
      return true;
  }
}

void RawInclusion(Input& in) {
  const uint64_t index = in.U64();
  const uint64_t size = in.U64();
  const MerkleHash leaf = in.Hash();
  const MerkleHash root = in.Hash();
  const std::vector<MerkleHash> proof = in.Hashes(80);
  const absl::Status s = VerifyInclusion(index, size, leaf, proof, root);
  Require(s.ok() || IsVerificationFailure(s));
}

void RawConsistency(Input& in) {
  const uint64_t old_size = in.U64();
  const uint64_t new_size = in.U64();
  const MerkleHash old_root = in.Hash();
  const MerkleHash new_root = in.Hash();
  const std::vector<MerkleHash> proof = in.Hashes(140);
  const absl::Status s = VerifyConsistency(old_size, new_size, old_root, new_root, proof);
  Require(s.ok() || IsVerificationFailure(s));
}

void TreeInclusion(Input& in) {
  const size_t n = 1 + in.Byte() % 64;
  const std::vector<MerkleHash> leaves = Leaves(n, in.Byte());
  const InMemoryTree tree(leaves);
  const MerkleHash root = tree.Root();
  const uint64_t index = in.Byte() % n;
  absl::StatusOr<std::vector<MerkleHash>> proof = InclusionProof(index, n, tree);
  Require(proof.ok());
  Require(VerifyInclusion(index, n, leaves[index], *proof, root).ok());
  std::vector<MerkleHash> edited = *proof;
  if (Mutate(in, edited)) Require(IsVerificationFailure(VerifyInclusion(index, n, leaves[index], edited, root)));
  const uint64_t other_index = in.Byte() % n;
  if (other_index != index) {
    Require(IsVerificationFailure(VerifyInclusion(other_index, n, leaves[index], *proof, root)));
  }
  // A different size may share the proof's shape (see merkle_test.cc); it must only never crash.
  const absl::Status s = VerifyInclusion(index, in.U64(), leaves[index], *proof, root);
  Require(s.ok() || IsVerificationFailure(s));
}

void TreeConsistency(Input& in) {
  const size_t n = 1 + in.Byte() % 64;
  const std::vector<MerkleHash> leaves = Leaves(n, in.Byte());
  const InMemoryTree tree(leaves);
  const uint64_t m = 1 + in.Byte() % n;
  const MerkleHash old_root = RootFromLeaves(std::span<const MerkleHash>(leaves.data(), m));
  const MerkleHash new_root = tree.Root();
  absl::StatusOr<std::vector<MerkleHash>> proof = ConsistencyProof(m, n, tree);
  Require(proof.ok());
  Require(VerifyConsistency(m, n, old_root, new_root, *proof).ok());
  std::vector<MerkleHash> edited = *proof;
  if (Mutate(in, edited)) Require(IsVerificationFailure(VerifyConsistency(m, n, old_root, new_root, edited)));
  const absl::Status s = VerifyConsistency(in.U64(), in.U64(), old_root, new_root, *proof);
  Require(s.ok() || IsVerificationFailure(s));
}

}  // namespace
}  // namespace hashbank

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashbank::Input in(data, size);
  switch (in.Byte() % 4) {
    case 0: hashbank::RawInclusion(in); break;
    case 1: hashbank::RawConsistency(in); break;
    case 2: hashbank::TreeInclusion(in); break;
    default: hashbank::TreeConsistency(in); break;
  }
  return 0;
}
