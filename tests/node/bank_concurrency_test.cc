// One real Bank (RocksDB in a temp dir) written by many threads at once: concurrent submits get dense,
// unique sequences in a log that verifies and survives a restart; concurrent withdrawals of one signal
// succeed exactly once and leave exactly one withdrawal entry; submits and withdrawals interleaved across
// threads leave exactly the live signals matching (also while matches run concurrently, and after a
// restart). Threads start together on a latch; no sleeps, no timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "node/bank.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

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

void ExpectNoMatch(const Bank& bank, const Submitted& s) {
  SCOPED_TRACE(FormatSignalId(s.ref));
  EXPECT_TRUE(PdqMatches(bank, s.raw.pdq).empty());
  EXPECT_TRUE(Md5Matches(bank, s.raw.md5).empty());
}

size_t CountAudit(const Bank& bank, const std::string& action, const std::string& target) {
  auto audit = bank.Audit(0, 1'000'000);
  EXPECT_TRUE(audit.ok()) << audit.status();
  if (!audit.ok()) return 0;
  return static_cast<size_t>(std::count_if(audit->begin(), audit->end(), [&](const AuditRecord& r) {
    return r.action == action && r.target == target;
  }));
}

// 8 threads x 50 Submit calls, four of them also sending one SubmitBatch of 5 halfway through: every id is
// this node's, unique, the sequences are exactly 1..N, a batch's items are consecutive, every hash matches
// exactly its own id, the log verifies, and after a restart every signal is there, indexed and readable.
TEST(BankConcurrencyTest, ConcurrentSubmitsGetDenseUniqueSequencesAndAVerifiableLog) {
  BankHarness h;
  ASSERT_NE(h.bank, nullptr);
  constexpr size_t kThreads = 8;
  constexpr size_t kSubmitsPerThread = 50;
  constexpr size_t kBatchThreads = 4;
  constexpr size_t kBatchSize = 5;

  // Inputs fixed before the threads start: one generator, so all hashes are distinct (random 256 bits).
  std::mt19937_64 rng(20240601);
  std::vector<std::vector<RawSignal>> singles(kThreads), batches(kThreads);
  for (size_t t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < kSubmitsPerThread; ++i) singles[t].push_back(RandomSignal(rng));
    if (t < kBatchThreads) {
      for (size_t i = 0; i < kBatchSize; ++i) batches[t].push_back(RandomSignal(rng));
    }
  }

  std::vector<std::vector<Submitted>> done(kThreads);
  std::vector<std::vector<absl::Status>> errors(kThreads);
  std::vector<std::vector<SignalRef>> batch_refs(kThreads);
  std::latch start(static_cast<std::ptrdiff_t>(kThreads));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (size_t i = 0; i < kSubmitsPerThread; ++i) {
        if (i == kSubmitsPerThread / 2 && !batches[t].empty()) {
          std::vector<SignalInput> inputs;
          for (const RawSignal& r : batches[t]) inputs.push_back(r.Input());
          std::vector<absl::StatusOr<SignalRef>> results = h.bank->SubmitBatch(inputs, kMember);
          for (size_t k = 0; k < results.size(); ++k) {
            if (!results[k].ok()) {
              errors[t].push_back(results[k].status());
              continue;
            }
            done[t].push_back(Submitted{batches[t][k], *results[k]});
            batch_refs[t].push_back(*results[k]);
          }
        }
        auto ref = h.bank->Submit(singles[t][i].Input(), kMember);
        if (!ref.ok()) {
          errors[t].push_back(ref.status());
          continue;
        }
        done[t].push_back(Submitted{singles[t][i], *ref});
      }
    });
  }
  for (std::thread& th : threads) th.join();

  for (size_t t = 0; t < kThreads; ++t) {
    for (const absl::Status& e : errors[t]) ADD_FAILURE() << "thread " << t << ": " << e;
  }
  std::vector<Submitted> all;
  for (const auto& d : done) all.insert(all.end(), d.begin(), d.end());
  const size_t n = kThreads * kSubmitsPerThread + kBatchThreads * kBatchSize;
  ASSERT_EQ(all.size(), n);

  // Unique, this node's, and exactly 1..N.
  std::vector<uint64_t> sequences;
  for (const Submitted& s : all) {
    EXPECT_EQ(s.ref.origin, h.id);
    sequences.push_back(s.ref.sequence);
  }
  std::sort(sequences.begin(), sequences.end());
  EXPECT_EQ(std::adjacent_find(sequences.begin(), sequences.end()), sequences.end()) << "a sequence was handed out twice";
  std::vector<uint64_t> expected(n);
  for (size_t i = 0; i < n; ++i) expected[i] = i + 1;
  EXPECT_EQ(sequences, expected);
  // Each thread's own calls got increasing sequences; one batch's items are consecutive.
  for (size_t t = 0; t < kThreads; ++t) {
    for (size_t i = 1; i < done[t].size(); ++i) EXPECT_LT(done[t][i - 1].ref.sequence, done[t][i].ref.sequence);
    for (size_t i = 1; i < batch_refs[t].size(); ++i) {
      EXPECT_EQ(batch_refs[t][i].sequence, batch_refs[t][i - 1].sequence + 1) << "thread " << t;
    }
  }

  for (const Submitted& s : all) ExpectMatchesExactly(*h.bank, s);
  EXPECT_EQ(h.bank->Stats().signals, n);
  EXPECT_EQ(OwnLogSize(*h.bank), n);
  ExpectVerifies(*h.bank);

  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  EXPECT_EQ(h.bank->Stats().signals, n);
  EXPECT_EQ(OwnLogSize(*h.bank), n);
  ExpectVerifies(*h.bank);
  for (const Submitted& s : all) {
    SCOPED_TRACE(FormatSignalId(s.ref));
    auto info = h.bank->Get(s.ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->ref, s.ref);
    EXPECT_FALSE(info->withdrawn);
    EXPECT_EQ(info->submitted_by, kMember.name);
    EXPECT_EQ(info->labels, std::vector<std::string>{"ndii"});
    EXPECT_NE(std::find(info->signal_types.begin(), info->signal_types.end(), "pdq"), info->signal_types.end());
    EXPECT_NE(std::find(info->signal_types.begin(), info->signal_types.end(), "md5"), info->signal_types.end());
  }
  for (const Submitted& s : all) ExpectMatchesExactly(*h.bank, s);
  // The next submit continues the log.
  std::mt19937_64 more(7);
  auto next = h.bank->Submit(RandomSignal(more).Input(), kMember);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence, n + 1);
}

