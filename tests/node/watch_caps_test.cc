// The watch list's caps on a real Bank (RocksDB in a temp dir): one member cannot hold more than its share
// (webhooks.max_watch_entries_per_member) while others still can register, the whole list has its own cap,
// a reload's new caps apply to the next registration, and entries that expire give their room back; a
// reload's video rule applies to the watch list too.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "node/bank.h"
#include "node/notifications.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;

std::vector<WatchInput> Uploads(std::mt19937_64& rng, size_t n) {
  std::vector<WatchInput> out;
  for (size_t i = 0; i < n; ++i) {
    WatchInput w;
    w.content_ref = "upload-" + std::to_string(rng());
    Md5Digest md5{};
    for (auto& b : md5) b = static_cast<uint8_t>(rng());
    w.md5 = md5;
    out.push_back(std::move(w));
  }
  return out;
}

TEST(WatchCapsTest, OneMemberCannotFillTheWatchListForTheOthers) {
  BankHarness h;
  std::mt19937_64 rng(11);
  NotificationOptions caps;
  caps.max_watch_entries = 12;
  caps.max_watch_entries_per_member = 5;
  h.bank->notifications()->SetReloadable(caps);
  const Actor a{"platform-a", Role::kQuery}, b{"platform-b", Role::kQuery}, c{"platform-c", Role::kQuery};
  ASSERT_TRUE(h.bank->AddWatch(Uploads(rng, 4), a).ok());
  auto over = h.bank->AddWatch(Uploads(rng, 2), a);  // 6 > 5: the whole request is refused
  ASSERT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  EXPECT_NE(over.status().message().find("at most 5 entries of one member"), std::string::npos) << over.status();
  ASSERT_TRUE(h.bank->AddWatch(Uploads(rng, 1), a).ok());  // exactly 5
  ASSERT_TRUE(h.bank->AddWatch(Uploads(rng, 5), b).ok());  // another member is not held back by a's entries
  EXPECT_EQ(h.bank->notifications()->watch_size(), 10u);
  auto full = h.bank->AddWatch(Uploads(rng, 3), c);  // 13 > 12: the node's cap
  ASSERT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_NE(full.status().message().find("at most 12 entries"), std::string::npos) << full.status();

  // A reload raises a's share; the counts survive a restart (they are rebuilt from the stored entries).
  caps.max_watch_entries_per_member = 7;
  h.bank->notifications()->SetReloadable(caps);
  ASSERT_TRUE(h.bank->AddWatch(Uploads(rng, 2), a).ok());
  h.Reopen();
  caps.max_watch_entries = 100;  // only the member's share can refuse now
  h.bank->notifications()->SetReloadable(caps);
  EXPECT_EQ(h.bank->notifications()->watch_size(), 12u);
  const auto again = h.bank->AddWatch(Uploads(rng, 1), a);
  ASSERT_TRUE(absl::IsResourceExhausted(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("at most 7 entries of one member"), std::string::npos) << again.status();
  EXPECT_TRUE(h.bank->AddWatch(Uploads(rng, 2), b).ok());  // b held 5 of 7
}

// The retroactive vPDQ rule follows a reload (SIGHUP: NotificationOptionsFromConfig, then SetReloadable), but
// not in its quality floor: the watch list's video index left lower frames out when it was built.
TEST(WatchCapsTest, AReloadsVideoRuleAppliesButNotItsQualityFloor) {
  BankHarness h;
  const VideoMatchRule before = h.bank->notifications()->video_rule();
  NotificationOptions reload;
  reload.video_rule.query_match_percent = 60;
  reload.video_rule.target_match_percent = 70;
  reload.video_rule.min_matched_seconds = 2;
  reload.video_rule.max_distance = 20;
  reload.video_rule.min_quality = before.min_quality + 20;
  h.bank->notifications()->SetReloadable(reload);
  const VideoMatchRule after = h.bank->notifications()->video_rule();
  EXPECT_EQ(after.query_match_percent, 60);
  EXPECT_EQ(after.target_match_percent, 70);
  EXPECT_EQ(after.min_matched_seconds, 2);
  EXPECT_EQ(after.max_distance, 20);
  EXPECT_EQ(after.min_quality, before.min_quality);
}

}  // namespace
}  // namespace hashbank
