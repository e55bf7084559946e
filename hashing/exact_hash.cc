#include "hashing/exact_hash.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace hashbank {
namespace {

template <size_t N>
void Digest(const EVP_MD* md, std::span<const uint8_t> bytes, std::array<uint8_t, N>* out) {
  unsigned int length = 0;
  // EVP_Digest fails only on allocation failure or a missing provider, either of which is a broken process.
  if (EVP_Digest(bytes.data(), bytes.size(), out->data(), &length, md, nullptr) != 1 || length != N) std::abort();
}

}  // namespace

ExactHashes ComputeExactHashes(std::span<const uint8_t> bytes) {
  ExactHashes h;
  Digest(EVP_md5(), bytes, &h.md5);
  Digest(EVP_sha256(), bytes, &h.sha256);
  return h;
}

}  // namespace hashbank
