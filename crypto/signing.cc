#include "crypto/signing.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "base/node_id.h"
#include "crypto/pem_file.h"
#include "crypto/sodium_init.h"

namespace hashbank {
namespace {

static_assert(std::tuple_size_v<Ed25519PublicKey> == crypto_sign_PUBLICKEYBYTES);
static_assert(std::tuple_size_v<Ed25519Signature> == crypto_sign_BYTES);
static_assert(SigningKey::kSeedBytes == crypto_sign_SEEDBYTES);
constexpr size_t kSecretKeyBytes = crypto_sign_SECRETKEYBYTES;  // seed || public key
static_assert(kSecretKeyBytes == 64);

constexpr size_t kMaxKeyFileBytes = 4096;
constexpr char kNodeIdField[] = "node_id";
constexpr char kSeedField[] = "ed25519_seed";
constexpr char kPublicKeyField[] = "ed25519_public_key";
constexpr char kCertificateField[] = "certificate_sha256";

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Zeroes a buffer holding secret text when the scope ends, on every path out. The buffer must outlive it
// and keep its address.
class WipeOnExit {
 public:
  WipeOnExit(char* data, size_t size) : data_(data), size_(size) {}
  ~WipeOnExit() { sodium_memzero(data_, size_); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  char* data_;
  size_t size_;
};

// Decodes exactly 32 bytes from 64 hex digits (either case) in constant time. `what` names the value in
// errors; only lengths and positions are reported, never the text, which may be a mistyped secret.
absl::Status DecodeHex32(std::string_view hex, std::string_view what, uint8_t* out) {
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is 64 hex digits, got ", hex.size(), " characters"));
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!IsHexDigit(hex[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), " has a non-hex character at position ", i));
    }
  }
  EnsureSodiumInitialized();
  size_t decoded = 0;
  if (sodium_hex2bin(out, 32, hex.data(), hex.size(), nullptr, &decoded, nullptr) != 0 || decoded != 32) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is not valid hex"));
  }
  return absl::OkStatus();
}

std::string Hex(const uint8_t* data, size_t size) {
  EnsureSodiumInitialized();
  std::string out(2 * size + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, size);
  out.resize(2 * size);
  return out;
}

absl::Status WithPrefix(const std::string& prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", std::string(status.message())));
}

// `text` parsed as a JSON object whose fields are exactly `first` and `second`, both strings.
absl::StatusOr<boost::json::object> ParseTwoStringFields(std::string_view text, const char* first,
                                                         const char* second, const char* optional = nullptr) {
  const std::string shape = absl::StrCat("expected a JSON object {\"", first, "\": \"...\", \"", second,
                                         "\": \"...\"}");
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("not valid JSON (", ec.message(), "); ", shape));
  boost::json::object* object = value.if_object();
  if (object == nullptr) return absl::InvalidArgumentError(shape);
  for (const char* name : {first, second}) {
    const boost::json::value* field = object->if_contains(name);
    if (field == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing field \"", name, "\"; ", shape));
    if (!field->is_string()) return absl::InvalidArgumentError(absl::StrCat("field \"", name, "\" is not a string"));
  }
  size_t expected = 2;
  if (optional != nullptr) {
    if (const boost::json::value* field = object->if_contains(optional)) {
      if (!field->is_string()) return absl::InvalidArgumentError(absl::StrCat("field \"", optional, "\" is not a string"));
      ++expected;
    }
  }
  // Unknown field names are not echoed: a file of the wrong kind may hold anything.
  if (object->size() != expected) return absl::InvalidArgumentError(absl::StrCat("unexpected field; ", shape));
  return std::move(*object);
}

std::string_view StringField(const boost::json::object& object, const char* name) {
  const boost::json::string& s = object.at(name).get_string();  // present and a string: checked by the parser
  return std::string_view(s.data(), s.size());
}

std::string FormatMode(unsigned mode) {
  std::string out;
  for (int shift = 9; shift >= 0; shift -= 3) out.push_back(static_cast<char>('0' + ((mode >> shift) & 7u)));
  return out;
}

}  // namespace

void SigningKey::SecretDeleter::operator()(uint8_t* secret) const { sodium_free(secret); }  // zeroes first

absl::StatusOr<SigningKey::Secret> SigningKey::AllocateSecret() {
  EnsureSodiumInitialized();
  void* memory = sodium_malloc(kSecretKeyBytes);
  if (memory == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate guarded memory for an Ed25519 secret key");
  }
  return Secret(static_cast<uint8_t*>(memory));
}

