// Salter: the federation's salting transforms, keyed by one FederationSalt. Every member salts what it
// stores and sends, and salts each query the same way, so matching still works on salted values while a
// bank stolen without the salt cannot be tested against known images (docs/threat-model.md says what this
// does and does not protect).
//
// - PDQ: a keyed Hamming isometry, bit k of the input moves to position perm[k], then a keyed 256-bit mask is
//   XORed in. Hamming distances are preserved exactly. A PDQ hash here is 4 limbs, bit k = bit (k % 64) of
//   limbs[k / 64], the layout of matcher's Hash256::limbs.
// - Embeddings: multiplication by a keyed random orthogonal d x d matrix (Haar-distributed: Gram-Schmidt of a
//   Gaussian matrix), one per dimension d in 1..kMaxEmbeddingDimension. Norms and cosine similarities are
//   preserved to float precision. The matrix is built on first use of a dimension (O(d^3): well under a
//   second for d = 512, minutes for d = 4096) and cached, at most kMaxCachedRotations dimensions at a time,
//   so callers should accept only the dimensions of the models they run.
// - Local-feature descriptors (the robust fingerprint, 256 bits each): the same kind of Hamming isometry as PDQ
//   under independent keys. Keypoint coordinates are not salted (see docs/threat-model.md).
// - Exact hashes (MD5, SHA-256): HMAC-SHA-256 over a byte naming the digest kind followed by the digest, so
//   an MD5 and a SHA-256 never salt to the same value.
//
// Every transform is derived from the key alone (libsodium's BLAKE2b KDF, context "hbsalt01", expanded with
// its ChaCha20 generator), not from the id: two Salters with the same key, in any process on any machine,
// give the same PDQ and exact outputs bit for bit; embedding outputs agree to float rounding (the Gaussian
// draw uses libm's log/sin/cos).
//
// Errors: InvalidArgument (wrong digest length, embedding dimension out of range, non-finite component).
// Thread-safety: immutable after construction except the internal rotation cache, which is locked; all const
// methods may be called concurrently. Not copyable or movable (hold it by unique_ptr). Derived secrets are
// wiped on destruction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/federation_salt.h"

namespace hashbank {

// A PDQ hash: bit k is bit (k % 64) of limbs[k / 64] (matcher's Hash256::limbs).
using PdqLimbs = std::array<uint64_t, 4>;
using SaltedExactDigest = std::array<uint8_t, 32>;

enum class ExactKind { kMd5, kSha256 };  // 16-byte and 32-byte digests

class Salter {
 public:
  static constexpr size_t kMaxEmbeddingDimension = 4096;
  static constexpr size_t kMaxCachedRotations = 4;

  explicit Salter(const FederationSalt& salt);
  ~Salter();
  Salter(const Salter&) = delete;
  Salter& operator=(const Salter&) = delete;

  const std::string& salt_id() const { return salt_id_; }
  // FederationSalt::CheckValue of the salt: public; compared at start and with peers.
  const std::string& check_value() const { return check_value_; }

  // Permute the bits, then XOR the mask. HammingDistance(SaltPdq(a), SaltPdq(b)) == HammingDistance(a, b).
  PdqLimbs SaltPdq(const PdqLimbs& hash) const;
  // The inverse: UnsaltPdq(SaltPdq(h)) == h. For tests and for re-salting a bank under a new salt.
  PdqLimbs UnsaltPdq(const PdqLimbs& salted) const;

  // The robust fingerprint's descriptors: a keyed bit permutation and mask, independent of PDQ's. Preserves
  // Hamming distances exactly.
  PdqLimbs SaltLocalDescriptor(const PdqLimbs& descriptor) const;
  PdqLimbs UnsaltLocalDescriptor(const PdqLimbs& salted) const;

  // Q v for this salt's orthogonal matrix Q of dimension v.size(). InvalidArgument if v.size() is 0 or over
  // kMaxEmbeddingDimension, a component is NaN or infinite, or the norm is beyond float range.
  absl::StatusOr<std::vector<float>> SaltEmbedding(std::span<const float> v) const;

  // HMAC-SHA-256 of (kind byte || digest) under the first exact key, then of (kind byte || that value) under
  // each next one: the salt's exact_chain, oldest first, then its own exact key (one HMAC for a salt that
  // never rotated). InvalidArgument unless the digest is 16 bytes for kMd5, 32 for kSha256.
  absl::StatusOr<SaltedExactDigest> SaltExact(ExactKind kind, std::span<const uint8_t> digest) const;

  // Salt rotation (docs/operators.md). Whether this salt is the direct successor of `previous`: its
  // exact_chain ends with previous's exact_chain_link() and otherwise equals previous's chain.
  bool Follows(const Salter& previous) const;
  // A value `previous` salted (SaltExact) as this salt salts the same digest: one more HMAC. Only meaningful
  // when Follows(previous).
  SaltedExactDigest ResaltExact(ExactKind kind, const SaltedExactDigest& previous_value) const;
  // Q^T v: UnsaltEmbedding(SaltEmbedding(v)) == v to float rounding. Errors as SaltEmbedding's.
  absl::StatusOr<std::vector<float>> UnsaltEmbedding(std::span<const float> salted) const;
  // SECRET: this salt's own exact key, the link the next salt's exact_chain appends (FederationSalt).
  const std::array<uint8_t, 32>& exact_chain_link() const { return exact_key_; }
  // SECRET: this salt's exact_chain (a copy of FederationSalt::exact_chain).
  const std::vector<std::array<uint8_t, 32>>& exact_chain() const { return exact_chain_; }

 private:
  struct Rotation;  // one dimension's row-major d x d float matrix; wipes itself when freed

  std::shared_ptr<const Rotation> RotationFor(size_t dimension) const;
  // Q v, or Q^T v when `transpose` (SaltEmbedding's checks for both).
  absl::StatusOr<std::vector<float>> Rotate(std::span<const float> v, bool transpose) const;

  std::string salt_id_;
  std::string check_value_;
  std::array<uint8_t, 32> embedding_key_{};
  std::array<uint8_t, 32> exact_key_{};
  std::vector<std::array<uint8_t, 32>> exact_chain_;  // FederationSalt::exact_chain
  PdqLimbs pdq_mask_{};
  // Byte tables, 32 byte positions x 256 values: entry [p * 256 + v] is where the set bits of value v at
  // byte p of the input land, so applying a bit permutation is 32 lookups and ORs.
  std::vector<PdqLimbs> salt_table_;
  std::vector<PdqLimbs> unsalt_table_;
  PdqLimbs local_mask_{};
  std::vector<PdqLimbs> local_salt_table_;
  std::vector<PdqLimbs> local_unsalt_table_;

  mutable std::mutex rotations_mutex_;
  // Oldest first; evicted in that order beyond kMaxCachedRotations. Guarded by rotations_mutex_.
  mutable std::vector<std::pair<size_t, std::shared_ptr<const Rotation>>> rotations_;
};

}  // namespace hashbank
