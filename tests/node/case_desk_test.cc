// CaseDesk (node/case_desk.h) on a real Bank in a temp directory: case numbers and PINs, what is stored, the
// limits (per address, in all, wrong PINs) with an injected clock, withdrawal, and a restart.
#include "node/case_desk.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "hashing/hash256.h"
#include "hashing/portable_digest.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;

class CaseDeskTest : public ::testing::Test {
 protected:
  CaseOptions Options() {
    CaseOptions o;
    o.public_submission = true;
    o.per_ip_per_hour = 2;
    o.global_per_hour = 3;
    o.daily_cap = 500;
    o.max_hashes = 3;
    o.pin_attempts = 3;
    o.lockout_minutes = 15;
    o.lookups_per_ip_per_hour = 1000;
    o.max_message_bytes = 20;
    o.now_ms = [this] { return now_; };
    return o;
  }
  std::vector<SignalInput> Inputs(size_t n) {
    std::vector<SignalInput> out;
    for (size_t i = 0; i < n; ++i) {
      SignalInput in;
      Hash256 h;
      for (auto& limb : h.limbs) limb = rng_();
      in.pdq = h;
      in.quality = 100;
      out.push_back(in);
    }
    return out;
  }

  BankHarness h_;
  int64_t now_ = 1'700'000'000'000;
  std::mt19937_64 rng_{42};
};

TEST(CaseNumberTest, TypedAsAPersonMightAndNothingElse) {
  EXPECT_EQ(NormalizeCaseNumber("053S-DDKS-58SW-Z18M"), "053SDDKS58SWZ18M");
  EXPECT_EQ(NormalizeCaseNumber("053s ddks 58sw z18m"), "053SDDKS58SWZ18M");
  EXPECT_EQ(NormalizeCaseNumber("O53S-DDKS-58SW-ZI8M"), "053SDDKS58SWZ18M");  // O read as 0, I as 1
  EXPECT_EQ(NormalizeCaseNumber("l53SDDKS58SWZ18M"), "153SDDKS58SWZ18M");     // L read as 1
  EXPECT_EQ(NormalizeCaseNumber("053S-DDKS-58SW-Z18"), std::nullopt);        // 15 characters
  EXPECT_EQ(NormalizeCaseNumber("053S-DDKS-58SW-Z18MM"), std::nullopt);      // 17
  EXPECT_EQ(NormalizeCaseNumber("053S-DDKS-58SW-Z18U"), std::nullopt);       // U is not Crockford's
  EXPECT_EQ(NormalizeCaseNumber("053S_DDKS_58SW_Z18M"), std::nullopt);
  EXPECT_EQ(NormalizeCaseNumber(std::string("053SDDKS58SWZ18\0", 16)), std::nullopt);
}

TEST_F(CaseDeskTest, CreatedCaseReadsBackWithItsPinAndNeitherNumberNorPinIsStored) {
  CaseDesk desk(h_.bank.get(), Options());
  auto c = desk.Create(Inputs(2), "please help", true, "192.0.2.1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(NormalizeCaseNumber(c->case_number).has_value()) << c->case_number;
  ASSERT_EQ(c->pin.size(), 8u);
  EXPECT_EQ(c->pin.find_first_not_of("0123456789"), std::string::npos);
  ASSERT_EQ(c->signals.size(), 2u);
  for (const SignalRef& r : c->signals) {
    auto info = h_.bank->Get(r);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->labels, std::vector<std::string>{kVictimSubmittedLabel});
    EXPECT_EQ(info->bank, "DEFAULT");
    EXPECT_EQ(r.origin, "node-a");
  }
  auto st = desk.Status(c->case_number, c->pin, "192.0.2.9");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->signals.size(), 2u);
  EXPECT_FALSE(st->signals[0].withdrawn);
  EXPECT_EQ(st->created_at_ms, now_);

  // The one state row: keyed by the SHA-256 of the number, holding neither the number nor the PIN.
  const std::string normalized = *NormalizeCaseNumber(c->case_number);
  const auto digest = PortableSha256({reinterpret_cast<const uint8_t*>(normalized.data()), normalized.size()});
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE(h_.bank->ForEachStateRow("case/", [&](std::string_view k, std::string_view v) {
    rows.emplace_back(k, v);
    return absl::OkStatus();
  }).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].first, BytesToHex(digest.data(), digest.size()));
  EXPECT_EQ(rows[0].second.find(c->pin), std::string::npos);
  EXPECT_EQ(rows[0].second.find(normalized), std::string::npos);
  EXPECT_NE(rows[0].second.find("$argon2id$"), std::string::npos);

  // Two cases never share a number.
  auto d = desk.Create(Inputs(1), "", true, "192.0.2.2");
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->case_number, c->case_number);
}

