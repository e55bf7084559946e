// FederationSalt: the secret key every member of one federation shares to salt the hashes it exchanges, and
// the public id that names it (so an entry can say which salt it was salted with, and a future rotation can
// tell the old salt from the new).
//
// `key` is secret, `id` is public. ToString() and operator<< print the id only, never the key (so a salt in a
// log line or a failed test assertion leaks nothing); ToHex() is the one way to get the key out, for writing
// a secret file, and its result must be handled as a secret. An id is 1..64 characters of [A-Za-z0-9._-].
// Errors: InvalidArgument naming the problem. Value type; thread-compatible.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

struct FederationSalt {
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kMaxIdLength = 64;

  std::string id;
  std::array<uint8_t, kKeyBytes> key{};
  // SECRET. After a salt rotation (docs/operators.md, "Rotating the salt"): the exact-hash keys of the salts
  // before this one, oldest first (each Salter::exact_chain_link() of its salt). Exact hashes salted with HMAC
  // cannot be un-salted, so they are chained instead: a digest is HMACed under each link and then under this
  // salt's own exact key, and a value stored under the previous salt becomes this salt's by one more HMAC.
  // Empty for a salt that never rotated.
  std::vector<std::array<uint8_t, kKeyBytes>> exact_chain;

  // OK, or InvalidArgument saying what is wrong with `id` (empty, too long, or the first bad character).
  static absl::Status ValidateId(std::string_view id);
  // `hex64` is exactly 64 hex digits, either case, the key's bytes in order.
  static absl::StatusOr<FederationSalt> FromHex(std::string_view id, std::string_view hex64);
  // A fresh key from the system CSPRNG (libsodium randombytes_buf). Fails only on a bad id.
  static absl::StatusOr<FederationSalt> Generate(std::string id);

  // A fresh random id, "fed-" and 16 hex digits, so two federations' salts never share an id by default.
  static std::string RandomId();

  // The key as 64 lowercase hex digits. SECRET.
  std::string ToHex() const;
  // The salt's public check value: 32 hex digits of HMAC-SHA-256(key, "hashbank federation salt check v1"
  // followed by the exact_chain's bytes, if any). Equal for equal keys and chains, and says nothing about them
  // (HMAC is a PRF); nodes compare it to tell a wrong salt of the same id from the right one.
  std::string CheckValue() const;

  // The salt file (salt.json, mode 0600, SECRET): {"salt_id", "check", "key"[, "exact_chain": [hex...]]}.
  std::string ToFileJson() const;
  // The inverse. InvalidArgument naming the problem (never the key), also when "check" is present and is not
  // what the key and chain give (a file altered or mixed from two salts). `path` prefixes the messages.
  static absl::StatusOr<FederationSalt> FromFileJson(std::string_view json, std::string_view path);
  // `FederationSalt{id="...", key=<redacted>}`.
  std::string ToString() const;
};

// Prints ToString(): the id, never the key.
std::ostream& operator<<(std::ostream& os, const FederationSalt& salt);

}  // namespace hashbank
