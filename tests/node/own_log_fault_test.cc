// The own log when writes fail, and while appends are in flight, on real RocksDB in temp dirs.
//
// Failed writes (FaultInjectionFileSystem, storage/testing_fs.h): a failed WAL sync fails the Submit with
// Unavailable, and the log then refuses every append (Unavailable, also once the disk works again) until the
// node restarts; after power loss exactly the acknowledged signals are there, indexed, in a log that verifies
// and continues at the next sequence — with one writer and with many writers across the failure.
//
// In flight (a file system that runs a test hook inside the next WAL sync, i.e. while an append has been
// queued and not yet acknowledged, and the log's lock is free): an append's claims are held until it is
// durable, so a second withdrawal of the same signal and an opinion on it are refused while the withdrawal
// is in flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <rocksdb/file_system.h>

#include "absl/status/status.h"
#include "node/bank.h"
#include "node/commit_notifier.h"
#include "node/own_log.h"
#include "protocol/entries.pb.h"
#include "storage/signal_store.h"
#include "storage/testing_fs.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;
using node_test::BankHarness;
using node_test::ExpectMatchesExactly;
using node_test::ExpectVerifies;
using node_test::kMember;
using node_test::Md5Matches;
using node_test::OwnLogSize;
using node_test::PdqMatches;
using node_test::RandomSignal;
using node_test::RawSignal;
using node_test::Submitted;
using testing::FaultInjectionFileSystem;

void ExpectPresent(const Bank& bank, const Submitted& s) {
  ExpectMatchesExactly(bank, s);
  SCOPED_TRACE(FormatSignalId(s.ref));
  auto info = bank.Get(s.ref);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->withdrawn);
}

void ExpectAbsent(const Bank& bank, const RawSignal& raw) {
  EXPECT_TRUE(PdqMatches(bank, raw.pdq).empty());
  EXPECT_TRUE(Md5Matches(bank, raw.md5).empty());
}

bool MessageHas(const absl::Status& status, std::string_view needle) {
  return std::string(status.message()).find(needle) != std::string::npos;
}

// The power goes while the bank is open; the disk keeps what was synced; the node starts again.
void PowerLossAndReopen(BankHarness& h, FaultInjectionFileSystem& fsim) {
  fsim.Crash();
  h.bank.reset();
  const rocksdb::IOStatus dropped = fsim.DropUnsyncedData(FaultInjectionFileSystem::Unsynced::kDrop);
  ASSERT_TRUE(dropped.ok()) << dropped.ToString();
  ASSERT_NO_FATAL_FAILURE(h.Open());
}

