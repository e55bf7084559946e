#include "crypto/salting.h"

#include <sodium.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <numbers>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/hmac_sha256.h"
#include "crypto/sodium_init.h"

namespace hashbank {
namespace {

using Key32 = std::array<uint8_t, 32>;

// Changing any of these contexts, ids or the derivation below changes every salted value in the federation:
// it is a wire-format change, pinned by the golden tests in tests/crypto/salting_test.cc.
constexpr char kSaltContext[crypto_kdf_CONTEXTBYTES + 1] = "hbsalt01";
constexpr char kEmbeddingContext[crypto_kdf_CONTEXTBYTES + 1] = "hbembd01";
constexpr char kStreamContext[crypto_kdf_CONTEXTBYTES + 1] = "hbstrm01";
constexpr uint64_t kPdqPermutationSubkey = 1;
constexpr uint64_t kPdqMaskSubkey = 2;
constexpr uint64_t kEmbeddingSubkey = 3;
constexpr uint64_t kExactSubkey = 4;
constexpr uint64_t kLocalPermutationSubkey = 5;
constexpr uint64_t kLocalMaskSubkey = 6;
constexpr uint8_t kMd5Domain = 0x01;
constexpr uint8_t kSha256Domain = 0x02;

static_assert(crypto_kdf_KEYBYTES == FederationSalt::kKeyBytes);
static_assert(randombytes_SEEDBYTES == std::tuple_size_v<Key32>);

Key32 DeriveKey(const Key32& parent, uint64_t subkey_id, const char* context) {
  Key32 out{};
  // Fails only for a subkey length outside 16..64, which this fixed 32 never is.
  if (crypto_kdf_derive_from_key(out.data(), out.size(), subkey_id, context, parent.data()) != 0) std::abort();
  return out;
}

// KeyedStream: an unbounded deterministic byte stream from a 32-byte key. Block n is libsodium's ChaCha20
// generator (randombytes_buf_deterministic) seeded with KDF(key, n, "hbstrm01"), so the stream can run as long
// as rejection sampling needs. Little-endian integer reads, so every platform draws the same numbers.
class KeyedStream {
 public:
  explicit KeyedStream(const Key32& key) : key_(key), block_(kBlockBytes) {}
  ~KeyedStream() {
    sodium_memzero(key_.data(), key_.size());
    sodium_memzero(block_.data(), block_.size());
  }
  KeyedStream(const KeyedStream&) = delete;
  KeyedStream& operator=(const KeyedStream&) = delete;

  uint32_t NextU32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(NextByte()) << (8 * i);
    return v;
  }
  uint64_t NextU64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(NextByte()) << (8 * i);
    return v;
  }

 private:
  static constexpr size_t kBlockBytes = 16384;

  uint8_t NextByte() {
    if (position_ == block_.size()) Refill();
    return block_[position_++];
  }
  void Refill() {
    Key32 seed = DeriveKey(key_, next_block_++, kStreamContext);
    randombytes_buf_deterministic(block_.data(), block_.size(), seed.data());
    sodium_memzero(seed.data(), seed.size());
    position_ = 0;
  }

  Key32 key_;
  std::vector<uint8_t> block_;
  size_t position_ = kBlockBytes;  // empty: the first read refills
  uint64_t next_block_ = 0;
};

// Uniform in [0, bound), no modulo bias: values below 2^32 mod bound are rejected, leaving a range whose
// length is a multiple of bound.
uint32_t UniformBelow(KeyedStream& stream, uint32_t bound) {
  const uint32_t reject_below = static_cast<uint32_t>((uint64_t{1} << 32) % bound);
  for (;;) {
    const uint32_t r = stream.NextU32();
    if (r >= reject_below) return r % bound;
  }
}

// destination[k] is where input bit k goes: a Fisher-Yates shuffle of 0..255.
std::array<uint8_t, 256> KeyedPermutation(const Key32& key) {
  std::array<uint8_t, 256> destination{};
  for (size_t k = 0; k < destination.size(); ++k) destination[k] = static_cast<uint8_t>(k);
  KeyedStream stream(key);
  for (uint32_t i = 255; i >= 1; --i) {
    const uint32_t j = UniformBelow(stream, i + 1);
    std::swap(destination[i], destination[j]);
  }
  return destination;
}

