// A victim's withdrawal is obeyed on disk too: the withdrawn signal's bytes (its entry with the case_ref,
// its index rows) leave every file of the database shortly after the withdrawal — the write-ahead log
// included, which before held them until the next restart.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using namespace node_test;  // NOLINT: the shared helpers of tests/node

std::vector<std::string> FilesHolding(const std::filesystem::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (buffer.str().find(needle) != std::string::npos) out.push_back(e.path().filename().string());
  }
  return out;
}

TEST(PurgeTest, WithdrawnBytesLeaveEveryFileWithinTheBoundWithoutARestart) {
  BankHarness h;  // the default purge delay (2 s)
  std::mt19937_64 rng(11);
  const std::string canary = "purge-canary-" + std::to_string(rng());
  SignalInput in = RandomSignal(rng).Input();
  in.case_ref = canary;
  auto ref = h.bank->Submit(in, kMember);
  ASSERT_TRUE(ref.ok()) << ref.status();
  // Positive control: the acknowledged write put the case_ref in a file (the write-ahead log).
  const std::filesystem::path db = h.dir.path() / "db";
  ASSERT_FALSE(FilesHolding(db, canary).empty());
  // A second, live signal with its own marker must stay.
  const std::string keeper = "keeper-" + std::to_string(rng());
  SignalInput kept = RandomSignal(rng).Input();
  kept.case_ref = keeper;
  ASSERT_TRUE(h.bank->Submit(kept, kMember).ok());

  ASSERT_TRUE(h.bank->Withdraw(*ref, kMember, "consent_withdrawn").ok());
  // Bounded wait (not a timing assertion): the purge is due 2 s after the withdrawal; 30 s is the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<std::string> holding = FilesHolding(db, canary);
  while (!holding.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    holding = FilesHolding(db, canary);
  }
  EXPECT_TRUE(holding.empty()) << "still in " << holding.front();
  EXPECT_FALSE(FilesHolding(db, keeper).empty());  // the live signal's bytes are still on disk
  // And the node still answers as before: the tombstone and the live signal survive a reopen.
  h.Reopen();
  auto info = h.bank->Get(*ref);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->withdrawn);
  EXPECT_EQ(h.bank->Stats().signals, 1u);
}

}  // namespace
}  // namespace hashbank