// 8 threads withdraw the same signal at once, for several signals in turn: exactly one call succeeds, the
// others get AlreadyExists; the signal stops matching, reads as withdrawn, and the log holds one withdrawal
// entry for it (log size: the submits plus one per signal), one audit record — also after a restart.
TEST(BankConcurrencyTest, ConcurrentWithdrawalsOfOneSignalSucceedOnce) {
  BankHarness h;
  ASSERT_NE(h.bank, nullptr);
  constexpr size_t kThreads = 8;
  constexpr size_t kRounds = 6;
  std::mt19937_64 rng(99);

  std::vector<Submitted> withdrawn;
  for (size_t round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Submitted s{RandomSignal(rng), {}};
    auto ref = h.bank->Submit(s.raw.Input(), kMember);
    ASSERT_TRUE(ref.ok()) << ref.status();
    s.ref = *ref;
    EXPECT_EQ(s.ref.sequence, 2 * round + 1);  // each earlier round: one submit, one withdrawal
    ExpectMatchesExactly(*h.bank, s);

    std::vector<absl::Status> results(kThreads);
    std::latch start(static_cast<std::ptrdiff_t>(kThreads));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        results[t] = h.bank->Withdraw(s.ref, kMember, "consent_withdrawn");
      });
    }
    for (std::thread& th : threads) th.join();

    size_t ok = 0, already = 0;
    for (const absl::Status& r : results) {
      if (r.ok()) {
        ++ok;
      } else if (r.code() == absl::StatusCode::kAlreadyExists) {
        ++already;
      } else {
        ADD_FAILURE() << "unexpected status: " << r;
      }
    }
    EXPECT_EQ(ok, 1u);
    EXPECT_EQ(already, kThreads - 1);

    ExpectNoMatch(*h.bank, s);
    auto info = h.bank->Get(s.ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn);
    EXPECT_TRUE(info->signal_types.empty());
    EXPECT_EQ(OwnLogSize(*h.bank), 2 * (round + 1));
    EXPECT_EQ(h.bank->Stats().signals, 0u);
    EXPECT_EQ(CountAudit(*h.bank, "withdraw", FormatSignalId(s.ref)), 1u);
    // A later attempt is refused the same way.
    EXPECT_EQ(h.bank->Withdraw(s.ref, kMember, "again").code(), absl::StatusCode::kAlreadyExists);
    withdrawn.push_back(s);
  }
  EXPECT_EQ(OwnLogSize(*h.bank), 2 * kRounds);
  ExpectVerifies(*h.bank);

  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  EXPECT_EQ(OwnLogSize(*h.bank), 2 * kRounds);
  EXPECT_EQ(h.bank->Stats().signals, 0u);
  ExpectVerifies(*h.bank);
  for (const Submitted& s : withdrawn) {
    ExpectNoMatch(*h.bank, s);
    auto info = h.bank->Get(s.ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn);
    EXPECT_EQ(CountAudit(*h.bank, "withdraw", FormatSignalId(s.ref)), 1u);
    EXPECT_EQ(h.bank->Withdraw(s.ref, kMember, "again").code(), absl::StatusCode::kAlreadyExists);
  }
}

