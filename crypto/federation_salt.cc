#include "crypto/federation_salt.h"

#include <sodium.h>

#include <ostream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "crypto/hmac_sha256.h"
#include "crypto/sodium_init.h"

namespace hashbank {
namespace {

bool IsIdCharacter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

absl::Status FederationSalt::ValidateId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("salt id is empty");
  if (id.size() > kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("salt id is ", id.size(), " characters, the limit is ", kMaxIdLength));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (!IsIdCharacter(id[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("salt id has a character outside [A-Za-z0-9._-] at position ", i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FederationSalt> FederationSalt::FromHex(std::string_view id, std::string_view hex64) {
  if (absl::Status s = ValidateId(id); !s.ok()) return s;
  if (hex64.size() != 2 * kKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a salt key is ", 2 * kKeyBytes, " hex digits, got ", hex64.size(), " characters"));
  }
  // Only the position of a non-hex character is reported, never the text: it may be a mistyped secret.
  for (size_t i = 0; i < hex64.size(); ++i) {
    if (!IsHexDigit(hex64[i])) {
      return absl::InvalidArgumentError(absl::StrCat("salt key has a non-hex character at position ", i));
    }
  }
  EnsureSodiumInitialized();
  FederationSalt salt;
  salt.id = std::string(id);
  size_t decoded = 0;
  // sodium_hex2bin decodes in constant time, so the key's value does not show in timing.
  if (sodium_hex2bin(salt.key.data(), salt.key.size(), hex64.data(), hex64.size(), nullptr, &decoded, nullptr) !=
          0 ||
      decoded != kKeyBytes) {
    return absl::InvalidArgumentError("salt key is not valid hex");
  }
  return salt;
}

absl::StatusOr<FederationSalt> FederationSalt::Generate(std::string id) {
  if (absl::Status s = ValidateId(id); !s.ok()) return s;
  EnsureSodiumInitialized();
  FederationSalt salt;
  salt.id = std::move(id);
  randombytes_buf(salt.key.data(), salt.key.size());
  return salt;
}

std::string FederationSalt::ToHex() const {
  EnsureSodiumInitialized();
  char hex[2 * kKeyBytes + 1];
  sodium_bin2hex(hex, sizeof hex, key.data(), key.size());  // constant time
  std::string out(hex, 2 * kKeyBytes);
  sodium_memzero(hex, sizeof hex);
  return out;
}

std::string FederationSalt::ToString() const { return absl::StrCat("FederationSalt{id=\"", id, "\", key=<redacted>}"); }

std::ostream& operator<<(std::ostream& os, const FederationSalt& salt) { return os << salt.ToString(); }

std::string FederationSalt::RandomId() {
  EnsureSodiumInitialized();
  std::array<uint8_t, 8> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return "fed-" + absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string FederationSalt::CheckValue() const {
  static constexpr std::string_view kLabel = "hashbank federation salt check v1";
  const HmacSha256Tag tag =
      HmacSha256(key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kLabel.data()), kLabel.size()));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(tag.data()), 16));
}

}  // namespace hashbank
