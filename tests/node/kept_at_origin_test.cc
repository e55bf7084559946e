// Fingerprints kept at the origin (node/kept_at_origin.h) where the origin's log is rebuilt or damaged: a
// node restored from an older backup that recovers a withdrawal from its peers drops the withdrawn signal's
// kept row and its kept index entries with it; a kept row that does not parse never blocks a withdrawal or
// a start (the signal goes on with its shared types and `verify` names the row).
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hashing/robust_fingerprint.h"
#include "node/kept_at_origin.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kMember;

// A submission with a PDQ hash and a robust fingerprint of 40 random features.
SignalInput WithRobust(std::mt19937_64& rng) {
  SignalInput in;
  Hash256 pdq;
  for (auto& l : pdq.limbs) l = rng();
  in.pdq = pdq;
  in.quality = 90;
  std::vector<LocalFeature> features(40);
  for (LocalFeature& f : features) {
    for (auto& l : f.descriptor) l = rng();
    f.x = static_cast<uint16_t>(rng() % 4096);
    f.y = static_cast<uint16_t>(rng() % 4096);
  }
  in.robust = EncodeRobust(features, 1200, 900).value();
  return in;
}

// A watch entry holding only a robust fingerprint is told of this node's own signal whose robust fingerprint
// is kept here: the scanner reads the log entry (which lacks it) merged with the kept row.
TEST(KeptAtOriginTest, AWatchEntryMatchesTheOriginsKeptRobustFingerprintRetroactively) {
  BankHarness h;
  h.keep.robust = true;
  h.Reopen();
  std::mt19937_64 rng(33);
  Notifications* notes = h.bank->notifications();
  ASSERT_TRUE(notes->CreateWebhook("http://127.0.0.1:9/hook", {"match.retroactive"}, kMember.name, "admin").ok());
  const SignalInput in = WithRobust(rng);
  std::vector<WatchInput> watch(1);
  watch[0].content_ref = "post/7";
  watch[0].robust = in.robust;  // the same image's fingerprint: verified as a match (every feature an inlier)
  ASSERT_TRUE(h.bank->AddWatch(watch, kMember).ok());
  ASSERT_TRUE(notes->Scan().ok());
  EXPECT_EQ(notes->queued(), 0u);
  auto ref = h.bank->Submit(in, kMember);
  ASSERT_TRUE(ref.ok()) << ref.status();
  auto info = h.bank->Get(*ref);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kept_at_origin, std::vector<std::string>{"robust"});
  ASSERT_TRUE(notes->Scan().ok());
  const std::vector<Delivery> due = notes->Due(std::numeric_limits<int64_t>::max(), 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_NE(due[0].body.find("\"signal_type\":\"robust\""), std::string::npos) << due[0].body;
  EXPECT_NE(due[0].body.find("\"content_ref\":\"post/7\""), std::string::npos) << due[0].body;
  EXPECT_NE(due[0].body.find("\"inliers\":40"), std::string::npos) << due[0].body;
}

TEST(KeptAtOriginTest, AWithdrawalRecoveredFromAPeerPurgesTheKeptRowOfARestoredNode) {
  BankHarness h;
  h.keep.robust = true;
  h.Reopen();
  std::mt19937_64 rng(21);
  auto ref = h.bank->Submit(WithRobust(rng), kMember);  // own:1, its robust fingerprint kept
  ASSERT_TRUE(ref.ok()) << ref.status();
  testing::TempDir restored_dir("hashbank-restored");
  ASSERT_TRUE(h.bank->Backup(restored_dir.path().string() + "/db").ok());  // the backup: signal 1 only
  ASSERT_TRUE(h.bank->Withdraw(*ref, kMember, "consent_withdrawn").ok());  // own:2, after the backup
  // What a peer holds and serves back: the log past the backup's size.
  auto tail = h.bank->ExportSegment(h.id, 1, 100);
  ASSERT_TRUE(tail.ok()) << tail.status();

  BankHarness restored;
  restored.bank.reset();
  restored.keep.robust = true;
  std::error_code ec;
  std::filesystem::remove_all(restored.dir.path(), ec);
  std::filesystem::create_directories(restored.dir.path());
  std::filesystem::rename(restored_dir.path() / "db", restored.dir.path() / "db");
  restored.Open();
  ASSERT_NE(restored.bank, nullptr);
  EXPECT_EQ(restored.bank->Stats().robust, 1u) << "the backup's signal, kept part included";
  auto recovered = restored.bank->RecoverOwnTail(*tail);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->withdrawals, 1u);
  EXPECT_EQ(restored.bank->Stats().robust, 0u) << "the kept robust fingerprint leaves the index";
  auto row = restored.bank->GetStateRow(KeptRow(ref->sequence));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "and the disk";
  std::ostringstream report;
  EXPECT_TRUE(restored.bank->VerifyTables(report).ok()) << report.str();
}

TEST(KeptAtOriginTest, AKeptRowThatDoesNotParseNeverBlocksAWithdrawalOrAStart) {
  BankHarness h;
  h.keep.robust = true;
  h.Reopen();
  std::mt19937_64 rng(22);
  auto first = h.bank->Submit(WithRobust(rng), kMember);
  auto second = h.bank->Submit(WithRobust(rng), kMember);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(h.bank->PutStateRow(KeptRow(first->sequence), std::string("\xff\xff\xff not a signal", 17)).ok());
  ASSERT_TRUE(h.bank->PutStateRow(KeptRow(second->sequence), std::string("\xff\xff\xff not a signal", 17)).ok());
  std::ostringstream damaged;
  EXPECT_FALSE(h.bank->VerifyTables(damaged).ok());
  EXPECT_NE(damaged.str().find("does not parse"), std::string::npos) << damaged.str();
  h.Reopen();  // starts, indexing both with their shared types
  ASSERT_NE(h.bank, nullptr);
  EXPECT_EQ(h.bank->Stats().signals, 2u);
  EXPECT_EQ(h.bank->Stats().pdq, 2u);
  EXPECT_EQ(h.bank->Stats().robust, 0u);
  auto info = h.bank->Get(*first);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->kept_at_origin.empty());
  ASSERT_TRUE(h.bank->Withdraw(*first, kMember, "consent_withdrawn").ok());
  auto row = h.bank->GetStateRow(KeptRow(first->sequence));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "the damaged row goes with its signal";
  ASSERT_TRUE(h.bank->Withdraw(*second, kMember, "consent_withdrawn").ok());
  std::ostringstream clean;
  EXPECT_TRUE(h.bank->VerifyTables(clean).ok()) << clean.str();
}

}  // namespace
}  // namespace hashbank