SigningKey::SigningKey(Secret secret, const Ed25519PublicKey& public_key)
    : secret_(std::move(secret)), public_key_(public_key) {}

SigningKey::SigningKey(SigningKey&& other) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&& other) noexcept = default;
SigningKey::~SigningKey() = default;

absl::StatusOr<SigningKey> SigningKey::Generate() {
  absl::StatusOr<Secret> secret = AllocateSecret();
  if (!secret.ok()) return secret.status();
  Ed25519PublicKey public_key{};
  crypto_sign_keypair(public_key.data(), secret->get());  // cannot fail
  return SigningKey(*std::move(secret), public_key);
}

absl::StatusOr<SigningKey> SigningKey::FromSeed(std::span<const uint8_t> seed) {
  if (seed.size() != kSeedBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is ", kSeedBytes, " bytes, got ", seed.size()));
  }
  absl::StatusOr<Secret> secret = AllocateSecret();
  if (!secret.ok()) return secret.status();
  Ed25519PublicKey public_key{};
  crypto_sign_seed_keypair(public_key.data(), secret->get(), seed.data());  // cannot fail
  return SigningKey(*std::move(secret), public_key);
}

const uint8_t* SigningKey::secret() const {
  if (secret_ == nullptr) {
    // A programming error (use after move), never caused by input.
    std::cerr << "hashbank: fatal: use of a moved-from SigningKey\n";
    std::abort();
  }
  return secret_.get();
}

Ed25519Signature SigningKey::Sign(SignatureDomain domain, std::span<const uint8_t> message) const {
  // Ed25519 hashes the message twice (nonce, then challenge), and libsodium wants it contiguous: the domain
  // and message are copied into one buffer. Messages here are small (checkpoints).
  const std::string_view prefix = domain.bytes();
  std::vector<uint8_t> bytes(prefix.size() + message.size());
  std::memcpy(bytes.data(), prefix.data(), prefix.size());
  if (!message.empty()) std::memcpy(bytes.data() + prefix.size(), message.data(), message.size());
  return SignRaw(bytes);
}

Ed25519Signature SigningKey::Sign(SignatureDomain domain, std::string_view message) const {
  return Sign(domain, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

Ed25519Signature SigningKey::SignRaw(std::span<const uint8_t> message) const {
  Ed25519Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), secret());  // cannot fail
  return signature;
}

std::string SigningKey::SeedHex() const {
  EnsureSodiumInitialized();
  char hex[2 * kSeedBytes + 1];
  sodium_bin2hex(hex, sizeof hex, secret(), kSeedBytes);  // constant time; the seed is the first 32 bytes
  std::string out(hex, 2 * kSeedBytes);
  sodium_memzero(hex, sizeof hex);
  return out;
}

std::string SigningKey::ToString() const {
  return absl::StrCat("SigningKey{public_key=", PublicKeyHex(public_key_), "}");
}

std::ostream& operator<<(std::ostream& os, const SigningKey& key) { return os << key.ToString(); }

absl::Status VerifyRaw(const Ed25519PublicKey& key, std::span<const uint8_t> message,
                       const Ed25519Signature& signature) {
  EnsureSodiumInitialized();
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(), key.data()) != 0) {
    return absl::PermissionDeniedError("signature does not verify");
  }
  return absl::OkStatus();
}

absl::Status VerifySignature(const Ed25519PublicKey& key, SignatureDomain domain, std::span<const uint8_t> message,
                             const Ed25519Signature& signature) {
  const std::string_view prefix = domain.bytes();
  std::vector<uint8_t> bytes(prefix.size() + message.size());
  std::memcpy(bytes.data(), prefix.data(), prefix.size());
  if (!message.empty()) std::memcpy(bytes.data() + prefix.size(), message.data(), message.size());
  return VerifyRaw(key, bytes, signature);
}

absl::Status VerifySignature(const Ed25519PublicKey& key, SignatureDomain domain, std::string_view message,
                             const Ed25519Signature& signature) {
  return VerifySignature(
      key, domain, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()),
      signature);
}

std::string PublicKeyHex(const Ed25519PublicKey& key) { return Hex(key.data(), key.size()); }

absl::StatusOr<Ed25519PublicKey> ParsePublicKeyHex(std::string_view hex) {
  Ed25519PublicKey key{};
  if (absl::Status s = DecodeHex32(hex, "an Ed25519 public key", key.data()); !s.ok()) return s;
  if (crypto_core_ed25519_is_valid_point(key.data()) != 1) {
    return absl::InvalidArgumentError(
        "an Ed25519 public key must be a canonical point of the main subgroup, not of small order");
  }
  return key;
}