// Four threads submit and withdraw every other one of their own signals right after submitting it, four
// threads only submit, and one thread keeps matching a set of control signals (submitted before, never
// withdrawn) the whole time. At the end exactly the signals not withdrawn match, each as its own id, the
// count of live signals is theirs, the log holds one entry per call and verifies — and all of it again after
// a restart.
TEST(BankConcurrencyTest, SubmitsAndWithdrawalsInterleavedLeaveOnlyLiveSignalsMatching) {
  BankHarness h;
  ASSERT_NE(h.bank, nullptr);
  constexpr size_t kWithdrawers = 4;
  constexpr size_t kSubmitters = 4;
  constexpr size_t kThreads = kWithdrawers + kSubmitters;
  constexpr size_t kPerThread = 40;
  constexpr size_t kControls = 10;

  std::mt19937_64 rng(31337);
  std::vector<Submitted> controls;
  for (size_t i = 0; i < kControls; ++i) {
    Submitted s{RandomSignal(rng), {}};
    auto ref = h.bank->Submit(s.raw.Input(), kMember);
    ASSERT_TRUE(ref.ok()) << ref.status();
    s.ref = *ref;
    controls.push_back(s);
  }
  std::vector<std::vector<RawSignal>> inputs(kThreads);
  for (auto& in : inputs) {
    for (size_t i = 0; i < kPerThread; ++i) in.push_back(RandomSignal(rng));
  }

  std::vector<std::vector<Submitted>> live(kThreads), gone(kThreads);
  std::vector<std::vector<std::string>> errors(kThreads);
  std::atomic<size_t> writers_left{kThreads};
  std::atomic<size_t> reader_rounds{0};
  std::vector<std::string> reader_errors;
  std::latch start(static_cast<std::ptrdiff_t>(kThreads + 1));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const bool withdraws = t < kWithdrawers;
      start.arrive_and_wait();
      for (size_t i = 0; i < kPerThread; ++i) {
        Submitted s{inputs[t][i], {}};
        auto ref = h.bank->Submit(s.raw.Input(), kMember);
        if (!ref.ok()) {
          errors[t].push_back("submit: " + ref.status().ToString());
          continue;
        }
        s.ref = *ref;
        if (withdraws && i % 2 == 0) {
          const absl::Status w = h.bank->Withdraw(s.ref, kMember, "consent_withdrawn");
          if (!w.ok()) {
            errors[t].push_back("withdraw " + FormatSignalId(s.ref) + ": " + w.ToString());
            live[t].push_back(s);
            continue;
          }
          gone[t].push_back(s);
        } else {
          live[t].push_back(s);
        }
      }
      writers_left.fetch_sub(1);
    });
  }
  // The reader: every control signal matches exactly itself in every round, while the writers write.
  // (Its rounds are counted only to report; it always completes at least one.)
  threads.emplace_back([&] {
    start.arrive_and_wait();
    do {
      for (const Submitted& c : controls) {
        auto m = h.bank->MatchPdq(std::span<const Hash256>(&c.raw.pdq, 1), 0);
        if (!m.ok()) {
          reader_errors.push_back(m.status().ToString());
          continue;
        }
        if (m->size() != 1 || !((*m)[0].ref == c.ref)) {
          reader_errors.push_back("control " + FormatSignalId(c.ref) + " matched " + std::to_string(m->size()) + " refs");
        }
      }
      reader_rounds.fetch_add(1);
    } while (writers_left.load() > 0 && reader_errors.size() < 10);
  });
  for (std::thread& th : threads) th.join();

  for (size_t t = 0; t < kThreads; ++t) {
    for (const std::string& e : errors[t]) ADD_FAILURE() << "thread " << t << ": " << e;
  }
  for (const std::string& e : reader_errors) ADD_FAILURE() << "reader: " << e;
  EXPECT_GE(reader_rounds.load(), 1u);

  std::vector<Submitted> all_live = controls, all_gone;
  for (size_t t = 0; t < kThreads; ++t) {
    all_live.insert(all_live.end(), live[t].begin(), live[t].end());
    all_gone.insert(all_gone.end(), gone[t].begin(), gone[t].end());
  }
  const size_t withdrawn_count = kWithdrawers * kPerThread / 2;
  ASSERT_EQ(all_gone.size(), withdrawn_count);
  ASSERT_EQ(all_live.size(), kControls + kThreads * kPerThread - withdrawn_count);
  // Every submit and every withdrawal is one entry of the log, with no gap.
  const uint64_t log_size = kControls + kThreads * kPerThread + withdrawn_count;
  std::set<uint64_t> signal_sequences;
  for (const Submitted& s : all_live) signal_sequences.insert(s.ref.sequence);
  for (const Submitted& s : all_gone) signal_sequences.insert(s.ref.sequence);
  EXPECT_EQ(signal_sequences.size(), all_live.size() + all_gone.size());
  EXPECT_LE(*signal_sequences.rbegin(), log_size);

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    for (const Submitted& s : all_live) ExpectMatchesExactly(*h.bank, s);
    for (const Submitted& s : all_gone) {
      ExpectNoMatch(*h.bank, s);
      auto info = h.bank->Get(s.ref);
      ASSERT_TRUE(info.ok()) << info.status();
      EXPECT_TRUE(info->withdrawn) << FormatSignalId(s.ref);
    }
    for (const Submitted& s : all_live) {
      auto info = h.bank->Get(s.ref);
      ASSERT_TRUE(info.ok()) << info.status();
      EXPECT_FALSE(info->withdrawn) << FormatSignalId(s.ref);
    }
    EXPECT_EQ(h.bank->Stats().signals, all_live.size());
    EXPECT_EQ(OwnLogSize(*h.bank), log_size);
    ExpectVerifies(*h.bank);
  };
  check("before restart");
  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  check("after restart");
}