std::vector<PdqLimbs> ByteTable(const std::array<uint8_t, 256>& destination) {
  std::vector<PdqLimbs> table(32 * 256);
  for (size_t p = 0; p < 32; ++p) {
    for (size_t value = 0; value < 256; ++value) {
      PdqLimbs& entry = table[p * 256 + value];
      for (size_t b = 0; b < 8; ++b) {
        if (((value >> b) & 1U) == 0) continue;
        const size_t to = destination[8 * p + b];
        entry[to / 64] |= uint64_t{1} << (to % 64);
      }
    }
  }
  return table;
}

PdqLimbs ApplyByteTable(const std::vector<PdqLimbs>& table, const PdqLimbs& in) {
  PdqLimbs out{};
  for (size_t p = 0; p < 32; ++p) {
    const size_t value = static_cast<size_t>((in[p / 8] >> (8 * (p % 8))) & 0xFFU);
    const PdqLimbs& entry = table[p * 256 + value];
    out[0] |= entry[0];
    out[1] |= entry[1];
    out[2] |= entry[2];
    out[3] |= entry[3];
  }
  return out;
}

double Dot(const double* a, const double* b, size_t n) {
  // Four accumulators: lets the compiler pipeline without -ffast-math reassociation.
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

struct Salter::Rotation {
  std::vector<float> q;  // row-major d x d, orthonormal rows
  ~Rotation() { sodium_memzero(q.data(), q.size() * sizeof(float)); }
};

namespace {

// A Gaussian d x d matrix (Box-Muller on 53-bit uniforms, in double), rows orthonormalised by modified
// Gram-Schmidt run twice (the second pass removes the first's rounding error), stored as float.
std::vector<float> BuildRotation(const Key32& embedding_key, size_t d) {
  Key32 seed = DeriveKey(embedding_key, d, kEmbeddingContext);
  KeyedStream stream(seed);
  sodium_memzero(seed.data(), seed.size());

  const size_t n = d * d;
  std::vector<double> q(n);
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(stream.NextU64() >> 11) + 1.0) * kTwoToMinus53;  // (0, 1]
    const double u2 = static_cast<double>(stream.NextU64() >> 11) * kTwoToMinus53;          // [0, 1)
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    q[i] = radius * std::cos(angle);
    if (i + 1 < n) q[i + 1] = radius * std::sin(angle);
  }

  for (size_t i = 0; i < d; ++i) {
    double* row = q.data() + i * d;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t j = 0; j < i; ++j) {
        const double* earlier = q.data() + j * d;
        const double c = Dot(row, earlier, d);
        for (size_t k = 0; k < d; ++k) row[k] -= c * earlier[k];
      }
    }
    const double norm = std::sqrt(Dot(row, row, d));
    // A Gaussian matrix is singular with probability zero; a vanishing row means a broken generator, and a
    // non-orthogonal matrix would silently corrupt every similarity, so this is not survivable.
    if (!(norm > 1e-9)) std::abort();
    for (size_t k = 0; k < d; ++k) row[k] /= norm;
  }

  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(q[i]);
  sodium_memzero(q.data(), q.size() * sizeof(double));
  return out;
}

}  // namespace

