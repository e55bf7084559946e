// The byte layouts of values inside log entries: PDQ hashes as 32 little-endian bytes (limb by limb), salted
// digests as 32 raw bytes, Merkle hashes as 32 raw bytes. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "hashing/hash256.h"
#include "matcher/exact_index.h"
#include "protocol/merkle.h"

namespace hashbank {

inline std::string PdqBytes(const Hash256& h) {
  std::string out(32, '\0');
  for (size_t i = 0; i < 32; ++i) out[i] = static_cast<char>((h.limbs[i / 8] >> (8 * (i % 8))) & 0xFF);
  return out;
}

// `b` must hold 32 bytes.
inline Hash256 PdqFromBytes(std::string_view b) {
  Hash256 h;
  for (size_t i = 0; i < 32; ++i) h.limbs[i / 8] |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * (i % 8));
  return h;
}

// `b` must hold 32 bytes.
inline Digest32 DigestFromBytes(std::string_view b) {
  Digest32 d{};
  std::memcpy(d.data(), b.data(), 32);
  return d;
}

inline std::string HashBytes(const MerkleHash& h) { return std::string(h.begin(), h.end()); }

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace hashbank
