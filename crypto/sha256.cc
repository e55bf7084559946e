#include "crypto/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace hashbank {
namespace {

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

}  // namespace

Sha256Hash Sha256(std::initializer_list<std::span<const uint8_t>> parts) {
  Sha256Hash out{};
  unsigned int length = 0;
  thread_local std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok = ctx != nullptr && Sha256Md() != nullptr && EVP_DigestInit_ex(ctx.get(), Sha256Md(), nullptr) == 1;
  for (std::span<const uint8_t> part : parts) {
    ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), &length) == 1 && length == out.size();
  if (!ok) std::abort();
  return out;
}

}  // namespace hashbank
