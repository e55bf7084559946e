#include "hashing/image_hasher.h"

#include "base/file_io.h"

namespace hashbank {

absl::StatusOr<ImageHashes> ImageHasher::HashBytes(std::span<const uint8_t> file, bool dihedral) {
  return HashBytes(file, HashOptions{.dihedral = dihedral});
}

absl::StatusOr<ImageHashes> ImageHasher::HashBytes(std::span<const uint8_t> file, const HashOptions& options) {
  const bool dihedral = options.dihedral;
  const bool features = options.local_features > 0;
  ImageHashes out;
  const bool model = options.model_input_width > 0 && options.model_input_height > 0;
  if (absl::Status s = PrepareImage(file, limits_, &prepared_,
                                    DecodeOutputs{.grey = features ? &grey_ : nullptr,
                                                  .grey_long_side = options.local_feature_side,
                                                  .rgb = model ? &out.model_input : nullptr,
                                                  .rgb_width = options.model_input_width,
                                                  .rgb_height = options.model_input_height});
      !s.ok()) {
    return s;
  }
  out.format = prepared_.format;
  out.width = prepared_.original_width;
  out.height = prepared_.original_height;
  const uint8_t* px = prepared_.pixels.data();
  if (dihedral) {
    const PdqDihedralResult r = pdq_.HashDihedral(px, prepared_.width, prepared_.height, prepared_.channels);
    out.pdq = r.hashes[0];
    out.quality = r.quality;
    out.dihedral = r.hashes;
  } else {
    const PdqResult r = pdq_.Hash(px, prepared_.width, prepared_.height, prepared_.channels);
    out.pdq = r.hash;
    out.quality = r.quality;
  }
  out.exact = ComputeExactHashes(file);
  if (features) {
    out.features = options.mirrored_features
                       ? ExtractLocalFeaturesAndMirrored(grey_, options.local_features, &out.mirrored_features)
                       : ExtractLocalFeatures(grey_, options.local_features);
  }
  return out;
}

absl::StatusOr<ImageHashes> ImageHasher::HashFile(const std::string& path, bool dihedral) {
  return HashFile(path, HashOptions{.dihedral = dihedral});
}

absl::StatusOr<ImageHashes> ImageHasher::HashFile(const std::string& path, const HashOptions& options) {
  if (absl::Status s = ReadFileBounded(path, limits_.max_file_bytes, &file_buffer_); !s.ok()) return s;
  return HashBytes(file_buffer_, options);
}

}  // namespace hashbank