TEST(OwnLogFaultTest, FailedCommitStopsTheLogAndNothingHalfWrittenSurvives) {
  auto fsim = std::make_shared<FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  BankHarness h(fsim);
  ASSERT_NE(h.bank, nullptr);
  std::mt19937_64 rng(606);

  constexpr uint64_t kAcked = 5;
  std::vector<Submitted> acked;
  for (uint64_t i = 0; i < kAcked; ++i) {
    Submitted s{RandomSignal(rng), {}};
    auto ref = h.bank->Submit(s.raw.Input(), kMember);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(ref->sequence, i + 1);
    s.ref = *ref;
    acked.push_back(s);
  }

  // The WAL sync of the next commit fails.
  fsim->FailSyncsAfter(0, ".log");
  const RawSignal failed = RandomSignal(rng);
  const absl::StatusOr<SignalRef> first = h.bank->Submit(failed.Input(), kMember);
  ASSERT_FALSE(first.ok()) << FormatSignalId(*first);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_TRUE(MessageHas(first.status(), "injected sync failure")) << first.status();
  EXPECT_EQ(fsim->injected_failures(), 1u);
  ExpectAbsent(*h.bank, failed);  // never indexed

  // The log refuses from now on, before anything reaches the disk...
  const RawSignal refused = RandomSignal(rng);
  const absl::StatusOr<SignalRef> second = h.bank->Submit(refused.Input(), kMember);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_TRUE(MessageHas(second.status(), "stopped after a failed write")) << second.status();
  EXPECT_EQ(fsim->injected_failures(), 1u);

  // ...also once the disk works again, for every kind of write, until the node restarts.
  fsim->ClearFaults();
  const RawSignal after_clear = RandomSignal(rng);
  const absl::StatusOr<SignalRef> third = h.bank->Submit(after_clear.Input(), kMember);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kUnavailable) << third.status();
  const std::vector<RawSignal> batch_raw = {RandomSignal(rng), RandomSignal(rng)};
  const std::vector<SignalInput> batch = {batch_raw[0].Input(), batch_raw[1].Input()};
  for (const auto& r : h.bank->SubmitBatch(batch, kMember)) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  }
  EXPECT_EQ(h.bank->Withdraw(acked[0].ref, kMember, "consent_withdrawn").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(h.bank->AddOpinion(acked[1].ref, true, kMember).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fsim->injected_failures(), 1u);
  // Reads go on: the acknowledged signals still match, nothing else does.
  for (const Submitted& s : acked) ExpectPresent(*h.bank, s);
  for (const RawSignal& r : {failed, refused, after_clear, batch_raw[0], batch_raw[1]}) ExpectAbsent(*h.bank, r);
  EXPECT_EQ(h.bank->Stats().signals, kAcked);

  // Power loss, the unsynced bytes (the failed commit's WAL record among them) dropped, and a restart.
  ASSERT_NO_FATAL_FAILURE(PowerLossAndReopen(h, *fsim));
  for (const Submitted& s : acked) ExpectPresent(*h.bank, s);
  for (const RawSignal& r : {failed, refused, after_clear, batch_raw[0], batch_raw[1]}) ExpectAbsent(*h.bank, r);
  EXPECT_EQ(h.bank->Get(SignalRef{h.id, kAcked + 1}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(h.bank->Stats().signals, kAcked);
  EXPECT_EQ(OwnLogSize(*h.bank), kAcked);
  ExpectVerifies(*h.bank);

  // The restarted node writes again, continuing the log at the next sequence.
  Submitted next{RandomSignal(rng), {}};
  auto ref = h.bank->Submit(next.raw.Input(), kMember);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->sequence, kAcked + 1);
  next.ref = *ref;
  ExpectPresent(*h.bank, next);
  EXPECT_EQ(OwnLogSize(*h.bank), kAcked + 1);
  ExpectVerifies(*h.bank);
  // And that is durable too.
  ASSERT_NO_FATAL_FAILURE(PowerLossAndReopen(h, *fsim));
  for (const Submitted& s : acked) ExpectPresent(*h.bank, s);
  ExpectPresent(*h.bank, next);
  EXPECT_EQ(OwnLogSize(*h.bank), kAcked + 1);
  ExpectVerifies(*h.bank);
}

// 8 threads submit while the WAL sync fails after a few successful ones: every call returns OK or
// Unavailable, the acknowledged ones are exactly sequences 1..k (a failure stops everything after it), and
// after power loss exactly they are there, in a log of size k that verifies and continues at k + 1.
TEST(OwnLogFaultTest, ConcurrentSubmitsAcrossAFailedSyncKeepExactlyTheAcknowledged) {
  auto fsim = std::make_shared<FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
  BankHarness h(fsim);
  ASSERT_NE(h.bank, nullptr);
  constexpr size_t kThreads = 8;
  constexpr size_t kPerThread = 15;  // >= 15 commit groups of at most 8: more than the syncs let through
  std::mt19937_64 rng(8080);
  std::vector<std::vector<RawSignal>> inputs(kThreads);
  for (auto& in : inputs) {
    for (size_t i = 0; i < kPerThread; ++i) in.push_back(RandomSignal(rng));
  }

  fsim->FailSyncsAfter(5, ".log");
  std::vector<std::vector<Submitted>> acked(kThreads);
  std::vector<std::vector<RawSignal>> failed(kThreads);
  std::vector<std::vector<std::string>> unexpected(kThreads);
  std::latch start(static_cast<std::ptrdiff_t>(kThreads));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (const RawSignal& raw : inputs[t]) {
        auto ref = h.bank->Submit(raw.Input(), kMember);
        if (ref.ok()) {
          acked[t].push_back(Submitted{raw, *ref});
        } else {
          if (ref.status().code() != absl::StatusCode::kUnavailable) unexpected[t].push_back(ref.status().ToString());
          failed[t].push_back(raw);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (size_t t = 0; t < kThreads; ++t) {
    for (const std::string& e : unexpected[t]) ADD_FAILURE() << "thread " << t << ": " << e;
  }
  EXPECT_EQ(fsim->injected_failures(), 1u);  // one failed sync; everything after it was refused above the disk

  std::vector<Submitted> all_acked;
  std::vector<RawSignal> all_failed;
  for (size_t t = 0; t < kThreads; ++t) {
    all_acked.insert(all_acked.end(), acked[t].begin(), acked[t].end());
    all_failed.insert(all_failed.end(), failed[t].begin(), failed[t].end());
  }
  ASSERT_FALSE(all_failed.empty());
  std::vector<uint64_t> sequences;
  for (const Submitted& s : all_acked) sequences.push_back(s.ref.sequence);
  std::sort(sequences.begin(), sequences.end());
  std::vector<uint64_t> dense(all_acked.size());
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = i + 1;
  EXPECT_EQ(sequences, dense) << "the acknowledged submits are not a prefix of the log";
  std::cout << "[ info     ] " << all_acked.size() << " submits acknowledged, " << all_failed.size()
            << " failed\n";
  fsim->ClearFaults();

  ASSERT_NO_FATAL_FAILURE(PowerLossAndReopen(h, *fsim));
  for (const Submitted& s : all_acked) ExpectPresent(*h.bank, s);
  for (const RawSignal& r : all_failed) ExpectAbsent(*h.bank, r);
  EXPECT_EQ(h.bank->Stats().signals, all_acked.size());
  EXPECT_EQ(OwnLogSize(*h.bank), all_acked.size());
  ExpectVerifies(*h.bank);
  auto next = h.bank->Submit(RandomSignal(rng).Input(), kMember);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence, all_acked.size() + 1);
}

// ---------------------------------------------------------------------------------------------------------
// Appends in flight.

// Runs a hook (once per ArmOnce) inside the next sync of a WAL file, on the syncing thread, before the sync:
// the group's WAL record is appended, not yet durable, not yet applied to the memtable; the committing
// append's claims are held and the own log's lock is free. Otherwise the default file system.
class SyncHookFileSystem : public rocksdb::FileSystemWrapper {
 public:
  SyncHookFileSystem() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "hashbank.test.SyncHookFileSystem"; }

  void ArmOnce(std::function<void()> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = std::move(hook);
  }
  int runs() const { return runs_.load(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(fname, options, &file, dbg);
    if (!s.ok()) return s;
    if (fname.size() >= 4 && fname.compare(fname.size() - 4, 4, ".log") == 0) {
      *result = std::make_unique<HookedFile>(std::move(file), this);
    } else {
      *result = std::move(file);
    }
    return s;
  }

 private:
  class HookedFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    HookedFile(std::unique_ptr<rocksdb::FSWritableFile> file, SyncHookFileSystem* fs)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      fs_->Run();
      return rocksdb::FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
      fs_->Run();
      return rocksdb::FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }

   private:
    SyncHookFileSystem* fs_;
  };

  void Run() {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = std::move(hook_);
      hook_ = nullptr;
    }
    if (hook) {
      hook();
      runs_.fetch_add(1);
    }
  }

  std::mutex mu_;
  std::function<void()> hook_;
  std::atomic<int> runs_{0};
};

