// Ed25519 node identity keys and domain-separated signatures (libsodium; RFC 8032 "pure" Ed25519).
//
// A node signs its log's checkpoints with one long-lived SigningKey; peers know its public key (configured
// as 64 hex digits) and verify with VerifySignature.
//
// Domain separation: every signature made by hashbank covers `domain || message`, where the domain is a
// SignatureDomain — a fixed printable-ASCII name followed by one NUL byte, e.g. "hashbank checkpoint v1\0".
// The NUL cannot occur inside a name, so the encoding is prefix-free: a signature made for one purpose
// (one domain) never verifies for another, whatever the messages. Domains are checked at compile time; each
// purpose defines its own constant next to the bytes it signs. SignRaw/VerifyRaw sign the message alone and
// exist for the RFC 8032 known-answer tests only.
//
// Key files. The identity file is JSON {"node_id": "...", "ed25519_seed": "<64 hex>"}, mode 0600, written
// once (never replaced) and refused on read when group or others have any access to it. The public card is
// JSON {"node_id": "...", "ed25519_public_key": "<64 hex>"}: what a node hands to its peers. A node id here
// follows the one node-id rule, ValidateNodeId in base/node_id.h, on write and on read.
//
// Errors: InvalidArgument naming the problem (never echoing secret text), FailedPrecondition for a key file
// that others can read, PermissionDenied "signature does not verify" for a bad signature, and the filesystem
// codes of crypto/pem_file.h with the path. Verification functions are thread-safe; so is signing with one
// SigningKey from several threads (it is only read).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

namespace signing_internal {
// Not constexpr: reaching it in the consteval SignatureDomain constructor makes the program ill-formed, and
// the compiler's error names this function.
inline void signature_domain_must_be_1_to_64_printable_ascii_characters_in_a_string_literal() {}
}  // namespace signing_internal

// The context string a signature is bound to: the characters of a string literal of 1..64 printable ASCII
// characters (0x20..0x7e) plus the literal's terminating NUL, which is part of the signed bytes. Constructed
// at compile time only (consteval), from a literal with static storage:
//   inline constexpr SignatureDomain kCheckpointDomain{"hashbank checkpoint v1"};
// Value type, trivially copyable.
class SignatureDomain {
 public:
  static constexpr size_t kMaxNameLength = 64;

  template <size_t N>
  consteval explicit SignatureDomain(const char (&literal)[N]) : bytes_(literal, N) {
    if (N < 2 || N - 1 > kMaxNameLength || literal[N - 1] != '\0') {
      signing_internal::signature_domain_must_be_1_to_64_printable_ascii_characters_in_a_string_literal();
    }
    for (size_t i = 0; i + 1 < N; ++i) {
      if (literal[i] < 0x20 || literal[i] > 0x7e) {
        signing_internal::signature_domain_must_be_1_to_64_printable_ascii_characters_in_a_string_literal();
      }
    }
  }

  // The name without the NUL, for messages.
  constexpr std::string_view name() const { return bytes_.substr(0, bytes_.size() - 1); }
  // Exactly the bytes that precede the message in what is signed: the name and one NUL.
  constexpr std::string_view bytes() const { return bytes_; }

 private:
  std::string_view bytes_;
};

// An Ed25519 secret key (libsodium's 64-byte form: seed || public key) and its public key.
//
// The secret lives in libsodium guarded memory (sodium_malloc: locked against swapping where the system
// allows, guard pages around it) and is wiped when the key is destroyed. Move-only; moving transfers the
// allocation, so no copy of the secret is left behind. A moved-from key may only be destroyed or assigned to
// (signing with it aborts). Signing is deterministic (RFC 8032) and never fails.
class SigningKey {
 public:
  static constexpr size_t kSeedBytes = 32;

  // A fresh key from the system CSPRNG. ResourceExhausted if guarded memory cannot be allocated.
  static absl::StatusOr<SigningKey> Generate();
  // The key RFC 8032 derives from a 32-byte seed (its "SECRET KEY"). InvalidArgument for another length.
  static absl::StatusOr<SigningKey> FromSeed(std::span<const uint8_t> seed);

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  const Ed25519PublicKey& public_key() const { return public_key_; }