TEST_F(CaseDeskTest, WrongPinAndUnknownCaseGetTheSameAnswerAndThePinAttemptsLockTheCase) {
  CaseDesk desk(h_.bank.get(), Options());
  auto c = desk.Create(Inputs(1), "", true, "192.0.2.1");
  ASSERT_TRUE(c.ok());
  const std::string wrong = c->pin == "00000000" ? "11111111" : "00000000";
  auto unknown = desk.Status("0000-0000-0000-0000", wrong, "192.0.2.1");
  ASSERT_TRUE(absl::IsUnauthenticated(unknown.status())) << unknown.status();
  for (int i = 0; i < 3; ++i) {
    auto s = desk.Status(c->case_number, wrong, "192.0.2.1");
    ASSERT_TRUE(absl::IsUnauthenticated(s.status())) << i << " " << s.status();
    EXPECT_EQ(s.status().message(), unknown.status().message());
  }
  // Locked: even the right PIN, from any address, until lockout_minutes pass.
  auto locked = desk.Status(c->case_number, c->pin, "198.51.100.7");
  ASSERT_TRUE(absl::IsResourceExhausted(locked.status())) << locked.status();
  EXPECT_EQ(CaseDesk::RetryAfterSeconds(locked.status()), 15 * 60);
  now_ += 15 * 60'000;
  EXPECT_TRUE(desk.Status(c->case_number, c->pin, "198.51.100.7").ok());
  // Malformed PINs are wrong PINs, not another answer.
  EXPECT_TRUE(absl::IsUnauthenticated(desk.Status(c->case_number, "1234", "192.0.2.1").status()));
}

TEST_F(CaseDeskTest, PublicCreationIsLimitedPerAddressAndInAllAndOffUnlessEnabled) {
  CaseDesk desk(h_.bank.get(), Options());
  ASSERT_TRUE(desk.Create(Inputs(1), "", true, "192.0.2.1").ok());
  ASSERT_TRUE(desk.Create(Inputs(1), "", true, "192.0.2.1").ok());
  auto third = desk.Create(Inputs(1), "", true, "192.0.2.1");
  ASSERT_TRUE(absl::IsResourceExhausted(third.status())) << third.status();
  EXPECT_EQ(CaseDesk::RetryAfterSeconds(third.status()), 3600);
  ASSERT_TRUE(desk.Create(Inputs(1), "", true, "192.0.2.2").ok());  // another address: the 3rd of the hour
  auto fourth = desk.Create(Inputs(1), "", true, "192.0.2.3");
  ASSERT_TRUE(absl::IsResourceExhausted(fourth.status())) << fourth.status();  // global_per_hour = 3
  // Staff with a token are not counted.
  EXPECT_TRUE(desk.Create(Inputs(1), "", false, "192.0.2.3").ok());
  now_ += 3600'000;
  EXPECT_TRUE(desk.Create(Inputs(1), "", true, "192.0.2.1").ok());

  CaseOptions off = Options();
  off.public_submission = false;
  CaseDesk closed(h_.bank.get(), off);
  EXPECT_TRUE(absl::IsPermissionDenied(closed.Create(Inputs(1), "", true, "192.0.2.4").status()));
  EXPECT_TRUE(closed.Create(Inputs(1), "", false, "192.0.2.4").ok());
}

