// Files and errno, the one way: a Status for a failed system call, and bounded reads of a whole file or of a
// descriptor to its end.
//
// Messages never contain the path. Each caller puts its own label in front ("<path>: cannot open: No such
// file or directory", "photo.jpg: file is 30000000 bytes, over the limit of 26214400"), so a message names
// the file exactly once, in the caller's style.
//
// Every function is thread-safe (none keeps state); concurrent calls must not share an output buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hashbank {

// The Status for a system call that failed with `err` (an errno value): message "<what>: <strerror(err)>",
// code from absl::ErrnoToStatusCode (ENOENT NotFound, EACCES and EPERM PermissionDenied, ENOSPC and EMFILE
// ResourceExhausted, EEXIST AlreadyExists, EAGAIN Unavailable, ...) except ENOTDIR, which is NotFound: a
// path through a regular file names no file. Never OK: err == 0 gives Unknown.
absl::Status ErrnoStatus(int err, std::string_view what);

// Reads `fd` from its current offset to end of input into `*out`, replacing what it held; EINTR is retried.
//   ResourceExhausted "input is over the limit of <max_bytes> bytes" once more than max_bytes have arrived
//                     (at most one chunk past the limit is read; IsOverSizeLimit is true)
//   ErrnoStatus "cannot read" for a read error
// On error `*out` holds what was read so far.
absl::Status ReadAllBounded(int fd, size_t max_bytes, std::string* out);
absl::Status ReadAllBounded(int fd, size_t max_bytes, std::vector<uint8_t>* out);

// Reads the whole of the regular file at `path`, of at most `max_bytes` bytes, into `*out` (replacing what it
// held; a buffer reused across calls keeps its capacity).
//   ErrnoStatus "cannot open" / "cannot stat" / "cannot read"   NotFound, PermissionDenied, ...
//   FailedPrecondition "not a regular file"   a directory, device, socket or FIFO (refused without blocking:
//                                             the file is opened O_NONBLOCK, which a regular file ignores)
//   ResourceExhausted "file is <n> bytes, over the limit of <max_bytes>"   from its size, before reading
//   ResourceExhausted "file is over the limit of <max_bytes> bytes"        it grew while being read
// The two ResourceExhausted errors satisfy IsOverSizeLimit. The file is read to its end, not to the size
// fstat reported, so a file being appended to is read whole or refused, never silently cut. Unless it grows
// while being read, it is read into one allocation of its size (or a reused buffer's), never copied: no stray
// copy of a secret file's bytes is left in freed memory (the caller wipes `*out` when done).
absl::Status ReadFileBounded(const std::string& path, size_t max_bytes, std::string* out);
absl::Status ReadFileBounded(const std::string& path, size_t max_bytes, std::vector<uint8_t>* out);
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);

// True for the error of ReadAllBounded or ReadFileBounded refusing input over its limit, and for no other
// status: it tells "too large" apart from an errno ResourceExhausted (EMFILE, ENOMEM) by a payload, not by
// the message.
bool IsOverSizeLimit(const absl::Status& status);

}  // namespace hashbank
