// `hashbank import` and `hashbank export` as an operator runs them (the real binary on a real data
// directory): an import killed with SIGKILL part-way resumes where it stopped — every hash banked exactly
// once, as the export shows; a second run of the same file banks nothing new; StopNCII withdrawals withdraw;
// rejects are listed with their line numbers; an import into a running node goes through its API and resumes
// after a kill.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "crypto/pem_file.h"
#include "tests/support/https_client.h"
#include "tests/support/node_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace hashbank {
namespace {

using ::hashbank::testing::NodeProcess;
using namespace std::chrono_literals;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.File("data");
    // A node's data directory, made by a first start.
    auto node = NodeProcess::Start({"serve", "--data-dir", data_, "--listen", "127.0.0.1:0"}, dir_.File("serve.log"));
    ASSERT_TRUE(node.ok());
    ASSERT_TRUE((*node)->ServingPort(60s).ok()) << testing::ReadFileText(dir_.File("serve.log"));
    (*node)->Signal(SIGTERM);
  }

  // Runs `hashbank args...` to completion; its stdout (stderr goes to the log).
  std::string Run(std::vector<std::string> args, int* exit_code = nullptr) {
    auto p = NodeProcess::Start(std::move(args), dir_.File("cli.log"));
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return "";
    // Read stdout until the child closes it (an export is larger than a pipe's buffer), then reap it.
    (void)(*p)->NumberAfter("\x01", 300s);
    const int status = (*p)->Wait();
    if (exit_code != nullptr) *exit_code = testing::ExitCode(status);
    return (*p)->out();
  }

  std::set<std::string> Exported(const std::string& bank) {
    const std::string csv = Run({"export", "--bank", bank, "--data-dir", data_});
    std::set<std::string> out;
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "signal_type,signal_str,collab,category,tags");
    while (std::getline(in, line)) {
      EXPECT_TRUE(line.starts_with("pdq,")) << line;
      EXPECT_TRUE(out.insert(line.substr(4, 64)).second) << "exported twice: " << line;
    }
    return out;
  }

  testing::TempDir dir_{"hashbank-import-cli"};
  std::string data_;
};

TEST_F(ImportTest, AnImportKilledPartWayResumesAndBanksEveryHashExactlyOnce) {
  std::mt19937_64 rng(11);
  std::set<std::string> hashes;
  std::ofstream list(dir_.File("list.txt"));
  for (int i = 0; i < 150000; ++i) {
    std::string h;
    for (int k = 0; k < 4; ++k) h += absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
    hashes.insert(h);
    list << h << '\n';
  }
  list.close();
  auto p = NodeProcess::Start({"import", dir_.File("list.txt"), "--bank", "BULK", "--create-bank", "--data-dir", data_},
                              dir_.File("cli.log"));
  ASSERT_TRUE(p.ok());
  std::this_thread::sleep_for(1500ms);
  const int status = (*p)->Signal(SIGKILL);  // part-way (or, on a fast machine, done: resuming then banks nothing)
  ASSERT_NE(status, -1);
  const std::string second = Run({"import", dir_.File("list.txt"), "--bank", "BULK", "--data-dir", data_});
  EXPECT_NE(second.find("0 duplicates"), std::string::npos) << second;  // nothing was redone
  EXPECT_EQ(Exported("BULK"), hashes);
  // The same file again: already done.
  const std::string third = Run({"import", dir_.File("list.txt"), "--bank", "BULK", "--data-dir", data_});
  EXPECT_NE(third.find("0 imported"), std::string::npos) << third;
  // --restart reads it all again: every hash is a duplicate now.
  const std::string fourth = Run({"import", dir_.File("list.txt"), "--bank", "BULK", "--restart", "--data-dir", data_});
  EXPECT_NE(fourth.find("0 imported, 150000 duplicates"), std::string::npos) << fourth;
}