TEST_F(CaseDeskTest, BadInputIsRefusedAndNothingIsBanked) {
  CaseDesk desk(h_.bank.get(), Options());
  EXPECT_TRUE(absl::IsInvalidArgument(desk.Create({}, "", true, "192.0.2.1").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(desk.Create(Inputs(4), "", true, "192.0.2.1").status()));  // max_hashes 3
  EXPECT_TRUE(absl::IsInvalidArgument(desk.Create(Inputs(1), std::string(21, 'x'), true, "192.0.2.1").status()));
  std::vector<SignalInput> labelled = Inputs(1);
  labelled[0].labels = {"chosen_by_client"};
  EXPECT_TRUE(absl::IsInvalidArgument(desk.Create(labelled, "", true, "192.0.2.1").status()));
  std::vector<SignalInput> empty(1);  // no fingerprint at all
  EXPECT_TRUE(absl::IsInvalidArgument(desk.Create(empty, "", true, "192.0.2.1").status()));
  // One good file and one without a fingerprint: neither is banked (all or nothing).
  std::vector<SignalInput> mixed = Inputs(1);
  mixed.emplace_back();
  auto refused = desk.Create(mixed, "", true, "192.0.2.5");
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("item 1"), std::string::npos) << refused.status();
  auto banked = h_.bank->ListSignals(SignalListing{.bank = "", .label = kVictimSubmittedLabel, .case_ref = "",
                                                   .after = std::nullopt, .limit = 10});
  ASSERT_TRUE(banked.ok());
  EXPECT_TRUE(banked->empty());
  size_t rows = 0;
  ASSERT_TRUE(h_.bank->ForEachStateRow("case/", [&](std::string_view, std::string_view) {
    ++rows;
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(rows, 0u);
}

TEST_F(CaseDeskTest, WithdrawingOneThenAllAndTheCaseSurvivesARestart) {
  auto c = [&] {
    CaseDesk desk(h_.bank.get(), Options());
    return desk.Create(Inputs(3), "hi", true, "192.0.2.1");
  }();
  ASSERT_TRUE(c.ok());
  h_.Reopen();
  CaseDesk desk(h_.bank.get(), Options());
  using Counts = std::vector<std::pair<std::string, size_t>>;
  EXPECT_EQ(h_.bank->LabelCounts(), (Counts{{kVictimSubmittedLabel, 3}}));  // rebuilt from the store at reopen
  auto one = desk.Withdraw(c->case_number, c->pin, c->signals[1], "192.0.2.1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(h_.bank->LabelCounts(), (Counts{{kVictimSubmittedLabel, 2}}));
  EXPECT_FALSE(one->signals[0].withdrawn);
  EXPECT_TRUE(one->signals[1].withdrawn);
  // A signal of another case is not this case's to withdraw.
  auto other = desk.Create(Inputs(1), "", false, "192.0.2.1");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(absl::IsNotFound(desk.Withdraw(c->case_number, c->pin, other->signals[0], "192.0.2.1").status()));
  auto all = desk.Withdraw(c->case_number, c->pin, std::nullopt, "192.0.2.1");
  ASSERT_TRUE(all.ok()) << all.status();
  for (const CaseSignalStatus& s : all->signals) EXPECT_TRUE(s.withdrawn);
  EXPECT_EQ(h_.bank->LabelCounts(), (Counts{{kVictimSubmittedLabel, 1}}));  // the other case's signal
  EXPECT_TRUE(desk.Withdraw(c->case_number, c->pin, std::nullopt, "192.0.2.1").ok());  // again: nothing to do
  auto info = h_.bank->Get(c->signals[0]);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->withdrawn);
  EXPECT_TRUE(info->signal_types.empty());  // purged

  auto listed = desk.List(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  std::multiset<std::string> messages;
  for (const CaseDesk::Listed& l : *listed) messages.insert(l.message);
  EXPECT_EQ(messages, (std::multiset<std::string>{"", "hi"}));
}

}  // namespace
}  // namespace hashbank
