// MD5 and SHA-256 of a file's bytes (the "exact" signals). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace hashbank {

using Md5Digest = std::array<uint8_t, 16>;
using Sha256Digest = std::array<uint8_t, 32>;

struct ExactHashes {
  Md5Digest md5{};
  Sha256Digest sha256{};
};

ExactHashes ComputeExactHashes(std::span<const uint8_t> bytes);

}  // namespace hashbank
