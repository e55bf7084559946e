// `hashbank hash` run as a real process: byte-for-byte output compatibility with the reference tool,
// JSON lines, stdin, directories, and bad files that are reported while the rest are still hashed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"
#include "tests/support/image_encode.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
using testing::DataPath;
using testing::ReadFileText;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `hashbank ARGS` in `dir` through the shell; stderr goes to a temp file.
RunResult RunHashbank(const std::string& dir, const std::string& args, const std::string& stdin_file = "") {
  const fs::path err_file = fs::temp_directory_path() / ("hashbank-cli-err-" + std::to_string(::getpid()));
  std::string cmd = "cd '" + dir + "' && '" HASHBANK_BINARY "' " + args + " 2>'" + err_file.string() + "'";
  if (!stdin_file.empty()) cmd += " <'" + stdin_file + "'";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFileText(err_file.string());
  fs::remove(err_file);
  return r;
}

// The file names in the order the reference tool printed them (the last field of each line).
std::string FileArgs(const std::string& tool_output) {
  std::istringstream in(tool_output);
  std::string line, args;
  while (std::getline(in, line)) args += " '" + line.substr(line.rfind(',') + 1) + "'";
  return args;
}

TEST(HashCommandTest, PlainOutputIsByteForByteTheReferenceTools) {
  const std::string want = ReadFileText(DataPath("pdq-reference/tool-output/plain.txt"));
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash" + FileArgs(want));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(r.err, "");
}

TEST(HashCommandTest, DihedralOutputIsByteForByteTheReferenceToolsAcrossFormat) {
  const std::string want = ReadFileText(DataPath("pdq-reference/tool-output/pdqdih-across.txt"));
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash --dihedral" + FileArgs(want));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
}

TEST(HashCommandTest, JsonLinesCarryEveryHash) {
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash --json --dihedral images/misc-images/wee.jpg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const boost::json::object o = boost::json::parse(r.out).as_object();
  EXPECT_EQ(o.at("path").as_string(), "images/misc-images/wee.jpg");
  EXPECT_EQ(o.at("pdq").as_string(), "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d");
  EXPECT_EQ(o.at("quality").as_int64(), 100);
  EXPECT_EQ(o.at("width").as_int64(), 34);
  EXPECT_EQ(o.at("height").as_int64(), 42);
  EXPECT_EQ(o.at("md5").as_string().size(), 32u);
  EXPECT_EQ(o.at("sha256").as_string().size(), 64u);
  EXPECT_EQ(o.at("dihedral").as_object().size(), 8u);
  EXPECT_EQ(o.at("dihedral").at("orig").as_string(), o.at("pdq").as_string());
}