TEST_F(ImportTest, StopNciiWithdrawalsWithdrawAndRejectsAreListedWithTheirLines) {
  const std::string a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
  const std::string b = "62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c";
  std::ofstream(dir_.File("page1.json")) << R"({"count": 2, "hasMoreRecords": false, "nextSetTimestamp": 1, "hashRecords": [)"
                                         << R"({"hashValue": ")" << a << R"(", "hashStatus": "Active", "caseNumbers": {}, "signalType": "ImagePDQ", "lastModtimestamp": 1},)"
                                         << R"({"hashValue": ")" << b << R"(", "hashStatus": "Active", "caseNumbers": {}, "signalType": "ImagePDQ", "lastModtimestamp": 1}]})";
  std::string out = Run({"import", dir_.File("page1.json"), "--bank", "STOPNCII", "--create-bank", "--data-dir", data_});
  EXPECT_NE(out.find("2 imported"), std::string::npos) << out;
  std::ofstream(dir_.File("page2.json")) << R"({"count": 1, "hasMoreRecords": false, "nextSetTimestamp": 2, "hashRecords": [)"
                                         << R"({"hashValue": ")" << a << R"(", "hashStatus": "Withdrawn", "caseNumbers": {}, "signalType": "ImagePDQ", "lastModtimestamp": 2}]})";
  out = Run({"import", dir_.File("page2.json"), "--bank", "STOPNCII", "--data-dir", data_});
  EXPECT_NE(out.find("1 withdrawn"), std::string::npos) << out;
  EXPECT_EQ(Exported("STOPNCII"), std::set<std::string>{b});

  std::ofstream(dir_.File("mixed.txt")) << a << "\nnot-a-hash\n" << b << "\n";
  out = Run({"import", dir_.File("mixed.txt"), "--bank", "STOPNCII", "--data-dir", data_});
  EXPECT_NE(out.find("1 imported, 1 duplicates, 0 withdrawn, 1 rejected"), std::string::npos) << out;
  EXPECT_NE(out.find("line 2: not a PDQ hash"), std::string::npos) << out;
  int code = 0;
  Run({"import", dir_.File("mixed.txt"), "--bank", "NO_SUCH_BANK", "--data-dir", data_}, &code);
  EXPECT_EQ(code, 1);
}

// A ThreatExchange CSV whose note is not UTF-8 (Latin-1): that record is rejected by name, the others are
// banked, and the node still starts (a stored entry with such a note could not be read back).
TEST_F(ImportTest, ANoteThatIsNotUtf8IsRejectedAndTheNodeStillStarts) {
  std::ofstream(dir_.File("te.csv")) << "signal_type,signal_str,note\n"
                                     << "pdq,f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,caf\xe9\n"
                                     << "pdq,62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c,caf\xc3\xa9\n";
  const std::string out = Run({"import", dir_.File("te.csv"), "--bank", "TE", "--create-bank", "--data-dir", data_});
  EXPECT_NE(out.find("1 imported, 0 duplicates, 0 withdrawn, 1 rejected"), std::string::npos) << out;
  EXPECT_NE(out.find("line 2: note: not UTF-8 text"), std::string::npos) << out;
  auto node = NodeProcess::Start({"serve", "--data-dir", data_, "--listen", "127.0.0.1:0"}, dir_.File("serve3.log"));
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE((*node)->ServingPort(60s).ok()) << testing::ReadFileText(dir_.File("serve3.log"));
}