// OwnLog directly: a claim taken by a builder is visible to (and refused for) other appends' builders
// while its append is in flight, the durable size lags until the commit is acknowledged, and the claim goes
// with the acknowledgement; a builder that returns no entries releases its claims at once.
TEST(OwnLogInFlightTest, ClaimsAreHeldUntilTheAppendIsDurable) {
  testing::TempDir dir{"hashbank-node"};
  auto hooks = std::make_shared<SyncHookFileSystem>();
  auto store = SignalStore::Open((dir.path() / "db").string(), SignalStoreOptions{hooks});
  ASSERT_TRUE(store.ok()) << store.status();
  CommitNotifier notifier;
  int notified = 0;
  notifier.SetListener([&] { ++notified; });
  OwnLog log(store->get(), &notifier, "node-a", node_test::KeyFromSeed(0xA1), [] { return node_test::kNow; });
  ASSERT_TRUE(log.Load().ok());
  ASSERT_EQ(log.durable_size(), 0u);

  auto withdrawal = [](uint64_t sequence) {
    std::vector<pb::Entry> entries(1);
    entries[0].mutable_withdrawal()->set_signal_sequence(sequence);
    entries[0].mutable_withdrawal()->set_reason("test");
    return entries;
  };

  bool probed = false;
  hooks->ArmOnce([&] {
    probed = true;
    EXPECT_EQ(log.durable_size(), 0u);  // queued, not acknowledged
    EXPECT_EQ(notified, 0);
    auto probe = log.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
      EXPECT_EQ(scope.first_sequence(), 2u);  // the in-memory tree already holds the queued entry
      EXPECT_TRUE(scope.IsClaimed("withdraw/7"));
      EXPECT_FALSE(scope.Claim("withdraw/7"));
      EXPECT_FALSE(scope.IsClaimed("withdraw/8"));
      return absl::FailedPreconditionError("probe");
    });
    EXPECT_EQ(probe.status().code(), absl::StatusCode::kFailedPrecondition) << probe.status();
  });
  auto appended = log.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    EXPECT_EQ(scope.first_sequence(), 1u);
    EXPECT_TRUE(scope.Claim("withdraw/7"));
    return withdrawal(7);
  });
  ASSERT_TRUE(appended.ok()) << appended.status();
  ASSERT_TRUE(probed) << "the hook did not run inside the append's WAL sync";
  ASSERT_EQ(appended->size(), 1u);
  EXPECT_EQ(appended->front().first, (SignalRef{"node-a", 1}));
  EXPECT_EQ(log.durable_size(), 1u);
  EXPECT_EQ(notified, 1);

  // Acknowledged: the claim is gone. A builder that claims and returns nothing releases it again.
  auto empty = log.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    EXPECT_FALSE(scope.IsClaimed("withdraw/7"));
    EXPECT_TRUE(scope.Claim("withdraw/7"));
    return std::vector<pb::Entry>{};
  });
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  auto refused = log.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    EXPECT_FALSE(scope.IsClaimed("withdraw/7"));
    EXPECT_TRUE(scope.Claim("withdraw/7"));
    return absl::AbortedError("refused");
  });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted);
  auto again = log.Append([&](OwnLog::Scope& scope) -> absl::StatusOr<std::vector<pb::Entry>> {
    EXPECT_EQ(scope.first_sequence(), 2u);  // nothing was appended by the empty and the refused builders
    EXPECT_TRUE(scope.Claim("withdraw/7"));
    return withdrawal(7);
  });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(log.durable_size(), 2u);
  EXPECT_EQ(hooks->runs(), 1);
}