absl::Status WriteSigningKeyFile(const std::string& path, const std::string& node_id, const SigningKey& key) {
  if (absl::Status s = ValidateNodeId(node_id); !s.ok()) return WithPrefix(path, s);
  std::string seed_hex = key.SeedHex();
  WipeOnExit wipe_seed(seed_hex.data(), seed_hex.size());
  // Written by hand rather than through boost::json so that no copy of the seed is left in freed memory; the
  // node id needs no escaping (its alphabet is checked above) and the seed is hex.
  std::string text = absl::StrCat("{\"", kNodeIdField, "\":\"", node_id, "\",\"", kSeedField, "\":\"", seed_hex,
                                   "\"}\n");
  WipeOnExit wipe_text(text.data(), text.size());
  return WritePemFile(path, text, 0600, IfFileExists::kFail);
}

absl::StatusOr<LoadedSigningKey> ReadSigningKeyFile(const std::string& path) {
  // Checked before reading, like ssh: a key others could read is refused, so the mistake gets fixed. (A stat
  // failure is left to ReadTextFile, which reports it with the right code.)
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is accessible by group or others (mode ", FormatMode(static_cast<unsigned>(st.st_mode) & 0777u),
        "); a signing key file must be private: chmod 600 ", path));
  }
  absl::StatusOr<std::string> text = ReadTextFile(path, kMaxKeyFileBytes);
  if (!text.ok()) return text.status();
  WipeOnExit wipe_text(text->data(), text->size());

  absl::StatusOr<boost::json::object> object = ParseTwoStringFields(*text, kNodeIdField, kSeedField);
  if (!object.ok()) return WithPrefix(path, object.status());
  boost::json::string& seed_hex = object->at(kSeedField).get_string();
  WipeOnExit wipe_seed_hex(seed_hex.data(), seed_hex.size());

  const std::string_view node_id = StringField(*object, kNodeIdField);
  if (absl::Status s = ValidateNodeId(node_id); !s.ok()) return WithPrefix(path, s);
  std::array<uint8_t, SigningKey::kSeedBytes> seed{};
  absl::Status decoded = DecodeHex32(std::string_view(seed_hex.data(), seed_hex.size()), kSeedField, seed.data());
  absl::StatusOr<SigningKey> key =
      decoded.ok() ? SigningKey::FromSeed(seed) : absl::StatusOr<SigningKey>(decoded);
  sodium_memzero(seed.data(), seed.size());
  if (!key.ok()) return WithPrefix(path, key.status());
  return LoadedSigningKey{std::string(node_id), *std::move(key)};
}

absl::StatusOr<std::string> FormatPublicCard(const PublicCard& card) {
  if (absl::Status s = ValidateNodeId(card.node_id); !s.ok()) return s;
  boost::json::object object;
  object[kNodeIdField] = card.node_id;
  object[kPublicKeyField] = PublicKeyHex(card.public_key);
  if (!card.certificate_sha256.empty()) {
    if (absl::Status s = ValidateCertificateSha256(card.certificate_sha256); !s.ok()) return s;
    object[kCertificateField] = card.certificate_sha256;
  }
  return boost::json::serialize(object) + "\n";
}

absl::Status ValidateCertificateSha256(std::string_view hex) {
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return absl::InvalidArgumentError("certificate_sha256: expected 64 lowercase hex digits (the SHA-256 of the certificate's DER)");
  }
  return absl::OkStatus();
}

absl::StatusOr<PublicCard> ParsePublicCard(std::string_view json) {
  absl::StatusOr<boost::json::object> object = ParseTwoStringFields(json, kNodeIdField, kPublicKeyField, kCertificateField);
  if (!object.ok()) return object.status();
  PublicCard card;
  if (object->contains(kCertificateField)) {
    card.certificate_sha256 = std::string(StringField(*object, kCertificateField));
    if (absl::Status s = ValidateCertificateSha256(card.certificate_sha256); !s.ok()) return s;
  }
  card.node_id = std::string(StringField(*object, kNodeIdField));
  if (absl::Status s = ValidateNodeId(card.node_id); !s.ok()) return s;
  absl::StatusOr<Ed25519PublicKey> key = ParsePublicKeyHex(StringField(*object, kPublicKeyField));
  if (!key.ok()) return key.status();
  card.public_key = *key;
  return card;
}

}  // namespace hashbank
