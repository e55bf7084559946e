// Commands that work on an existing node — `token create`, `backup`, `verify DATA_DIR`, `keys show` — pointed
// at a directory that is not a node's data directory fail with a clear error and create nothing there (no
// salt, CA, key, database or token). The real binary, as an operator runs it.
#include <gtest/gtest.h>

#include <cctype>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  const int status = (*node)->Signal(SIGTERM);
  ASSERT_EQ(testing::ExitCode(status), 0) << "wait status " << status << " signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
                                          << "\n" << testing::ReadFileText(log) << "\nstdout:\n" << (*node)->out();
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


// `verify DATA_DIR` reads every table file: one flipped byte in a RocksDB table (here in a data block, a
// third of the way into the file) fails it, naming the checksum check, where it passed before.
TEST_F(NodeCommandsTest, VerifyReportsAFlippedByteInATableFile) {
  const fs::path data = root_ / "data";
  const std::string log = (root_ / "serve.log").string();
  auto node = testing::NodeProcess::Start({"serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE((*node)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
  ASSERT_EQ(testing::ExitCode((*node)->Signal(SIGTERM)), 0);
  // 3 000 signals, then a backup, which flushes them from the write-ahead log into table files.
  {
    std::ofstream list(root_ / "list.txt");
    for (int i = 0; i < 3000; ++i) list << std::string(56, 'a') << std::hex << (0x10000000 + i * 7919) << '\n';
  }
  const Outcome import = RunHashbank("import '" + (root_ / "list.txt").string() + "' --bank BULK --create-bank --data-dir '" +
                                         data.string() + "'",
                                     root_ / "out.txt");
  ASSERT_EQ(import.exit_code, 0) << import.output;
  const Outcome backup = RunHashbank("backup '" + (root_ / "bk").string() + "' --data-dir '" + data.string() + "'", root_ / "out.txt");
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  const Outcome before = RunHashbank("verify '" + data.string() + "'", root_ / "out.txt");
  ASSERT_EQ(before.exit_code, 0) << before.output;
  EXPECT_NE(before.output.find("ok   block checksums of every table file"), std::string::npos) << before.output;
  EXPECT_NE(before.output.find("ok   label and listing rows"), std::string::npos) << before.output;
  // The largest table file, one byte flipped.
  fs::path table;
  for (const fs::directory_entry& e : fs::directory_iterator(data / "db")) {
    if (e.path().extension() == ".sst" && (table.empty() || e.file_size() > fs::file_size(table))) table = e.path();
  }
  ASSERT_FALSE(table.empty()) << "no table file in " << data / "db";
  {
    std::fstream f(table, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = static_cast<std::streamoff>(fs::file_size(table) / 3);
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x20));
  }
  const Outcome after = RunHashbank("verify '" + data.string() + "'", root_ / "out.txt");
  EXPECT_NE(after.exit_code, 0) << after.output;
  EXPECT_NE(after.output.find("FAIL block checksums of every table file"), std::string::npos) << after.output;
  EXPECT_NE(after.output.find("Corruption"), std::string::npos) << after.output;
}

// The one-time admin token is shown by the first start that really serves: a start that fails (its port is
// taken) shows nothing, and the next successful one still shows it — once.
TEST_F(NodeCommandsTest, FailedStartDoesNotUseUpTheAdminTokenShownOnce) {
  const fs::path data = root_ / "data";
  const std::string log = (root_ / "serve.log").string();
  // A port in use: another node's.
  const fs::path other = root_ / "other";
  auto blocker = testing::NodeProcess::Start({"serve", "--data-dir", other.string(), "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(blocker.ok()) << blocker.status();
  auto taken = (*blocker)->ServingPort(std::chrono::seconds(30));
  ASSERT_TRUE(taken.ok()) << testing::ReadFileText(log);
  const Outcome failed = RunHashbank("serve --data-dir '" + data.string() + "' --listen 127.0.0.1:" + std::to_string(*taken),
                                     root_ / "failed.txt");
  EXPECT_NE(failed.exit_code, 0) << failed.output;
  EXPECT_EQ(failed.output.find("admin token"), std::string::npos) << failed.output;
  ASSERT_TRUE(fs::exists(data / "admin.token"));  // made and stored, not shown

  auto first = testing::NodeProcess::Start({"serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
  std::string token = testing::ReadFileText((data / "admin.token").string());
  while (!token.empty() && token.back() == '\n') token.pop_back();
  EXPECT_NE((*first)->out().find("admin token"), std::string::npos) << (*first)->out();
  EXPECT_NE((*first)->out().find(token), std::string::npos) << (*first)->out();
  ASSERT_EQ(testing::ExitCode((*first)->Signal(SIGTERM)), 0);

  auto second = testing::NodeProcess::Start({"serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0"}, log);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
  EXPECT_EQ((*second)->out().find("admin token"), std::string::npos) << (*second)->out();
  ASSERT_EQ(testing::ExitCode((*second)->Signal(SIGTERM)), 0);
  ASSERT_EQ(testing::ExitCode((*blocker)->Signal(SIGTERM)), 0);
}

// `salt rotate` and `salt apply` as an operator runs them (docs/operators.md): the next salt follows the
// federation's; applied to a stopped node it is installed and the node starts on it; applying it again
// changes nothing; a salt that does not follow the node's is refused with the node's salt kept.
TEST_F(NodeCommandsTest, SaltRotateThenApplyOnAStoppedNodeAndTheNodeStartsOnTheNextSalt) {
  const fs::path data = root_ / "data";
  const std::string log = (root_ / "serve.log").string();
  auto start = [&] {
    return testing::NodeProcess::Start({"serve", "--data-dir", data.string(), "--listen", "127.0.0.1:0"}, log);
  };
  {
    auto node = start();
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE((*node)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
    ASSERT_EQ(testing::ExitCode((*node)->Signal(SIGTERM)), 0);
  }
  const std::string before = testing::ReadFileText((data / "salt.json").string());
  const fs::path next = root_ / "next-salt.json";
  Outcome r = RunHashbank("salt rotate --salt '" + (data / "salt.json").string() + "' --out '" + next.string() + "'",
                          root_ / "out.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(fs::status(next).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_NE(testing::ReadFileText(next.string()).find("\"exact_chain\":[\""), std::string::npos);
  r = RunHashbank("salt rotate --salt '" + (data / "salt.json").string() + "' --out '" + next.string() + "'",
                  root_ / "out.txt");
  EXPECT_NE(r.exit_code, 0) << "never over an existing file: " << r.output;

  // A salt from another lineage (a second ca init) does not follow: refused, nothing changes.
  ASSERT_EQ(RunHashbank("ca init --dir '" + (root_ / "other-ca").string() + "'", root_ / "ca.txt").exit_code, 0);
  r = RunHashbank("salt apply '" + (root_ / "other-ca" / "salt.json").string() + "' --data-dir '" + data.string() + "'",
                  root_ / "out.txt");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not follow this node's salt"), std::string::npos) << r.output;
  EXPECT_EQ(testing::ReadFileText((data / "salt.json").string()), before);

  r = RunHashbank("salt apply '" + next.string() + "' --data-dir '" + data.string() + "'", root_ / "out.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("installed"), std::string::npos) << r.output;
  EXPECT_EQ(testing::ReadFileText((data / "salt.json").string()), testing::ReadFileText(next.string()));
  r = RunHashbank("salt apply '" + next.string() + "' --data-dir '" + data.string() + "'", root_ / "out.txt");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already"), std::string::npos) << r.output;
  {
    auto node = start();
    ASSERT_TRUE(node.ok()) << node.status();
    ASSERT_TRUE((*node)->ServingPort(std::chrono::seconds(30)).ok()) << testing::ReadFileText(log);
    ASSERT_EQ(testing::ExitCode((*node)->Signal(SIGTERM)), 0);
  }
  // The old salt no longer opens the database.
  {
    std::ofstream f(data / "salt.json", std::ios::trunc);
    f << before;
  }
  auto node = start();
  ASSERT_TRUE(node.ok());
  EXPECT_NE(testing::ExitCode((*node)->Wait()), 0) << "started on the old salt";
}

// `node init --host 127.0.0.1`: an address given as a host name becomes an IP SAN instead of an error.
TEST_F(NodeCommandsTest, NodeInitAcceptsAnAddressAsHost) {
  const Outcome ca = RunHashbank("ca init --dir '" + (root_ / "ca").string() + "'", root_ / "ca.txt");
  ASSERT_EQ(ca.exit_code, 0) << ca.output;
  const Outcome init = RunHashbank("node init --ca '" + (root_ / "ca").string() + "' --id node-a --host 127.0.0.1 --host ::1 "
                                   "--host localhost --out '" + (root_ / "node-a").string() + "'",
                                   root_ / "init.txt");
  EXPECT_EQ(init.exit_code, 0) << init.output;
  EXPECT_TRUE(fs::exists(root_ / "node-a" / "tls" / "server.pem"));
  // The certificate's SANs, read by openssl: the addresses as IP Address, the name as DNS.
  const std::string cmd = "openssl x509 -noout -ext subjectAltName -in '" + (root_ / "node-a" / "tls" / "server.pem").string() +
                          "' > '" + (root_ / "san.txt").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFileText((root_ / "san.txt").string());
  const std::string san = testing::ReadFileText((root_ / "san.txt").string());
  EXPECT_NE(san.find("IP Address:127.0.0.1"), std::string::npos) << san;
  EXPECT_NE(san.find("DNS:localhost"), std::string::npos) << san;
  EXPECT_EQ(san.find("DNS:127.0.0.1"), std::string::npos) << san;
  // The card names the certificate by the digest openssl computes of it (what members pin).
  const std::string fp_cmd = "openssl x509 -noout -fingerprint -sha256 -in '" +
                             (root_ / "node-a" / "tls" / "server.pem").string() + "' > '" + (root_ / "fp.txt").string() + "' 2>&1";
  ASSERT_EQ(std::system(fp_cmd.c_str()), 0);
  std::string fp = testing::ReadFileText((root_ / "fp.txt").string());
  fp = fp.substr(fp.find('=') + 1);
  std::string want;
  for (char c : fp) {
    if (std::isxdigit(static_cast<unsigned char>(c))) want += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  ASSERT_EQ(want.size(), 64u) << fp;
  const std::string card = testing::ReadFileText((root_ / "node-a" / "card.json").string());
  EXPECT_NE(card.find("\"certificate_sha256\":\"" + want + "\""), std::string::npos) << card;
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