Salter::Salter(const FederationSalt& salt) : salt_id_(salt.id), check_value_(salt.CheckValue()) {
  EnsureSodiumInitialized();
  Key32 permutation_key = DeriveKey(salt.key, kPdqPermutationSubkey, kSaltContext);
  Key32 mask_key = DeriveKey(salt.key, kPdqMaskSubkey, kSaltContext);
  embedding_key_ = DeriveKey(salt.key, kEmbeddingSubkey, kSaltContext);
  exact_key_ = DeriveKey(salt.key, kExactSubkey, kSaltContext);
  exact_chain_ = salt.exact_chain;

  std::array<uint8_t, 256> destination = KeyedPermutation(permutation_key);
  std::array<uint8_t, 256> source{};
  for (size_t k = 0; k < destination.size(); ++k) source[destination[k]] = static_cast<uint8_t>(k);
  salt_table_ = ByteTable(destination);
  unsalt_table_ = ByteTable(source);
  {
    KeyedStream stream(mask_key);
    for (uint64_t& limb : pdq_mask_) limb = stream.NextU64();
  }

  sodium_memzero(destination.data(), destination.size());
  sodium_memzero(source.data(), source.size());
  sodium_memzero(permutation_key.data(), permutation_key.size());
  sodium_memzero(mask_key.data(), mask_key.size());

  // Local-feature descriptors: the same kind of isometry under independent keys.
  permutation_key = DeriveKey(salt.key, kLocalPermutationSubkey, kSaltContext);
  mask_key = DeriveKey(salt.key, kLocalMaskSubkey, kSaltContext);
  destination = KeyedPermutation(permutation_key);
  for (size_t k = 0; k < destination.size(); ++k) source[destination[k]] = static_cast<uint8_t>(k);
  local_salt_table_ = ByteTable(destination);
  local_unsalt_table_ = ByteTable(source);
  {
    KeyedStream stream(mask_key);
    for (uint64_t& limb : local_mask_) limb = stream.NextU64();
  }
  sodium_memzero(destination.data(), destination.size());
  sodium_memzero(source.data(), source.size());
  sodium_memzero(permutation_key.data(), permutation_key.size());
  sodium_memzero(mask_key.data(), mask_key.size());
}

Salter::~Salter() {
  sodium_memzero(embedding_key_.data(), embedding_key_.size());
  sodium_memzero(exact_key_.data(), exact_key_.size());
  for (auto& link : exact_chain_) sodium_memzero(link.data(), link.size());
  sodium_memzero(pdq_mask_.data(), sizeof pdq_mask_);
  sodium_memzero(salt_table_.data(), salt_table_.size() * sizeof(PdqLimbs));
  sodium_memzero(unsalt_table_.data(), unsalt_table_.size() * sizeof(PdqLimbs));
  sodium_memzero(local_mask_.data(), sizeof local_mask_);
  sodium_memzero(local_salt_table_.data(), local_salt_table_.size() * sizeof(PdqLimbs));
  sodium_memzero(local_unsalt_table_.data(), local_unsalt_table_.size() * sizeof(PdqLimbs));
}

PdqLimbs Salter::SaltPdq(const PdqLimbs& hash) const {
  PdqLimbs out = ApplyByteTable(salt_table_, hash);
  for (size_t i = 0; i < out.size(); ++i) out[i] ^= pdq_mask_[i];
  return out;
}

PdqLimbs Salter::UnsaltPdq(const PdqLimbs& salted) const {
  PdqLimbs unmasked = salted;
  for (size_t i = 0; i < unmasked.size(); ++i) unmasked[i] ^= pdq_mask_[i];
  return ApplyByteTable(unsalt_table_, unmasked);
}

PdqLimbs Salter::SaltLocalDescriptor(const PdqLimbs& descriptor) const {
  PdqLimbs out = ApplyByteTable(local_salt_table_, descriptor);
  for (size_t i = 0; i < out.size(); ++i) out[i] ^= local_mask_[i];
  return out;
}

PdqLimbs Salter::UnsaltLocalDescriptor(const PdqLimbs& salted) const {
  PdqLimbs unmasked = salted;
  for (size_t i = 0; i < unmasked.size(); ++i) unmasked[i] ^= local_mask_[i];
  return ApplyByteTable(local_unsalt_table_, unmasked);
}

std::shared_ptr<const Salter::Rotation> Salter::RotationFor(size_t dimension) const {
  {
    std::lock_guard<std::mutex> lock(rotations_mutex_);
    for (const auto& [d, rotation] : rotations_) {
      if (d == dimension) return rotation;
    }
  }
  // Built outside the lock so a slow build does not stall queries of other dimensions. Two threads racing on
  // the same new dimension both build the same matrix; the first one stored wins.
  auto built = std::make_shared<Rotation>();
  built->q = BuildRotation(embedding_key_, dimension);
  std::lock_guard<std::mutex> lock(rotations_mutex_);
  for (const auto& [d, rotation] : rotations_) {
    if (d == dimension) return rotation;
  }
  if (rotations_.size() >= kMaxCachedRotations) rotations_.erase(rotations_.begin());
  rotations_.emplace_back(dimension, built);
  return built;
}

