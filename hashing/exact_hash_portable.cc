// ComputeExactHashes for builds without OpenSSL (the WebAssembly core, web/wasm/): the same contract as
// exact_hash.cc, computed by portable_digest.cc.
#include "hashing/exact_hash.h"
#include "hashing/portable_digest.h"

namespace hashbank {

ExactHashes ComputeExactHashes(std::span<const uint8_t> bytes) {
  ExactHashes h;
  h.md5 = PortableMd5(bytes);
  h.sha256 = PortableSha256(bytes);
  return h;
}

}  // namespace hashbank