// A withdrawal that overtakes the submitter's index insert, made deterministic: the commit listener runs
// on the submitting thread after the submit is durable and before its signal is indexed, and withdraws it
// there (the id is the next sequence). The Submit still returns its id, the signal is withdrawn and never
// matches, and only the control signal is live — also after a restart.
TEST(BankConcurrencyTest, WithdrawalThatOvertakesTheSubmittersIndexInsertKeepsTheSignalOut) {
  BankHarness h;
  ASSERT_NE(h.bank, nullptr);
  std::mt19937_64 rng(1234);
  Submitted control{RandomSignal(rng), {}};
  auto control_ref = h.bank->Submit(control.raw.Input(), kMember);
  ASSERT_TRUE(control_ref.ok()) << control_ref.status();
  control.ref = *control_ref;

  const SignalRef next{h.id, control.ref.sequence + 1};
  std::atomic<bool> armed{true};
  absl::Status overtaking = absl::UnknownError("the listener did not run");
  h.bank->SetCommitListener([&] {
    if (!armed.exchange(false)) return;  // once: the withdrawal's own commit notifies too
    overtaking = h.bank->Withdraw(next, kMember, "consent_withdrawn");
  });
  Submitted s{RandomSignal(rng), {}};
  auto ref = h.bank->Submit(s.raw.Input(), kMember);
  h.bank->SetCommitListener(nullptr);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(*ref, next);
  s.ref = *ref;
  ASSERT_TRUE(overtaking.ok()) << overtaking;

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    ExpectNoMatch(*h.bank, s);
    ExpectMatchesExactly(*h.bank, control);
    auto info = h.bank->Get(s.ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn);
    EXPECT_EQ(h.bank->Stats().signals, 1u);
    EXPECT_EQ(h.bank->Stats().pdq, 1u);
    EXPECT_EQ(OwnLogSize(*h.bank), 3u);
    ExpectVerifies(*h.bank);
  };
  check("before restart");
  ASSERT_NO_FATAL_FAILURE(h.Reopen());
  check("after restart");
}

}  // namespace
}  // namespace hashbank
