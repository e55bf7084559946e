#include "matcher/image_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

absl::Status ErrnoStatus(int err, std::string_view what) {
  const std::string message = absl::StrCat(std::string(what), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR: return absl::NotFoundError(message);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(message);
    default: return absl::UnavailableError(message);
  }
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open");
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat");
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError("not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > limits_.max_file_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("file is ", size, " bytes, over the limit of ", limits_.max_file_bytes));
  }
  if (absl::Status s = ReadAllBounded(fd, limits_.max_file_bytes, &file_buffer_); !s.ok()) return s;
  return HashBytes(file_buffer_, dihedral);
}

absl::Status ReadAllBounded(int fd, size_t max_bytes, std::vector<uint8_t>* out) {
  out->clear();
  constexpr size_t kChunk = size_t{1} << 16;
  for (;;) {
    const size_t old_size = out->size();
    out->resize(old_size + kChunk);
    const ssize_t n = ::read(fd, out->data() + old_size, kChunk);
    if (n < 0) {
      if (errno == EINTR) {
        out->resize(old_size);
        continue;
      }
      return ErrnoStatus(errno, "read failed");
    }
    out->resize(old_size + static_cast<size_t>(n));
    if (n == 0) return absl::OkStatus();
    if (out->size() > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("input is over the limit of ", max_bytes, " bytes"));
    }
  }
}

}  // namespace hashbank
