// TempDir: a fresh, empty directory for one test, removed with everything in it when the TempDir goes.
//
// What: the constructor makes "<prefix>-XXXXXX" under std::filesystem::temp_directory_path() ($TMPDIR, else
// /tmp) with mkdtemp, so it is new, unique and mode 0700; the prefix names the tests that made it
// ("hashbank-pem", "hashbank-node", ...). File() and Write() are shorthands for paths inside it.
//
// Ownership: the TempDir owns the directory and everything in it; it is neither copyable nor movable, so
// exactly one object removes it. The destructor first gives the owner back full access to the directory
// itself (a test may have made it read-only), then removes it recursively — best effort: errors are
// ignored, and a leftover temp dir fails nothing.
//
// Errors: if the directory cannot be made, the constructor throws std::system_error (GoogleTest reports it
// as a failure of the test that was constructing it, which then stops: nothing runs against a directory
// that does not exist). Write() throws std::system_error if the file cannot be written in full.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace hashbank::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory (absolute).
  const std::filesystem::path& path() const { return path_; }

  // path() / name as a string; nothing is created. File("") is the directory with a trailing separator.
  std::string File(std::string_view name) const;

  // Writes `content` to path() / name (created or truncated, binary) and returns that path as a string.
  std::string Write(std::string_view name, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

}  // namespace hashbank::testing
