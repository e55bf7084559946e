// HmacSha256: HMAC-SHA-256 (RFC 2104, FIPS 198-1) of `message` under a key of any length, through libsodium.
//
// The primitive under Salter::SaltExact, exposed so its wiring is checked against RFC 4231's vectors.
// Pure function; thread-safe; cannot fail.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace hashbank {

using HmacSha256Tag = std::array<uint8_t, 32>;

HmacSha256Tag HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message);

}  // namespace hashbank
