#include "base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace hashbank {
namespace {

// The payload that marks a refusal for size; its presence is the whole message.
constexpr char kOverSizeLimitPayload[] = "type.hashbank/base.OverSizeLimit";

constexpr size_t kChunk = size_t{1} << 16;

absl::Status OverSizeLimit(std::string message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kOverSizeLimitPayload, absl::Cord());
  return status;
}

// Closes the descriptor on every path out.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Appends `fd` to end of input to `*out`. Reads into the buffer's spare capacity and grows it only when it is
// full, so a file whose size was reserved up front is read into one allocation: no copy of its bytes is left
// behind in freed memory (key files are secret). Each read asks for max(kChunk, `expected`) bytes at most (the
// window is zero-filled first, and a reused buffer may be far larger than the input). `noun` names the input in
// the over-limit message.
template <typename Buffer>
absl::Status ReadToEnd(int fd, size_t max_bytes, size_t expected, std::string_view noun, Buffer* out) {
  // Room for one byte past the limit is all it takes to see that the input is over it.
  const size_t enough = max_bytes == std::numeric_limits<size_t>::max() ? max_bytes : max_bytes + 1;
  for (;;) {
    const size_t old_size = out->size();  // <= max_bytes, so < enough
    if (old_size == out->capacity()) out->reserve(std::min(enough, std::max(kChunk, 2 * old_size)));
    const size_t window = std::min(out->capacity() - old_size, std::max(kChunk, expected));
    out->resize(old_size + window);
    const ssize_t n = ::read(fd, out->data() + old_size, window);
    if (n < 0) {
      const int err = errno;
      out->resize(old_size);
      if (err == EINTR) continue;
      return ErrnoStatus(err, "cannot read");
    }
    out->resize(old_size + static_cast<size_t>(n));
    if (n == 0) return absl::OkStatus();
    if (out->size() > max_bytes) {
      return OverSizeLimit(absl::StrCat(std::string(noun), " is over the limit of ", max_bytes, " bytes"));
    }
  }
}

template <typename Buffer>
absl::Status ReadFile(const std::string& path, size_t max_bytes, Buffer* out) {
  out->clear();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It is refused below as not a
  // regular file; for a regular file the flag changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, "cannot open");
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat");
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError("not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return OverSizeLimit(absl::StrCat("file is ", size, " bytes, over the limit of ", max_bytes));
  }
  const size_t expected = static_cast<size_t>(size) + 1;  // the whole file, and room to see its end in place
  out->reserve(expected);
  return ReadToEnd(fd, max_bytes, expected, "file", out);
}

}  // namespace

absl::Status ErrnoStatus(int err, std::string_view what) {
  const std::string message(what);
  if (err == 0) return absl::UnknownError(absl::StrCat(message, ": failed without an errno"));
  absl::Status status = absl::ErrnoToStatus(err, message);
  if (err == ENOTDIR) return absl::NotFoundError(status.message());
  return status;
}

absl::Status ReadAllBounded(int fd, size_t max_bytes, std::string* out) {
  out->clear();
  return ReadToEnd(fd, max_bytes, 0, "input", out);
}

absl::Status ReadAllBounded(int fd, size_t max_bytes, std::vector<uint8_t>* out) {
  out->clear();
  return ReadToEnd(fd, max_bytes, 0, "input", out);
}

absl::Status ReadFileBounded(const std::string& path, size_t max_bytes, std::string* out) {
  return ReadFile(path, max_bytes, out);
}

absl::Status ReadFileBounded(const std::string& path, size_t max_bytes, std::vector<uint8_t>* out) {
  return ReadFile(path, max_bytes, out);
}

absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  std::string out;
  if (absl::Status s = ReadFile(path, max_bytes, &out); !s.ok()) return s;
  return out;
}

bool IsOverSizeLimit(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && status.GetPayload(kOverSizeLimitPayload).has_value();
}

}  // namespace hashbank