TEST(HashCommandTest, ExactHashesMatchCoreutils) {
  const std::string file = DataPath("pdq-reference/images/misc-images/wee.jpg");
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash --json '" + file + "'");
  ASSERT_EQ(r.exit_code, 0);
  const boost::json::object o = boost::json::parse(r.out).as_object();
  FILE* p = ::popen(("sha256sum '" + file + "' && md5sum '" + file + "'").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char sha[65] = {}, md5[33] = {};
  ASSERT_EQ(std::fscanf(p, "%64s %*s %32s", sha, md5), 2);
  ::pclose(p);
  EXPECT_EQ(o.at("sha256").as_string(), sha);
  EXPECT_EQ(o.at("md5").as_string(), md5);
}

TEST(HashCommandTest, StdinIsHashedAsDash) {
  const RunResult r =
      RunHashbank(DataPath("pdq-reference"), "hash -", DataPath("pdq-reference/images/misc-images/wee.jpg"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d,100,-\n");
}

TEST(HashCommandTest, DirectoriesAreRecursedInSortedOrder) {
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash images/reg-test-input/dih");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> paths;
  std::string line;
  while (std::getline(in, line)) paths.push_back(line.substr(line.rfind(',') + 1));
  ASSERT_EQ(paths.size(), 8u);
  EXPECT_EQ(paths.front(), "images/reg-test-input/dih/bridge-1-original.jpg");
  EXPECT_EQ(paths.back(), "images/reg-test-input/dih/bridge-8-flip-minus-1.jpg");
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
}

TEST(HashCommandTest, BadFilesAreReportedAndTheRestStillHashed) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-cli-bad-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "empty.jpg").close();
  std::ofstream(dir / "text.jpg") << "hello";
  const std::string bytes = ReadFileText(DataPath("pdq-reference/images/misc-images/wee.jpg"));
  std::ofstream(dir / "truncated.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  fs::copy_file(DataPath("pdq-reference/images/misc-images/wee.jpg"), dir / "wee.jpg");
  const RunResult r = RunHashbank(dir.string(), "hash empty.jpg missing.jpg text.jpg truncated.jpg wee.jpg");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d,100,wee.jpg\n");
  EXPECT_NE(r.err.find("empty.jpg: empty file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.jpg: cannot open"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("text.jpg: not a recognised image format"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated.jpg: truncated JPEG"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(HashCommandTest, ADirectorysNonImageFilesAreSkippedWithASummaryButItsBrokenImagesAreStillErrors) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-cli-mixed-" + std::to_string(::getpid()));
  fs::create_directories(dir / "photos" / "sub");
  std::ofstream(dir / "photos" / "notes.txt") << "not an image";
  std::ofstream(dir / "photos" / ".DS_Store") << std::string("\0\0\0\1Bud1", 8);
  std::ofstream(dir / "photos" / "sub" / "anim.gif") << "GIF89a....";
  std::ofstream(dir / "photos" / "empty").close();
  fs::copy_file(DataPath("pdq-reference/images/misc-images/wee.jpg"), dir / "photos" / "sub" / "wee.jpg");
  // Only clean files besides the image: exit 0, the image hashed, one summary line naming the count.
  RunResult r = RunHashbank(dir.string(), "hash photos");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d,100,photos/sub/wee.jpg\n");
  EXPECT_NE(r.err.find("skipped 4 files that are not a JPEG, PNG or video"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // A truncated JPEG in the directory is an image that fails: still reported, still exit 1.
  const std::string bytes = ReadFileText(DataPath("pdq-reference/images/misc-images/wee.jpg"));
  std::ofstream(dir / "photos" / "cut.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  r = RunHashbank(dir.string(), "hash photos");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("photos/cut.jpg: truncated JPEG"), std::string::npos) << r.err;
  // A non-image named on the command line is an error, as before.
  r = RunHashbank(dir.string(), "hash photos/notes.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a recognised image format"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(HashCommandTest, APathWithACommaOrQuoteIsAQuotedCsvField) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-cli-csv-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(DataPath("pdq-reference/images/misc-images/wee.jpg"), dir / "a,b \"c\".jpg");
  const RunResult r = RunHashbank(dir.string(), "hash .");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // RFC 4180: the field in quotes, each quote doubled.
  EXPECT_EQ(r.out, "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d,100,\"./a,b \"\"c\"\".jpg\"\n");
  fs::remove_all(dir);
}

TEST(HashCommandTest, UsageErrorsExitNonZero) {
  EXPECT_NE(RunHashbank(DataPath("pdq-reference"), "hash").exit_code, 0);
  EXPECT_NE(RunHashbank(DataPath("pdq-reference"), "frobnicate").exit_code, 0);
}


TEST(HashCommandTest, JsonCarriesTheRobustFingerprintOfATexturedImage) {
  const std::string path = "images/reg-test-input/pen-and-coaster.png";  // 924 x 735
  const RunResult r = RunHashbank(DataPath("pdq-reference"), "hash --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const boost::json::object o = boost::json::parse(r.out).as_object();
  ASSERT_TRUE(o.contains("robust")) << r.out;
  const std::string b64(o.at("robust").as_string());
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(b64, &bytes)) << b64;
  EXPECT_EQ(absl::Base64Escape(bytes), b64) << "padded base64, as POST /v1/signals takes it";
  const absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(bytes);
  ASSERT_TRUE(fp.ok()) << fp.status();
  EXPECT_EQ(fp->features.size(), static_cast<size_t>(kRobustBankFeatures));
  EXPECT_EQ(fp->aspect, 203);  // round(255 x 735 / 924)
  EXPECT_FALSE(fp->portrait);
  // Exactly the fingerprint the library makes of the file (the node's /v1/hash and /v1/signals/image use it).
  ImageHasher hasher;
  const absl::StatusOr<ImageHashes> h =
      hasher.HashFile(DataPath("pdq-reference/" + path), HashOptions{.local_features = kRobustBankFeatures});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(bytes, *EncodeRobust(h->features, h->width, h->height));
}

TEST(HashCommandTest, JsonHasNoRobustFingerprintForFlatOrTinyImages) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-cli-flat-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<uint8_t> png = testing::EncodePng(std::vector<uint8_t>(300 * 200, 90), 300, 200, 0 /* grey */, 8);
  std::ofstream(dir / "flat.png", std::ios::binary).write(reinterpret_cast<const char*>(png.data()),
                                                          static_cast<std::streamsize>(png.size()));
  fs::copy_file(DataPath("pdq-reference/images/misc-images/wee.jpg"), dir / "wee.jpg");  // 34 x 42: too small
  const RunResult r = RunHashbank(dir.string(), "hash --json flat.png wee.jpg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const boost::json::object o = boost::json::parse(line).as_object();
    EXPECT_FALSE(o.contains("robust")) << line;
    EXPECT_TRUE(o.contains("pdq")) << line;
    ++count;
  }
  EXPECT_EQ(count, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hashbank
