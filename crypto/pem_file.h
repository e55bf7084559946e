// Files for keys and certificates: an atomic, durable write with an exact mode, and a bounded read.
//
// WritePemFile writes a temporary file beside `path` (created 0600, then set to `mode`, so a key is never
// readable by others even for a moment, whatever the umask), fsyncs it, renames (or, with
// IfFileExists::kFail, hard-links) it into place and fsyncs the directory: after a crash `path` holds the old
// content or the new, never a torn file. Missing parent directories are created with mode 0700; existing
// ones are left as they are.
//
// Errors start with the path ("<path>: cannot open: No such file or directory"): errno-derived codes
// (base/file_io.h ErrnoStatus: NotFound, PermissionDenied, ResourceExhausted for a full disk, …),
// AlreadyExists for kFail, InvalidArgument for a bad argument, FailedPrecondition for a path that is not a
// regular file (read) or a parent that is not a directory (write), ResourceExhausted for a file over
// `max_bytes`. Thread-safe; concurrent writers of one path leave one complete file.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

enum class IfFileExists { kReplace, kFail };

// `mode` is the permission bits of the new file, 0600 for keys and 0644 for certificates (nothing above 0777).
absl::Status WritePemFile(const std::string& path, const std::string& pem, unsigned mode,
                          IfFileExists if_exists = IfFileExists::kReplace);

// The whole of a regular file of at most `max_bytes` bytes: base/file_io.h ReadFileBounded, its messages
// prefixed with "<path>: ".
absl::StatusOr<std::string> ReadTextFile(const std::string& path, size_t max_bytes = size_t{1} << 20);

}  // namespace hashbank
