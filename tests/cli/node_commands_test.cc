// Commands that work on an existing node — `token create`, `backup`, `verify DATA_DIR`, `keys show` — pointed
// at a directory that is not a node's data directory fail with a clear error and create nothing there (no
// salt, CA, key, database or token). The real binary, as an operator runs it.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/node_process.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string output;
};

Outcome RunHashbank(const std::string& args, const fs::path& out) {
  const std::string cmd = std::string("'") + HASHBANK_BINARY + "' " + args + " > '" + out.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  return Outcome{testing::ExitCode(status), testing::ReadFileText(out.string())};
}

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

class NodeCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("hashbank-node-commands-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "empty");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(NodeCommandsTest, CommandsRefuseADirectoryThatIsNotANodeAndCreateNothing) {
  const fs::path empty = root_ / "empty";
  const fs::path missing = root_ / "missing";
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"token create", "token create --role admin --name ops --data-dir "},
      {"backup", "backup " + (root_ / "snapshot").string() + " --data-dir "},
      {"keys show", "keys show --data-dir "},
      {"verify", "verify "},
  };
  for (const auto& [name, args] : commands) {
    for (const fs::path& dir : {empty, missing}) {
      SCOPED_TRACE(name + " on " + dir.string());
      const Outcome r = RunHashbank(args + "'" + dir.string() + "'", root_ / "out.txt");
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find("is not a hashbank node's data directory"), std::string::npos) << r.output;
      EXPECT_TRUE(Entries(empty).empty()) << "created in " << empty << ": " << Entries(empty).front();
      EXPECT_FALSE(fs::exists(missing));
      EXPECT_FALSE(fs::exists(root_ / "snapshot"));
    }
  }
}

TEST_F(NodeCommandsTest, CommandsWorkOnAStoppedNode) {
  const fs::path data = root_ / "data";
  const std::string log = (root_ / "serve.log").string();
  auto node = testing::NodeProcess::Start({"serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
  ASSERT_EQ(testing::ExitCode((*node)->Signal(SIGTERM)), 0) << testing::ReadFileText(log);
  const Outcome token = RunHashbank("token create --role query --name platform-a --data-dir '" + data.string() + "'",
                                    root_ / "out.txt");
  EXPECT_EQ(token.exit_code, 0) << token.output;
  EXPECT_NE(token.output.find("hbt_"), std::string::npos) << token.output;
  const Outcome keys = RunHashbank("keys show --data-dir '" + data.string() + "'", root_ / "out.txt");
  EXPECT_EQ(keys.exit_code, 0) << keys.output;
  EXPECT_NE(keys.output.find("ed25519_public_key"), std::string::npos) << keys.output;
  const Outcome verify = RunHashbank("verify '" + data.string() + "'", root_ / "out.txt");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

}  // namespace
}  // namespace hashbank

namespace hashbank {
namespace {

// `hashbank --version` names the project version CMake was configured with (project(hashbank VERSION ...)).
TEST(VersionTest, VersionFlagPrintsTheProjectVersion) {
  const fs::path out = fs::temp_directory_path() / ("hashbank-version-" + std::to_string(::getpid()));
  const Outcome r = RunHashbank("--version", out);
  fs::remove(out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, std::string("hashbank ") + HASHBANK_TEST_PROJECT_VERSION + "\n");
}

}  // namespace
}  // namespace hashbank
