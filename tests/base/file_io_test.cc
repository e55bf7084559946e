// base/file_io.h: errno statuses, and bounded reads of files and descriptors with their exact errors.
#include "base/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

using ::hashbank::testing::TempDir;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// --- ErrnoStatus -----------------------------------------------------------------------------------------

TEST(ErrnoStatusTest, MessageIsWhatThenStrerror) {
  const absl::Status status = ErrnoStatus(ENOENT, "/x: cannot open");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(status), std::string("/x: cannot open: ") + std::strerror(ENOENT));
}

TEST(ErrnoStatusTest, CodesFollowAbslExceptThatENotDirIsNotFound) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(ENOTDIR, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EPERM, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EMFILE, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EEXIST, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(EISDIR, "x").code(), absl::StatusCode::kFailedPrecondition);
  for (int err : {ENOENT, EACCES, EIO, EINVAL, EAGAIN, ENOSPC, ENAMETOOLONG, ELOOP}) {
    EXPECT_EQ(ErrnoStatus(err, "x").code(), absl::ErrnoToStatusCode(err)) << err;
  }
}

TEST(ErrnoStatusTest, IsNeverOk) {
  const absl::Status status = ErrnoStatus(0, "cannot open");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(Message(status).rfind("cannot open: ", 0), 0u) << status;
}

// --- ReadFileBounded -------------------------------------------------------------------------------------

TEST(ReadFileBoundedTest, ReadsTheWholeFileUpToAndIncludingTheLimit) {
  TempDir dir{"hashbank-base"};
  const std::string content = std::string(100000, 'x') + std::string("\0\xff", 2);  // several chunks, any bytes
  const std::string path = dir.Write("f", content);
  absl::StatusOr<std::string> text = ReadFileBounded(path, content.size());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, content);

  std::vector<uint8_t> bytes = {1, 2, 3};  // replaced, not appended to
  ASSERT_TRUE(ReadFileBounded(path, content.size(), &bytes).ok());
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), content);

  std::string reused = "old";
  ASSERT_TRUE(ReadFileBounded(dir.Write("g", "new"), 3, &reused).ok());
  EXPECT_EQ(reused, "new");
}

TEST(ReadFileBoundedTest, ReusedBufferHoldsExactlyTheLatestFile) {
  TempDir dir{"hashbank-base"};
  std::vector<uint8_t> buffer;
  ASSERT_TRUE(ReadFileBounded(dir.Write("big", std::string(300000, 'b')), 300000, &buffer).ok());
  EXPECT_EQ(buffer.size(), 300000u);
  ASSERT_TRUE(ReadFileBounded(dir.Write("small", "tiny"), 300000, &buffer).ok());
  EXPECT_EQ(std::string(buffer.begin(), buffer.end()), "tiny");
  ASSERT_TRUE(ReadFileBounded(dir.Write("empty", ""), 300000, &buffer).ok());
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(ReadFileBounded(dir.File("missing"), 300000, &buffer).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(buffer.empty());  // an error leaves what was read so far: nothing of an earlier file
}

TEST(ReadFileBoundedTest, ReadsAnEmptyFile) {
  TempDir dir{"hashbank-base"};
  absl::StatusOr<std::string> text = ReadFileBounded(dir.Write("empty", ""), 0);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(text->empty());
}

TEST(ReadFileBoundedTest, FileOverTheLimitIsRefusedFromItsSize) {
  TempDir dir{"hashbank-base"};
  const std::string path = dir.Write("big", std::string(101, 'x'));
  const absl::Status status = ReadFileBounded(path, 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(status), "file is 101 bytes, over the limit of 100");
  EXPECT_TRUE(IsOverSizeLimit(status));
}

TEST(ReadFileBoundedTest, MissingFileIsNotFoundAndTheMessageHasNoPath) {
  TempDir dir{"hashbank-base"};
  const absl::Status status = ReadFileBounded(dir.File("missing"), 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(status), std::string("cannot open: ") + std::strerror(ENOENT));
  EXPECT_FALSE(IsOverSizeLimit(status));
}

TEST(ReadFileBoundedTest, PathThroughARegularFileIsNotFound) {
  TempDir dir{"hashbank-base"};
  const std::string file = dir.Write("file", "x");
  const absl::Status status = ReadFileBounded(file + "/inside", 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_EQ(Message(status), std::string("cannot open: ") + std::strerror(ENOTDIR));
}

TEST(ReadFileBoundedTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir{"hashbank-base"};
  const std::string path = dir.Write("secret", "x");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_EQ(ReadFileBounded(path, 100).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ReadFileBoundedTest, DirectoryAndFifoAreNotRegularFilesAndTheFifoDoesNotBlock) {
  TempDir dir{"hashbank-base"};
  absl::Status status = ReadFileBounded(dir.File(""), 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(Message(status), "not a regular file");
  // No writer ever opens the FIFO: a blocking open would hang the test here.
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  status = ReadFileBounded(fifo, 100).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(ReadFileBounded("/dev/null", 100).status().code(), absl::StatusCode::kFailedPrecondition);
}

// --- ReadAllBounded --------------------------------------------------------------------------------------

// A pipe holding `content`, its write end closed: the read end reaches end of input after it.
int PipeWith(const std::string& content) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const ssize_t n = ::write(fds[1], content.data(), content.size());  // under the pipe's capacity
  ::close(fds[1]);
  if (n != static_cast<ssize_t>(content.size())) {
    ::close(fds[0]);
    return -1;
  }
  return fds[0];
}

TEST(ReadAllBoundedTest, ReadsToEndOfInputUpToAndIncludingTheLimit) {
  const int fd = PipeWith("hello");
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> out = {9};
  ASSERT_TRUE(ReadAllBounded(fd, 5, &out).ok());
  ::close(fd);
  EXPECT_EQ(std::string(out.begin(), out.end()), "hello");
}

TEST(ReadAllBoundedTest, ReadsInputOfManyChunksFromTheCurrentOffset) {
  TempDir dir{"hashbank-base"};
  std::string content(300001, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i % 251);
  const std::string path = dir.Write("f", content);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::lseek(fd, 1, SEEK_SET), 1);
  std::string out = "stale";
  const absl::Status status = ReadAllBounded(fd, content.size() - 1, &out);
  ::close(fd);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(out == content.substr(1));
}

TEST(ReadAllBoundedTest, InputOverTheLimitIsResourceExhausted) {
  const int fd = PipeWith("hello!");
  ASSERT_GE(fd, 0);
  std::string out;
  const absl::Status status = ReadAllBounded(fd, 5, &out);
  ::close(fd);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(status), "input is over the limit of 5 bytes");
  EXPECT_TRUE(IsOverSizeLimit(status));
}

TEST(ReadAllBoundedTest, ReadErrorIsAnErrnoStatus) {
  std::string out;
  const absl::Status status = ReadAllBounded(-1, 5, &out);
  EXPECT_EQ(status.code(), absl::ErrnoToStatusCode(EBADF));
  EXPECT_EQ(Message(status), std::string("cannot read: ") + std::strerror(EBADF));
}

TEST(IsOverSizeLimitTest, OnlyTheSizeRefusalCounts) {
  EXPECT_FALSE(IsOverSizeLimit(absl::OkStatus()));
  EXPECT_FALSE(IsOverSizeLimit(absl::ResourceExhaustedError("file is 101 bytes, over the limit of 100")));
  EXPECT_FALSE(IsOverSizeLimit(ErrnoStatus(EMFILE, "cannot open")));
}

}  // namespace
}  // namespace hashbank
