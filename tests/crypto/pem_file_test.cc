#include "crypto/pem_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
using ::hashbank::testing::TempDir;

constexpr char kPem[] = "-----BEGIN PRIVATE KEY-----\nTUlHSEFOQQ==\n-----END PRIVATE KEY-----\n";

unsigned ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<unsigned>(st.st_mode) & 07777u;
}

std::vector<std::string> Listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

TEST(WritePemFileTest, CreatesTheFileWithItsModeAndParentDirectories) {
  TempDir dir{"hashbank-pem"};
  const fs::path key = dir.path() / "data" / "tls" / "ca.key";
  ASSERT_TRUE(WritePemFile(key.string(), kPem, 0600).ok());
  EXPECT_EQ(ModeOf(key), 0600u);
  EXPECT_EQ(ModeOf(dir.path() / "data"), 0700u);
  EXPECT_EQ(ModeOf(dir.path() / "data" / "tls"), 0700u);
  const absl::StatusOr<std::string> read = ReadTextFile(key.string());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, kPem);

  const fs::path cert = dir.path() / "data" / "tls" / "ca.pem";
  ASSERT_TRUE(WritePemFile(cert.string(), "cert", 0644).ok());
  EXPECT_EQ(ModeOf(cert), 0644u);
  EXPECT_EQ(Listing(dir.path() / "data" / "tls").size(), 2u);  // no temporary files left
}

TEST(WritePemFileTest, ModeIsExactWhateverTheUmask) {
  TempDir dir{"hashbank-pem"};
  const mode_t old_umask = ::umask(0077);
  const absl::Status status = WritePemFile((dir.path() / "cert.pem").string(), "cert", 0644);
  ::umask(0);
  const absl::Status loose = WritePemFile((dir.path() / "key.pem").string(), kPem, 0600);
  ::umask(old_umask);
  ASSERT_TRUE(status.ok() && loose.ok()) << status << loose;
  EXPECT_EQ(ModeOf(dir.path() / "cert.pem"), 0644u);
  EXPECT_EQ(ModeOf(dir.path() / "key.pem"), 0600u);
}

TEST(WritePemFileTest, LeavesExistingParentDirectoriesAsTheyAre) {
  TempDir dir{"hashbank-pem"};
  fs::create_directory(dir.path() / "shared");
  fs::permissions(dir.path() / "shared", fs::perms(0755));
  ASSERT_TRUE(WritePemFile((dir.path() / "shared" / "a.pem").string(), "a", 0644).ok());
  EXPECT_EQ(ModeOf(dir.path() / "shared"), 0755u);
}

TEST(WritePemFileTest, ReplacesExistingContentAndMode) {
  TempDir dir{"hashbank-pem"};
  const std::string path = (dir.path() / "server.pem").string();
  ASSERT_TRUE(WritePemFile(path, "old and longer content", 0644).ok());
  ASSERT_TRUE(WritePemFile(path, "new", 0600).ok());
  EXPECT_EQ(*ReadTextFile(path), "new");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(Listing(dir.path()), std::vector<std::string>{"server.pem"});
}

TEST(WritePemFileTest, FailModeRefusesToReplaceAndKeepsTheOldFile) {
  TempDir dir{"hashbank-pem"};
  const std::string path = (dir.path() / "ca.key").string();
  ASSERT_TRUE(WritePemFile(path, "first", 0600, IfFileExists::kFail).ok());
  const absl::Status status = WritePemFile(path, "second", 0600, IfFileExists::kFail);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_NE(std::string(status.message()).find(path), std::string::npos) << status;
  EXPECT_EQ(*ReadTextFile(path), "first");
  EXPECT_EQ(Listing(dir.path()), std::vector<std::string>{"ca.key"});
}

TEST(WritePemFileTest, RejectsBadArguments) {
  TempDir dir{"hashbank-pem"};
  EXPECT_EQ(WritePemFile((dir.path() / "a").string(), "x", 01600).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WritePemFile("", "x", 0600).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WritePemFile(dir.path().string() + "/", "x", 0600).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WritePemFileTest, ParentThatIsAFileIsFailedPrecondition) {
  TempDir dir{"hashbank-pem"};
  ASSERT_TRUE(WritePemFile((dir.path() / "file").string(), "x", 0644).ok());
  const absl::Status status = WritePemFile((dir.path() / "file" / "key.pem").string(), "x", 0600);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

TEST(WritePemFileTest, UnwritableDirectoryIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir{"hashbank-pem"};
  fs::create_directory(dir.path() / "ro");
  fs::permissions(dir.path() / "ro", fs::perms(0500));
  const absl::Status status = WritePemFile((dir.path() / "ro" / "key.pem").string(), kPem, 0600);
  fs::permissions(dir.path() / "ro", fs::perms(0700));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
}

TEST(ReadTextFileTest, ReportsMissingFileDirectoryAndOversizedFile) {
  TempDir dir{"hashbank-pem"};
  absl::StatusOr<std::string> read = ReadTextFile((dir.path() / "missing.pem").string());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound) << read.status();
  EXPECT_NE(std::string(read.status().message()).find("missing.pem"), std::string::npos) << read.status();

  read = ReadTextFile(dir.path().string());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << read.status();

  const std::string path = (dir.path() / "big.pem").string();
  ASSERT_TRUE(WritePemFile(path, std::string(101, 'x'), 0644).ok());
  EXPECT_EQ(ReadTextFile(path, 101).value(), std::string(101, 'x'));
  read = ReadTextFile(path, 100);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kResourceExhausted) << read.status();
}

TEST(ReadTextFileTest, ReadsAnEmptyFile) {
  TempDir dir{"hashbank-pem"};
  const std::string path = (dir.path() / "empty").string();
  ASSERT_TRUE(WritePemFile(path, "", 0644).ok());
  const absl::StatusOr<std::string> read = ReadTextFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

}  // namespace
}  // namespace hashbank