// A withdrawal in flight (queued, its WAL sync under way, not yet visible in the store): a second
// withdrawal of the signal and an opinion on it are refused with AlreadyExists, decided by the withdrawal's
// claim (the store still shows the signal live); afterwards the signal is withdrawn, with no opinion, and
// the log holds exactly the submits, the control opinion and the one withdrawal.
//
// Note: the hook calls into the bank on the thread that leads the withdrawal's commit group. Were the claim
// check ever lost, the refused calls would queue behind that group and wait for it: a regression shows as a
// hang of this test (ctest's TIMEOUT), not as a failed assertion.
TEST(BankInFlightTest, OpinionOnASignalWhoseWithdrawalIsInFlightIsRefused) {
  auto hooks = std::make_shared<SyncHookFileSystem>();
  BankHarness h(hooks);
  ASSERT_NE(h.bank, nullptr);
  std::mt19937_64 rng(515);
  const RawSignal raw = RandomSignal(rng);
  auto target = h.bank->Submit(raw.Input(), kMember);
  ASSERT_TRUE(target.ok()) << target.status();
  auto control = h.bank->Submit(RandomSignal(rng).Input(), kMember);
  ASSERT_TRUE(control.ok()) << control.status();
  // Control: an opinion on a live signal is accepted.
  auto control_opinion = h.bank->AddOpinion(*control, true, kMember);
  ASSERT_TRUE(control_opinion.ok()) << control_opinion.status();
  ASSERT_EQ(OwnLogSize(*h.bank), 3u);

  bool probed = false;
  hooks->ArmOnce([&] {
    probed = true;
    auto info = h.bank->Get(*target);  // the withdrawal is not visible yet: only its claim refuses
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_FALSE(info->withdrawn);
    const absl::StatusOr<SignalRef> opinion = h.bank->AddOpinion(*target, false, kMember);
    EXPECT_EQ(opinion.status().code(), absl::StatusCode::kAlreadyExists) << opinion.status();
    const absl::Status second = h.bank->Withdraw(*target, kMember, "again");
    EXPECT_EQ(second.code(), absl::StatusCode::kAlreadyExists) << second;
  });
  ASSERT_TRUE(h.bank->Withdraw(*target, kMember, "consent_withdrawn").ok());
  ASSERT_TRUE(probed) << "the hook did not run inside the withdrawal's WAL sync";

  EXPECT_EQ(h.bank->AddOpinion(*target, true, kMember).status().code(), absl::StatusCode::kAlreadyExists);
  auto check = [&] {
    auto info = h.bank->Get(*target);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn);
    EXPECT_EQ(info->confirmed + info->disputed, 0);
    auto control_info = h.bank->Get(*control);
    ASSERT_TRUE(control_info.ok()) << control_info.status();
    EXPECT_EQ(control_info->confirmed, 1);
    ExpectAbsent(*h.bank, raw);
    EXPECT_EQ(OwnLogSize(*h.bank), 4u);  // 2 submits, the control opinion, 1 withdrawal
    ExpectVerifies(*h.bank);
  };
  check();
  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  check();
}

}  // namespace
}  // namespace hashbank