absl::StatusOr<std::vector<float>> Salter::SaltEmbedding(std::span<const float> v) const {
  return Rotate(v, /*transpose=*/false);
}

absl::StatusOr<std::vector<float>> Salter::UnsaltEmbedding(std::span<const float> salted) const {
  return Rotate(salted, /*transpose=*/true);
}

absl::StatusOr<std::vector<float>> Salter::Rotate(std::span<const float> v, bool transpose) const {
  const size_t d = v.size();
  if (d == 0 || d > kMaxEmbeddingDimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("an embedding has 1..", kMaxEmbeddingDimension, " dimensions, got ", d));
  }
  double squared_norm = 0;
  for (size_t i = 0; i < d; ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat("embedding component ", i, " is not a finite number"));
    }
    squared_norm += static_cast<double>(v[i]) * static_cast<double>(v[i]);
  }
  // Every output component is at most the norm in magnitude; this keeps them all representable as float.
  if (std::sqrt(squared_norm) > static_cast<double>(FLT_MAX)) {
    return absl::InvalidArgumentError("embedding norm is beyond the float range");
  }

  const std::shared_ptr<const Rotation> rotation = RotationFor(d);
  std::vector<float> out(d);
  const float* q = rotation->q.data();
  for (size_t i = 0; i < d; ++i) {
    double sum = 0;
    // Q v reads row i of Q; Q^T v reads column i.
    for (size_t k = 0; k < d; ++k) {
      sum += static_cast<double>(transpose ? q[k * d + i] : q[i * d + k]) * static_cast<double>(v[k]);
    }
    out[i] = static_cast<float>(sum);
  }
  return out;
}

absl::StatusOr<SaltedExactDigest> Salter::SaltExact(ExactKind kind, std::span<const uint8_t> digest) const {
  const bool md5 = kind == ExactKind::kMd5;
  const size_t expected = md5 ? 16 : 32;
  if (digest.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(md5 ? "an MD5" : "a SHA-256", " digest is ", expected,
                                                   " bytes, got ", digest.size()));
  }
  std::array<uint8_t, 33> message{};
  message[0] = md5 ? kMd5Domain : kSha256Domain;
  std::copy(digest.begin(), digest.end(), message.begin() + 1);
  if (exact_chain_.empty()) return HmacSha256(exact_key_, std::span<const uint8_t>(message.data(), 1 + digest.size()));
  SaltedExactDigest value = HmacSha256(exact_chain_[0], std::span<const uint8_t>(message.data(), 1 + digest.size()));
  for (size_t i = 1; i <= exact_chain_.size(); ++i) {
    std::copy(value.begin(), value.end(), message.begin() + 1);
    value = HmacSha256(i < exact_chain_.size() ? exact_chain_[i] : exact_key_, std::span<const uint8_t>(message.data(), 33));
  }
  return value;
}

bool Salter::Follows(const Salter& previous) const {
  if (exact_chain_.size() != previous.exact_chain_.size() + 1) return false;
  for (size_t i = 0; i < previous.exact_chain_.size(); ++i) {
    if (sodium_memcmp(exact_chain_[i].data(), previous.exact_chain_[i].data(), 32) != 0) return false;
  }
  return sodium_memcmp(exact_chain_.back().data(), previous.exact_key_.data(), 32) == 0;
}

SaltedExactDigest Salter::ResaltExact(ExactKind kind, const SaltedExactDigest& previous_value) const {
  std::array<uint8_t, 33> message{};
  message[0] = kind == ExactKind::kMd5 ? kMd5Domain : kSha256Domain;
  std::copy(previous_value.begin(), previous_value.end(), message.begin() + 1);
  return HmacSha256(exact_key_, std::span<const uint8_t>(message.data(), message.size()));
}

}  // namespace hashbank
