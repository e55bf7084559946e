// ImageHasher: every hash of one image file — PDQ (optionally its 8 dihedral variants), MD5 and SHA-256 —
// computed in process from the file's bytes. The image is decoded into scratch memory and nothing of it
// outlives the call.
//
// Not thread-safe (it owns decode and filter scratch buffers); use one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "matcher/exact_hash.h"
#include "matcher/hash256.h"
#include "matcher/image_decoder.h"
#include "matcher/pdq_hasher.h"

namespace hashbank {

struct ImageHashes {
  Hash256 pdq;
  int quality = 0;
  std::optional<std::array<Hash256, kNumDihedral>> dihedral;  // set when asked for
  ExactHashes exact;
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;   // as stored in the file
  int height = 0;
};

class ImageHasher {
 public:
  explicit ImageHasher(ImageLimits limits = {}) : limits_(limits) {}

  const ImageLimits& limits() const { return limits_; }

  // Errors as PrepareImageForPdq (image_decoder.h).
  absl::StatusOr<ImageHashes> HashBytes(std::span<const uint8_t> file, bool dihedral);

  // Reads a regular file, refusing one over max_file_bytes before reading it. NotFound / PermissionDenied /
  // FailedPrecondition (not a regular file) for filesystem problems.
  absl::StatusOr<ImageHashes> HashFile(const std::string& path, bool dihedral);

 private:
  ImageLimits limits_;
  PdqHasher pdq_;
  PreparedImage prepared_;
  std::vector<uint8_t> file_buffer_;
};

// Reads all of a file descriptor (e.g. stdin) up to `max_bytes`; ResourceExhausted past that.
absl::Status ReadAllBounded(int fd, size_t max_bytes, std::vector<uint8_t>* out);

}  // namespace hashbank