  // Signs domain.bytes() || message.
  Ed25519Signature Sign(SignatureDomain domain, std::span<const uint8_t> message) const;
  Ed25519Signature Sign(SignatureDomain domain, std::string_view message) const;
  // Signs the message alone, with no domain: for RFC 8032 known-answer tests only.
  Ed25519Signature SignRaw(std::span<const uint8_t> message) const;

  // The 32-byte seed as 64 lowercase hex digits. SECRET: for writing the identity file.
  std::string SeedHex() const;
  // `SigningKey{public_key=<hex>}`: never the secret.
  std::string ToString() const;

 private:
  struct SecretDeleter {
    void operator()(uint8_t* secret) const;
  };
  using Secret = std::unique_ptr<uint8_t, SecretDeleter>;

  SigningKey(Secret secret, const Ed25519PublicKey& public_key);
  static absl::StatusOr<Secret> AllocateSecret();
  const uint8_t* secret() const;

  Secret secret_;  // 64 bytes; null only after a move
  Ed25519PublicKey public_key_{};
};

// Prints ToString(): the public key, never the secret.
std::ostream& operator<<(std::ostream& os, const SigningKey& key);

// OK when `signature` is `key`'s signature of domain.bytes() || message; PermissionDenied "signature does
// not verify" otherwise (also for a public key that is not a valid curve point, and for non-canonical
// signatures, which libsodium rejects).
absl::Status VerifySignature(const Ed25519PublicKey& key, SignatureDomain domain, std::span<const uint8_t> message,
                             const Ed25519Signature& signature);
absl::Status VerifySignature(const Ed25519PublicKey& key, SignatureDomain domain, std::string_view message,
                             const Ed25519Signature& signature);
// Verifies a signature of the message alone: for RFC 8032 known-answer tests only.
absl::Status VerifyRaw(const Ed25519PublicKey& key, std::span<const uint8_t> message,
                       const Ed25519Signature& signature);

// 64 lowercase hex digits.
std::string PublicKeyHex(const Ed25519PublicKey& key);
// Exactly 64 hex digits, either case, that encode a valid Ed25519 public key (a canonical point of the main
// subgroup, not of small order). InvalidArgument otherwise.
absl::StatusOr<Ed25519PublicKey> ParsePublicKeyHex(std::string_view hex);

// Writes the identity file at `path`: mode 0600, atomically, never replacing an existing file
// (AlreadyExists). InvalidArgument for a bad node id.
absl::Status WriteSigningKeyFile(const std::string& path, const std::string& node_id, const SigningKey& key);

struct LoadedSigningKey {
  std::string node_id;
  SigningKey key;
};

// Reads an identity file. FailedPrecondition if group or others have any permission on it (mode & 077);
// InvalidArgument (prefixed with the path) for malformed JSON, a missing, mistyped or unknown field, a bad
// node id, or a seed that is not 64 hex digits; the filesystem codes of ReadTextFile otherwise.
absl::StatusOr<LoadedSigningKey> ReadSigningKeyFile(const std::string& path);

// A node's public identity, as handed to its peers.
struct PublicCard {
  std::string node_id;
  Ed25519PublicKey public_key{};
  // SHA-256 of the node's federation TLS certificate (DER), 64 lowercase hex; "" if not known. Members may pin
  // it (federation.members[].certificate_sha256, docs/configuration.md).
  std::string certificate_sha256;
};

// `{"node_id":"...","ed25519_public_key":"<64 hex>"[,"certificate_sha256":"<64 hex>"]}` and a newline.
// InvalidArgument for a bad node id or certificate digest.
absl::StatusOr<std::string> FormatPublicCard(const PublicCard& card);
// The inverse (certificate_sha256 optional); InvalidArgument for malformed JSON, missing, mistyped or unknown
// fields, a bad node id, key or digest.
absl::StatusOr<PublicCard> ParsePublicCard(std::string_view json);
// OK for 64 lowercase hex digits; InvalidArgument otherwise.
absl::Status ValidateCertificateSha256(std::string_view hex);

}  // namespace hashbank
