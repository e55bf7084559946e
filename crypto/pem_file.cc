#include "crypto/pem_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/file_io.h"

namespace hashbank {
namespace {

// "<path>: <what>: <strerror>", the code from errno (base/file_io.h).
absl::Status PathErrnoStatus(int err, const std::string& path, std::string_view what) {
  return ErrnoStatus(err, absl::StrCat(path, ": ", std::string(what)));
}

// Closes the descriptor on every path out of a function; Release() hands over a descriptor closed explicitly.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;

  int get() const { return fd_; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Unlinks the temporary file unless it was moved into place.
class TempFileRemover {
 public:
  explicit TempFileRemover(std::string path) : path_(std::move(path)) {}
  ~TempFileRemover() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFileRemover(const TempFileRemover&) = delete;
  TempFileRemover& operator=(const TempFileRemover&) = delete;

  void Disarm() { path_.clear(); }

 private:
  std::string path_;
};

// mkdir -p with mode 0700 for what it creates.
absl::Status CreateDirectories(const std::filesystem::path& dir) {
  std::filesystem::path prefix;
  for (const std::filesystem::path& part : dir) {
    prefix /= part;
    const std::string p = prefix.string();
    if (p.empty() || p == "/") continue;
    if (::mkdir(p.c_str(), 0700) == 0) continue;
    const int err = errno;
    if (err != EEXIST) return PathErrnoStatus(err, p, "cannot create directory");
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return PathErrnoStatus(errno, p, "cannot stat");
    if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(p, " is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PathErrnoStatus(errno, path, "cannot write");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PathErrnoStatus(errno, dir, "cannot open directory");
  ScopedFd closer(fd);
  if (::fsync(fd) != 0) return PathErrnoStatus(errno, dir, "cannot fsync directory");
  return absl::OkStatus();
}

}  // namespace

absl::Status WritePemFile(const std::string& path, const std::string& pem, unsigned mode, IfFileExists if_exists) {
  if (path.empty()) return absl::InvalidArgumentError("file path is empty");
  if ((mode & ~0777u) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("file mode 0", absl::Hex(mode), " has bits above 0777"));
  }
  const std::filesystem::path target(path);
  if (!target.has_filename()) return absl::InvalidArgumentError(absl::StrCat(path, " names a directory"));
  const std::filesystem::path parent = target.parent_path();
  if (!parent.empty()) {
    if (absl::Status s = CreateDirectories(parent); !s.ok()) return s;
  }

  std::string temp = absl::StrCat(path, ".tmp.XXXXXX");
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);  // mode 0600, O_EXCL
  if (fd < 0) return PathErrnoStatus(errno, path, "cannot create a temporary file beside it");
  ScopedFd file(fd);
  TempFileRemover remover(temp);
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return PathErrnoStatus(errno, temp, "cannot chmod");
  if (absl::Status s = WriteAll(fd, pem, temp); !s.ok()) return s;
  if (::fsync(fd) != 0) return PathErrnoStatus(errno, temp, "cannot fsync");
  if (::close(file.Release()) != 0) return PathErrnoStatus(errno, temp, "cannot close");

  if (if_exists == IfFileExists::kReplace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return PathErrnoStatus(errno, path, "cannot rename a temporary file into place");
    }
    remover.Disarm();
  } else {
    // link(2) fails with EEXIST instead of replacing; the temporary name is then removed by `remover`.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
      return PathErrnoStatus(err, path, "cannot link a temporary file into place");
    }
  }
  return SyncDirectory(parent.empty() ? std::string(".") : parent.string());
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, max_bytes);
  if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat(path, ": ", text.status().message()));
  return text;
}

}  // namespace hashbank
