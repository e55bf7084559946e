// Sha256: SHA-256 through OpenSSL, the one helper every module uses (log leaves and nodes, the audit chain,
// token hashes). The implementation is fetched from the default provider once per process — passing
// EVP_sha256() to each init makes OpenSSL 3 look it up again every call, which cost more than hashing a
// 100-byte entry — with one context per thread.
//
// Thread-safe; cannot fail (allocation failure or a missing default provider aborts: a wrong hash would
// fork a log, so it is not survivable).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace hashbank {

using Sha256Hash = std::array<uint8_t, 32>;

// The hash of the parts, concatenated.
Sha256Hash Sha256(std::initializer_list<std::span<const uint8_t>> parts);

inline Sha256Hash Sha256(std::string_view data) {
  return Sha256({std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size())});
}

}  // namespace hashbank
