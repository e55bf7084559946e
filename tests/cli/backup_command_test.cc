// `hashbank backup DIR` against a RUNNING node (the real binary): the CLI finds the node through its data
// directory (api.address, admin.token, tls/ca.pem) and the node writes a consistent checkpoint that opens
// as a database holding what was acknowledged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "storage/signal_store.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

TEST(BackupCommandTest, RunningNodeWritesAConsistentCheckpointOnRequest) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-backup-cli-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string log = (dir / "serve.log").string();
    (void)std::freopen(log.c_str(), "w", stdout);
    (void)std::freopen(log.c_str(), "a", stderr);
    ::execl(HASHBANK_BINARY, HASHBANK_BINARY, "serve", "--data-dir", (dir / "data").c_str(), "--listen", "127.0.0.1:0",
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  } reap{child};
  // Wait for the node to record its address (written once it listens).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(dir / "data" / "api.address") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(dir / "data" / "api.address"));

  const std::string backup = (dir / "snapshot").string();
  const std::string cmd = std::string("'") + HASHBANK_BINARY + "' backup --data-dir '" + (dir / "data").string() +
                          "' '" + backup + "' > '" + (dir / "backup.out").string() + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFileText((dir / "backup.out").string());
  EXPECT_NE(testing::ReadFileText((dir / "backup.out").string()).find("running node wrote a checkpoint"), std::string::npos);
  // A second backup into the same directory is refused (a checkpoint never overwrites).
  EXPECT_NE(std::system(cmd.c_str()), 0);
  // The checkpoint opens as a database and holds the node's state (its admin token's audit record).
  auto store = SignalStore::Open(backup);
  ASSERT_TRUE(store.ok()) << store.status();
  auto audit = (*store)->ListAudit(0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->front().action, "token.create");
  EXPECT_TRUE((*store)->VerifyAuditChain().ok());
  store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hashbank
