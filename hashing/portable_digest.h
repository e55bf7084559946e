// MD5 (RFC 1321) and SHA-256 (FIPS 180-4) in portable C++, for builds without OpenSSL: the WebAssembly build
// of hashbank_hashing (web/wasm/) computes the exact signals with these. The native build uses OpenSSL
// (exact_hash.cc); tests/hashing/portable_digest_test.cc checks the two agree byte for byte, and both against
// the RFC's and NIST's published test vectors.
//
// Pure functions of their input; thread-safe; no errors (any length up to 2^61 bytes).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace hashbank {

std::array<uint8_t, 16> PortableMd5(std::span<const uint8_t> bytes);
std::array<uint8_t, 32> PortableSha256(std::span<const uint8_t> bytes);

}  // namespace hashbank
