#include "hashing/image_hasher.h"

#include "base/file_io.h"

namespace hashbank {

absl::StatusOr<ImageHashes> ImageHasher::HashBytes(std::span<const uint8_t> file, bool dihedral) {
  if (absl::Status s = PrepareImageForPdq(file, limits_, &prepared_); !s.ok()) return s;
  ImageHashes out;
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
  return out;
}

absl::StatusOr<ImageHashes> ImageHasher::HashFile(const std::string& path, bool dihedral) {
  if (absl::Status s = ReadFileBounded(path, limits_.max_file_bytes, &file_buffer_); !s.ok()) return s;
  return HashBytes(file_buffer_, dihedral);
}

}  // namespace hashbank
