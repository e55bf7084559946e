// The watch list's scanner on a real store (RocksDB in a temp dir), without a Bank around it so the test can
// hold a scan pass in the middle of its entries: a registration and a webhook deletion made then do not wait
// for the pass, the rest of the pass matches the entry registered meanwhile, and no delivery is kept for the
// webhook deleted meanwhile (in memory or in the stored outbox).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "node/notifications.h"
#include "protocol/entries.pb.h"
#include "storage/signal_store.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

constexpr int64_t kNow = 1'800'000'000'000;
constexpr uint64_t kEntries = 6;
constexpr uint64_t kHeldAt = 3;  // the pass is held while it looks at this entry

SaltedExactDigest Digest(std::mt19937_64& rng) {
  SaltedExactDigest d{};
  for (auto& b : d) b = static_cast<uint8_t>(rng());
  return d;
}

// The content_refs of the match.retroactive deliveries queued for `webhook`.
std::multiset<std::string> Told(const Notifications& n, const std::string& webhook) {
  std::multiset<std::string> out;
  for (const Delivery& d : n.Due(kNow + 1, 1000)) {
    if (d.webhook_id != webhook) continue;
    const boost::json::object event = boost::json::parse(d.body).as_object();
    EXPECT_EQ(event.at("type").as_string(), "match.retroactive");
    out.insert(std::string(event.at("data").as_object().at("content_ref").as_string()));
  }
  return out;
}

TEST(WatchScanTest, ARegistrationDuringAScanPassNeitherWaitsForItNorIsMissedByItsRest) {
  testing::TempDir dir("watch-scan");
  auto store = SignalStore::Open(dir.File("db"));
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<uint64_t> log_size{0};
  absl::Notification held, release;
  std::atomic<bool> timed_out{false};
  auto make = [&]() {
    return std::make_unique<Notifications>(
        store->get(), "node-a", [] { return kNow; }, NotificationOptions{},
        [&]() -> absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> {
          return std::vector<std::pair<std::string, uint64_t>>{{"origin-b", log_size.load()}};
        },
        [&](const SignalRef& ref, std::string_view) {
          if (ref.sequence == kHeldAt && !release.HasBeenNotified()) {
            held.Notify();
            // Bounded, so a scanner that keeps its lock fails the test instead of hanging it.
            if (!release.WaitForNotificationWithTimeout(absl::Seconds(30))) timed_out = true;
          }
          return true;
        },
        [](const std::string&) { return false; });
  };
  auto n = make();
  ASSERT_TRUE(n->Load().ok());  // the cursor starts at the empty log

  const std::string member = "platform-c";
  auto keep = n->CreateWebhook("http://127.0.0.1:9/keep", {"match.retroactive"}, member, "admin");
  auto drop = n->CreateWebhook("http://127.0.0.1:9/drop", {"match.retroactive"}, member, "admin");
  ASSERT_TRUE(keep.ok() && drop.ok());

  // Six signals of another origin, each with its own (salted) MD5.
  std::mt19937_64 rng(7);
  std::vector<SaltedExactDigest> md5(kEntries + 1);
  StoreBatch batch;
  for (uint64_t seq = 1; seq <= kEntries; ++seq) {
    md5[seq] = Digest(rng);
    pb::Entry e;
    e.mutable_signal()->set_md5(std::string(md5[seq].begin(), md5[seq].end()));
    batch.PutEntry(SignalRef{"origin-b", seq}, e.SerializeAsString());
  }
  ASSERT_TRUE((*store)->Commit(std::move(batch), kNow).ok());

  // Watched before the pass: the upload that is signal 1.
  WatchItem first;
  first.content_ref = "before-the-pass";
  first.md5 = md5[1];
  ASSERT_TRUE(n->AddWatch(member, {first}).ok());
  log_size = kEntries;

  std::future<absl::StatusOr<size_t>> pass = std::async(std::launch::async, [&] { return n->Scan(); });
  ASSERT_TRUE(held.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The pass is now inside its entries (signal 1 matched, queued to both webhooks, not yet committed).
  WatchItem during;
  during.content_ref = "during-the-pass";
  during.md5 = md5[5];  // a signal the pass has not reached
  std::future<bool> registered = std::async(std::launch::async, [&] {
    return n->AddWatch(member, {during}).ok() && n->DeleteWebhook(drop->id, "admin").ok();
  });
  const bool done = registered.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.Notify();
  EXPECT_TRUE(done) << "a registration waited for the scan pass";
  EXPECT_TRUE(registered.get());
  const absl::StatusOr<size_t> scanned = pass.get();
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  EXPECT_EQ(*scanned, kEntries);
  EXPECT_FALSE(timed_out.load());

  // The rest of the pass saw the entry registered during it (signal 5); signal 1 was told once.
  EXPECT_EQ(Told(*n, keep->id), (std::multiset<std::string>{"before-the-pass", "during-the-pass"}));
  // Nothing for the webhook deleted during the pass, though signal 1's event was queued to it before.
  EXPECT_TRUE(Told(*n, drop->id).empty());
  EXPECT_EQ(n->queued(), 2u);
  EXPECT_EQ(n->Status(keep->id).queued, 2u);

  // The same from the stored outbox: the deleted webhook's delivery row went too.
  n.reset();
  n = make();
  ASSERT_TRUE(n->Load().ok());
  EXPECT_EQ(Told(*n, keep->id), (std::multiset<std::string>{"before-the-pass", "during-the-pass"}));
  EXPECT_TRUE(Told(*n, drop->id).empty());
  EXPECT_EQ(n->queued(), 2u);
}

}  // namespace
}  // namespace hashbank
