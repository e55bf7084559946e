#include "crypto/federation_salt.h"

#include <sodium.h>

#include <ostream>
#include <string>
#include <vector>

#include <boost/json.hpp>
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
  std::vector<uint8_t> message(kLabel.begin(), kLabel.end());
  for (const auto& link : exact_chain) message.insert(message.end(), link.begin(), link.end());
  const HmacSha256Tag tag = HmacSha256(key, std::span<const uint8_t>(message.data(), message.size()));
  sodium_memzero(message.data(), message.size());
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(tag.data()), 16));
}

std::string FederationSalt::ToFileJson() const {
  boost::json::object o;
  o["salt_id"] = id;
  o["check"] = CheckValue();
  o["key"] = ToHex();
  if (!exact_chain.empty()) {
    boost::json::array chain;
    for (const auto& link : exact_chain) {
      char hex[2 * kKeyBytes + 1];
      sodium_bin2hex(hex, sizeof hex, link.data(), link.size());
      chain.emplace_back(std::string_view(hex, 2 * kKeyBytes));
      sodium_memzero(hex, sizeof hex);
    }
    o["exact_chain"] = std::move(chain);
  }
  return boost::json::serialize(o) + "\n";
}

absl::StatusOr<FederationSalt> FederationSalt::FromFileJson(std::string_view json, std::string_view path) {
  const std::string where(path);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr || !o->contains("salt_id") || !o->contains("key") || !o->at("salt_id").is_string() ||
      !o->at("key").is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected {\"salt_id\": \"...\", \"key\": \"<64 hex>\"}"));
  }
  for (const auto& field : *o) {
    const std::string_view name(field.key().data(), field.key().size());
    if (name != "salt_id" && name != "key" && name != "check" && name != "exact_chain") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unexpected field (salt_id, check, key, exact_chain)"));
    }
  }
  auto salt = FromHex(std::string_view(o->at("salt_id").as_string()), std::string_view(o->at("key").as_string()));
  if (!salt.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", salt.status().message()));
  if (const boost::json::value* chain = o->if_contains("exact_chain")) {
    if (!chain->is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": exact_chain: expected an array"));
    for (const boost::json::value& link : chain->as_array()) {
      auto parsed = link.is_string() ? FromHex("link", std::string_view(link.as_string()))
                                     : absl::StatusOr<FederationSalt>(absl::InvalidArgumentError("not a string"));
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": exact_chain[", salt->exact_chain.size(),
                                                       "]: expected 64 hex digits"));
      }
      salt->exact_chain.push_back(parsed->key);
    }
  }
  // `ca init` and `salt rotate` record the check value beside the key: a file whose key and chain do not
  // give it was edited or mixed from two salts.
  if (const boost::json::value* check = o->if_contains("check")) {
    if (!check->is_string() || check->as_string() != salt->CheckValue()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": its key does not give the check value it records; the "
                                                     "file was altered or mixed from two salts"));
    }
  }
  return salt;
}

}  // namespace hashbank
