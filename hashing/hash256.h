// Hash256: a 256-bit PDQ hash value and its text form.
//
// Bit k (0..255) of the hash has value 2^k in the 256-bit big-endian number that the 64-character hex text
// spells; it is bit (k % 64) of limb (k / 64). In PDQ terms bit k = 16*i + j is DCT row i, column j, which is
// how the reference implementation numbers its 16 words of 16 bits. Value type; thread-compatible.
#pragma once

#include <array>
#include <utility>
#include <bit>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hashbank {

struct Hash256 {
  std::array<uint64_t, 4> limbs{};  // limbs[0] holds bits 0..63.

  bool GetBit(int k) const { return (limbs[static_cast<size_t>(k >> 6)] >> (k & 63)) & 1U; }
  void SetBit(int k) { limbs[static_cast<size_t>(k >> 6)] |= uint64_t{1} << (k & 63); }
  int PopCount() const {
    return std::popcount(limbs[0]) + std::popcount(limbs[1]) + std::popcount(limbs[2]) +
           std::popcount(limbs[3]);
  }

  // 64 lowercase hex digits, most significant first (the reference's `%04hx` x 16 layout).
  std::string ToHex() const;
  // Accepts exactly 64 hex digits, either case. Anything else is InvalidArgument naming the problem.
  static absl::StatusOr<Hash256> FromHex(std::string_view hex);

  friend bool operator==(const Hash256&, const Hash256&) = default;
  // Limb by limb (written out: the WebAssembly build's libc++ has no <=> for std::array).
  friend std::strong_ordering operator<=>(const Hash256& a, const Hash256& b) {
    for (size_t i = 0; i < a.limbs.size(); ++i) {
      if (a.limbs[i] != b.limbs[i]) return a.limbs[i] <=> b.limbs[i];
    }
    return std::strong_ordering::equal;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Hash256& x) {
    return H::combine(std::move(h), x.limbs[0], x.limbs[1], x.limbs[2], x.limbs[3]);
  }
};

inline int HammingDistance(const Hash256& a, const Hash256& b) {
  return std::popcount(a.limbs[0] ^ b.limbs[0]) + std::popcount(a.limbs[1] ^ b.limbs[1]) +
         std::popcount(a.limbs[2] ^ b.limbs[2]) + std::popcount(a.limbs[3] ^ b.limbs[3]);
}

// Lowercase hex of arbitrary bytes (used for MD5 / SHA-256 digests).
std::string BytesToHex(const uint8_t* data, size_t size);

}  // namespace hashbank