// Into a running node: the import sends its batches to the node's API (POST /v1/import, as the admin), each
// batch and the progress one durable write there. Killed part-way, the same command resumes where it stopped;
// the progress is the node's, so a later run on the stopped node has nothing left to do; every hash is banked
// exactly once (the export). A bank that does not exist is named; a malformed batch is a 400.
TEST_F(ImportTest, AnImportIntoARunningNodeGoesThroughItsApiAndResumesAfterAKill) {
  std::mt19937_64 rng(12);
  std::set<std::string> hashes;
  std::ofstream list(dir_.File("list.txt"));
  for (int i = 0; i < 150000; ++i) {
    std::string h;
    for (int k = 0; k < 4; ++k) h += absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
    hashes.insert(h);
    list << h << '\n';
  }
  list.close();
  auto node = NodeProcess::Start({"serve", "--data-dir", data_, "--listen", "127.0.0.1:0"}, dir_.File("serve2.log"));
  ASSERT_TRUE(node.ok());
  auto port = (*node)->ServingPort(60s);
  ASSERT_TRUE(port.ok()) << testing::ReadFileText(dir_.File("serve2.log"));

  int code = 0;
  Run({"import", dir_.File("list.txt"), "--bank", "NO_SUCH_BANK", "--data-dir", data_}, &code);
  EXPECT_EQ(code, 1);
  const std::string log = testing::ReadFileText(dir_.File("cli.log"));
  EXPECT_NE(log.find("no bank NO_SUCH_BANK on this node"), std::string::npos) << log;

  auto p = NodeProcess::Start({"import", dir_.File("list.txt"), "--bank", "LIVE", "--create-bank", "--data-dir", data_},
                              dir_.File("cli.log"));
  ASSERT_TRUE(p.ok());
  std::this_thread::sleep_for(1500ms);
  ASSERT_NE((*p)->Signal(SIGKILL), -1);  // part-way (or, on a fast machine, done: resuming then banks nothing)
  const std::string second = Run({"import", dir_.File("list.txt"), "--bank", "LIVE", "--data-dir", data_}, &code);
  EXPECT_EQ(code, 0) << testing::ReadFileText(dir_.File("cli.log"));
  EXPECT_NE(second.find("importing through its API"), std::string::npos) << second;
  EXPECT_NE(second.find("0 duplicates"), std::string::npos) << "nothing was redone: " << second;

  // A malformed batch: refused by name, nothing changes.
  auto token = ReadTextFile(data_ + "/admin.token");
  ASSERT_TRUE(token.ok());
  testing::HttpsClient client("127.0.0.1", *port, data_ + "/tls/ca.pem");
  const std::string auth = "Bearer " + std::string(absl::StripAsciiWhitespace(*token));
  auto bad = client.Request("POST", "/v1/import", R"({"key": "nothex", "bank": "LIVE", "consumed": 1, "records": []})",
                            {{"Authorization", auth}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("key: 32 lower-case hex digits"), std::string::npos) << bad->body;
  const std::string pdq = *hashes.begin();
  bad = client.Request("POST", "/v1/import",
                       R"({"key": "00000000000000000000000000000000", "bank": "LIVE", "from": 0, "consumed": 1, "records": [{"number": 1, "signal": {"pdq": ")" +
                           pdq + R"(", "robust": "AAAA"}}]})",
                       {{"Authorization", auth}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("an import carries pdq, md5 and sha256 only"), std::string::npos) << bad->body;
  // A batch that does not continue from the recorded progress (a second run of one import, or a batch sent
  // twice) is refused whole.
  auto stale = client.Request("POST", "/v1/import",
                              R"({"key": "00000000000000000000000000000000", "bank": "LIVE", "from": 5, "consumed": 6, "records": [{"number": 6, "signal": {"pdq": ")" +
                                  pdq + R"("}}]})",
                              {{"Authorization", auth}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->status, 409) << stale->body;
  auto progress = client.Request("GET", "/v1/import/00000000000000000000000000000000", "", {{"Authorization", auth}});
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(progress->status, 200) << progress->body;
  EXPECT_NE(progress->body.find("\"consumed\":0"), std::string::npos) << "nothing was written: " << progress->body;
  // Matching disabled on the bank (HMA's switch): its hashes are still this node's, so --restart finds every
  // one a duplicate.
  auto disabled = client.Request("PUT", "/c/bank/LIVE", R"({"enabled": false})",
                                 {{"Authorization", auth}, {"Content-Type", "application/json"}});
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  ASSERT_EQ(disabled->status, 200) << disabled->body;
  const std::string again = Run({"import", dir_.File("list.txt"), "--bank", "LIVE", "--restart", "--data-dir", data_});
  EXPECT_NE(again.find("0 imported, 150000 duplicates"), std::string::npos) << again;

  (*node)->Signal(SIGTERM);
  (*node)->Wait();
  // The progress lives in the node: the stopped node's own import finds the file done.
  const std::string third = Run({"import", dir_.File("list.txt"), "--bank", "LIVE", "--data-dir", data_});
  EXPECT_NE(third.find("0 imported, 0 duplicates"), std::string::npos) << third;
  EXPECT_EQ(Exported("LIVE"), hashes);
}

}  // namespace
}  // namespace hashbank
