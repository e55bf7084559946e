// `hashbank backup DIR` against a RUNNING node (the real binary): the CLI finds the node through its data
// directory (api.address, admin.token, tls/ca.pem) and the node writes a consistent checkpoint that opens
// as a database holding what was acknowledged.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "storage/signal_store.h"
#include "tests/support/node_process.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

TEST(BackupCommandTest, RunningNodeWritesAConsistentCheckpointOnRequest) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-backup-cli-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string serve_log = (dir / "serve.log").string();
  auto node = testing::NodeProcess::Start(
      {"serve", "--data-dir", (dir / "data").string(), "--listen", "127.0.0.1:0"}, serve_log);
  ASSERT_TRUE(node.ok()) << node.status();
  // Serving, its address recorded (api.address is written before the "serving" line).
  const absl::StatusOr<uint16_t> port = (*node)->ServingPort(std::chrono::seconds(30));
  ASSERT_TRUE(port.ok()) << port.status() << "\n" << testing::ReadFileText(serve_log);
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
  // The backups left the node serving: it still shuts down cleanly.
  const int status = (*node)->Signal(SIGTERM);
  EXPECT_EQ(testing::ExitCode(status), 0) << "wait status " << status << "\n" << testing::ReadFileText(serve_log);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hashbank
