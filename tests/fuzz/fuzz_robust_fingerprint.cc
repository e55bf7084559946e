// Fuzzes the robust fingerprint's decoder (its bytes arrive from peers inside signed entries, and from
// clients as base64) and the verification and index that consume what it accepts: any input either decodes
// to a well-formed fingerprint that re-encodes to the same bytes, or is refused; nothing crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hashing/robust_fingerprint.h"
#include "matcher/robust_index.h"
#include "matcher/robust_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto fp = hashbank::DecodeRobustFingerprint(bytes);
  if (!fp.ok()) return 0;
  // Accepted input is canonical: it re-encodes to exactly the same bytes.
  auto again = hashbank::EncodeRobustFingerprint(*fp);
  if (!again.ok() || *again != bytes) std::abort();
  if (fp->features.empty() || fp->extent_x <= 0 || fp->extent_y <= 0) std::abort();
  // The fingerprint against itself (as a query) and through an index.
  (void)hashbank::VerifyRobust(*fp, fp->features);
  hashbank::RobustIndex index(2);
  if (!index.InsertEncoded(7, bytes).ok()) std::abort();
  (void)index.Query(fp->features, {});
  index.Remove(7);
  if (index.size() != 0) std::abort();
  return 0;
}
