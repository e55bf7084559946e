#include "crypto/hmac_sha256.h"

#include <sodium.h>

#include <cstdlib>

#include "crypto/sodium_init.h"

namespace hashbank {

HmacSha256Tag HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  EnsureSodiumInitialized();
  static_assert(crypto_auth_hmacsha256_BYTES == std::tuple_size_v<HmacSha256Tag>);
  crypto_auth_hmacsha256_state state;
  HmacSha256Tag tag{};
  // _init is declared nonnull even for an empty key; an empty span may carry a null pointer.
  static constexpr unsigned char kNoKey = 0;
  const unsigned char* key_data = key.empty() ? &kNoKey : key.data();
  // These calls fail only on a libsodium bug (they return 0 unconditionally in 1.0.18); a wrong tag would
  // silently split the federation's bank, so a failure is not survivable.
  if (crypto_auth_hmacsha256_init(&state, key_data, key.size()) != 0 ||
      crypto_auth_hmacsha256_update(&state, message.data(), message.size()) != 0 ||
      crypto_auth_hmacsha256_final(&state, tag.data()) != 0) {
    std::abort();
  }
  sodium_memzero(&state, sizeof state);
  return tag;
}

}  // namespace hashbank
