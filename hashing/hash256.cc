#include "hashing/hash256.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Hash256::ToHex() const {
  std::string out(64, '0');
  size_t pos = 0;
  for (int limb = 3; limb >= 0; --limb) {
    const uint64_t v = limbs[static_cast<size_t>(limb)];
    for (int shift = 60; shift >= 0; shift -= 4) out[pos++] = kHexDigits[(v >> shift) & 0xF];
  }
  return out;
}

absl::StatusOr<Hash256> Hash256::FromHex(std::string_view hex) {
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("a PDQ hash is 64 hex digits, got ", hex.size(), " characters"));
  }
  Hash256 h;
  for (size_t i = 0; i < 64; ++i) {
    const int v = HexValue(hex[i]);
    if (v < 0) {
      return absl::InvalidArgumentError(absl::StrCat("non-hex character at position ", i));
    }
    const size_t bit_index = (63 - i) * 4;  // the nibble's lowest bit number
    h.limbs[bit_index / 64] |= static_cast<uint64_t>(v) << (bit_index % 64);
  }
  return h;
}

std::string BytesToHex(const uint8_t* data, size_t size) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace hashbank
