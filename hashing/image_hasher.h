// ImageHasher: every hash of one image file — PDQ (optionally its 8 dihedral variants), MD5, SHA-256 and local
// features — computed in process from the file's bytes. The image is decoded into scratch memory; nothing of
// it outlives the call except, when asked for, a small resampled copy for an embedding model
// (ImageHashes::model_input), which the caller runs the model on and drops.
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
#include "base/file_io.h"  // ReadAllBounded, for callers hashing stdin
#include "hashing/exact_hash.h"
#include "hashing/hash256.h"
#include "hashing/image_decoder.h"
#include "hashing/local_features.h"
#include "hashing/pdq_hasher.h"

namespace hashbank {

// What to compute besides PDQ, MD5 and SHA-256.
struct HashOptions {
  bool dihedral = false;     // PDQ of the 8 rotations and mirrors
  int local_features = 0;    // > 0: this many local features (kRobustBankFeatures for a fingerprint to bank,
                             // kRobustQueryFeatures for a query)
  bool mirrored_features = false;  // also the local features of the mirrored image (queries)
  int local_feature_side = kLocalFeatureSide;  // long side of the image the features are taken from
  // > 0 (both): the image resampled to this size for an embedding model (DecodeOutputs::rgb)
  int model_input_width = 0;
  int model_input_height = 0;
};

struct ImageHashes {
  Hash256 pdq;
  int quality = 0;
  std::optional<std::array<Hash256, kNumDihedral>> dihedral;  // set when asked for
  ExactHashes exact;
  std::vector<LocalFeature> features;           // raw (unsalted), when asked for
  std::vector<LocalFeature> mirrored_features;  // of the mirrored image, when asked for
  RgbImage model_input;  // when asked for: the embedding model's input, for the caller to run and drop
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
  absl::StatusOr<ImageHashes> HashBytes(std::span<const uint8_t> file, const HashOptions& options);

  // Reads a regular file with ReadFileBounded (base/file_io.h), refusing one over max_file_bytes before reading
  // it (ResourceExhausted). NotFound / PermissionDenied / FailedPrecondition (not a regular file) for
  // filesystem problems; messages do not name the file ("cannot open: No such file or directory").
  absl::StatusOr<ImageHashes> HashFile(const std::string& path, bool dihedral);
  absl::StatusOr<ImageHashes> HashFile(const std::string& path, const HashOptions& options);

 private:
  ImageLimits limits_;
  PdqHasher pdq_;
  PreparedImage prepared_;
  GreyImage grey_;
  std::vector<uint8_t> file_buffer_;
};

}  // namespace hashbank
