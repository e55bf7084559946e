// Banks on real Banks (RocksDB in temp dirs): submission into configured banks only, listings by bank, label
// and case with pagination, the enabled ratio (0, partial, 1), rename and delete rules, the migration that
// gives signals from before banks their listing rows, HMA's integer content ids and enable state (kept over
// a restart), and a bank travelling with its signal to another node.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <random>
#include <set>
#include <sstream>

#include "node/bank.h"
#include "protocol/entries.pb.h"
#include "storage/signal_store.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kAdmin;
using node_test::kMember;
using node_test::RandomSignal;
using node_test::RawSignal;

SignalRef SubmitTo(Bank& bank, const RawSignal& raw, const std::string& bank_name, const std::string& case_ref = "") {
  SignalInput in = raw.Input();
  in.bank = bank_name;
  in.case_ref = case_ref;
  auto ref = bank.Submit(in, kMember);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return ref.ok() ? *ref : SignalRef{};
}

BankConfig Config(const std::string& name, double ratio = 1.0) {
  BankConfig c;
  c.name = name;
  c.matching_enabled_ratio = ratio;
  return c;
}

SignalListing Listing(std::string SignalListing::*field, const std::string& value) {
  SignalListing l;
  l.*field = value;
  return l;
}

std::vector<SignalRef> ListAll(const Bank& bank, SignalListing listing, size_t page) {
  listing.limit = page;
  std::vector<SignalRef> all;
  for (;;) {
    auto got = bank.ListSignals(listing);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->empty()) break;
    all.insert(all.end(), got->begin(), got->end());
    if (got->size() < page) break;
    listing.after = got->back();
  }
  return all;
}

TEST(BanksTest, OnlyConfiguredBanksTakeSubmissionsAndListingsPageThroughThem) {
  BankHarness h;
  std::mt19937_64 rng(1);
  SignalInput in = RandomSignal(rng).Input();
  in.bank = "NOT_CONFIGURED";
  EXPECT_TRUE(absl::IsNotFound(h.bank->Submit(in, kMember).status()));
  in.bank = "lower_case";
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->Submit(in, kMember).status()));
  ASSERT_TRUE(h.bank->CreateBank(Config("NCII"), kAdmin).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(h.bank->CreateBank(Config("NCII"), kAdmin).status()));

  std::vector<SignalRef> in_ncii, in_default, case_a;
  for (int i = 0; i < 25; ++i) {
    const bool ncii = i % 3 != 0;
    const SignalRef ref = SubmitTo(*h.bank, RandomSignal(rng), ncii ? "NCII" : "", i % 5 == 0 ? "case-A" : "");
    (ncii ? in_ncii : in_default).push_back(ref);
    if (i % 5 == 0) case_a.push_back(ref);
  }
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::bank, "NCII"), 4), in_ncii);
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::bank, "DEFAULT"), 3), in_default);
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::case_ref, "case-A"), 2), case_a);
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::label, "ndii"), 7).size(), 25u);  // RawSignal's label
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->ListSignals(SignalListing()).status()));
  // A withdrawn signal leaves its listings.
  ASSERT_TRUE(h.bank->Withdraw(in_ncii[0], kMember, "consent_withdrawn").ok());
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::bank, "NCII"), 100),
            std::vector<SignalRef>(in_ncii.begin() + 1, in_ncii.end()));
  // Matches say their bank; the default bank is "DEFAULT".
  auto info = h.bank->Get(in_ncii[1]);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->bank, "NCII");
  EXPECT_EQ(h.bank->Get(in_default[0])->bank, "DEFAULT");
}

TEST(BanksTest, EnabledRatioDropsTheSameSignalsEveryTime) {
  BankHarness h;
  std::mt19937_64 rng(2);
  ASSERT_TRUE(h.bank->CreateBank(Config("HALF"), kAdmin).ok());
  std::vector<RawSignal> raws;
  for (int i = 0; i < 200; ++i) {
    raws.push_back(RandomSignal(rng));
    SubmitTo(*h.bank, raws.back(), "HALF");
  }
  auto matched = [&] {
    int n = 0;
    for (const RawSignal& r : raws) n += static_cast<int>(node_test::PdqMatches(*h.bank, r.pdq).size());
    return n;
  };
  EXPECT_EQ(matched(), 200);
  BankUpdate half;
  half.matching_enabled_ratio = 0.5;
  ASSERT_TRUE(h.bank->UpdateBank("HALF", half, kAdmin).ok());
  const int first = matched();
  // SHA-256 of the ids is uniform: 200 draws at 0.5 fall within 70..130 with probability > 0.9999.
  EXPECT_GT(first, 70);
  EXPECT_LT(first, 130);
  EXPECT_EQ(matched(), first);  // the same signals, not a coin flip per query
  h.Reopen();
  EXPECT_EQ(matched(), first);  // and after a restart (the ratio is stored)
  BankUpdate off;
  off.matching_enabled_ratio = 0.0;
  ASSERT_TRUE(h.bank->UpdateBank("HALF", off, kAdmin).ok());
  EXPECT_EQ(matched(), 0);
  BankUpdate bad;
  bad.matching_enabled_ratio = 1.5;
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->UpdateBank("HALF", bad, kAdmin).status()));
}

TEST(BanksTest, RenameOnlyWhileEmptyAndDeleteWithdrawsThisNodesSignals) {
  BankHarness h;
  std::mt19937_64 rng(3);
  ASSERT_TRUE(h.bank->CreateBank(Config("OLD"), kAdmin).ok());
  ASSERT_TRUE(h.bank->RenameBank("OLD", "NEW", kAdmin).ok());
  EXPECT_FALSE(h.bank->BankConfigured("OLD"));
  const RawSignal raw = RandomSignal(rng);
  const SignalRef ref = SubmitTo(*h.bank, raw, "NEW");
  EXPECT_TRUE(absl::IsFailedPrecondition(h.bank->RenameBank("NEW", "NEWER", kAdmin)));
  EXPECT_TRUE(absl::IsFailedPrecondition(h.bank->DeleteBank("DEFAULT", kAdmin).status()));
  auto withdrawn = h.bank->DeleteBank("NEW", kAdmin);
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status();
  EXPECT_EQ(*withdrawn, 1u);
  EXPECT_TRUE(h.bank->Get(ref)->withdrawn);
  EXPECT_TRUE(node_test::PdqMatches(*h.bank, raw.pdq).empty());
  EXPECT_FALSE(h.bank->BankConfigured("NEW"));
}

// Submissions racing a bank's deletion: each one either lands before it (and is withdrawn with the rest) or
// is refused (the bank is being deleted, or gone); once DeleteBank returns, no live signal of this node is
// left in the bank, and none arrives later.
TEST(BanksTest, ASubmissionRacingTheBanksDeletionIsWithdrawnOrRefused) {
  BankHarness h;
  std::mt19937_64 rng(10);
  ASSERT_TRUE(h.bank->CreateBank(Config("GOING"), kAdmin).ok());
  for (int i = 0; i < 200; ++i) SubmitTo(*h.bank, RandomSignal(rng), "GOING");  // the deletion takes a while
  std::atomic<bool> stop{false};
  std::atomic<int> landed{0}, refused{0}, other{0};
  std::vector<SignalRef> landed_refs;  // the submitter's; read after join
  std::vector<RawSignal> raws;
  for (int i = 0; i < 5000; ++i) raws.push_back(RandomSignal(rng));
  std::thread submitter([&] {
    for (const RawSignal& raw : raws) {
      if (stop.load()) break;
      SignalInput in = raw.Input();
      in.bank = "GOING";
      const absl::StatusOr<SignalRef> r = h.bank->Submit(in, kMember);
      if (r.ok()) {
        landed_refs.push_back(*r);
        ++landed;
      } else if (absl::IsFailedPrecondition(r.status()) || absl::IsNotFound(r.status())) {
        ++refused;
      } else {
        ++other;
      }
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto waiting = [&] { return other.load() == 0 && std::chrono::steady_clock::now() < deadline; };
  while (landed.load() < 20 && waiting()) std::this_thread::yield();  // submissions are flowing
  auto withdrawn = h.bank->DeleteBank("GOING", kAdmin);
  while (refused.load() < 5 && landed.load() + refused.load() + other.load() < 5000 && waiting()) std::this_thread::yield();
  stop = true;
  submitter.join();
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(refused.load(), 0);
  // Every submission that landed did so before the deletion, and was withdrawn by it.
  EXPECT_EQ(*withdrawn, 200 + landed_refs.size());
  for (const SignalRef& ref : landed_refs) {
    const absl::StatusOr<SignalInfo> info = h.bank->Get(ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn) << FormatSignalId(ref);
  }
  SignalListing listing;
  listing.bank = "GOING";
  listing.limit = 1000;
  auto left = h.bank->ListSignals(listing);
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_TRUE(left->empty()) << left->size() << " live signals left in the deleted bank";
  EXPECT_FALSE(h.bank->BankConfigured("GOING"));
}

TEST(BanksTest, SignalsFromBeforeBanksGetTheirListingRowsAtTheFirstStart) {
  BankHarness h;
  std::mt19937_64 rng(4);
  std::vector<SignalRef> refs;
  for (int i = 0; i < 12; ++i) refs.push_back(SubmitTo(*h.bank, RandomSignal(rng), "", "case-7"));
  h.bank.reset();
  {
    // The database as a release before banks left it: no bank or case rows, no migration mark.
    auto store = SignalStore::Open(h.dir.path().string() + "/db");
    ASSERT_TRUE(store.ok()) << store.status();
    StoreBatch batch;
    for (const SignalRef& r : refs) {
      batch.DeleteLabel(BankListKey("DEFAULT"), r);
      batch.DeleteLabel(CaseListKey("case-7"), r);
    }
    batch.DeleteState("migration/listing_rows");
    ASSERT_TRUE((*store)->Commit(std::move(batch), node_test::kNow).ok());
    auto gone = (*store)->ListByLabel(BankListKey("DEFAULT"), std::nullopt, 100);
    ASSERT_TRUE(gone.ok());
    ASSERT_TRUE(gone->empty());
  }
  h.Open();
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::bank, "DEFAULT"), 5), refs);
  EXPECT_EQ(ListAll(*h.bank, Listing(&SignalListing::case_ref, "case-7"), 5), refs);
}

TEST(BanksTest, ContentIdsAndEnableStateSurviveARestart) {
  BankHarness h;
  std::mt19937_64 rng(5);
  const RawSignal raw = RandomSignal(rng);
  const SignalRef ref = SubmitTo(*h.bank, raw, "");
  auto id = h.bank->ContentId(ref);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, static_cast<int64_t>(ref.sequence));  // this node's own: the sequence, as HMA's 1, 2, 3
  ASSERT_TRUE(h.bank->SetContentState(ref, ContentState{.disable_until_ts = 0, .note = "false positive"}, kAdmin).ok());
  EXPECT_TRUE(node_test::PdqMatches(*h.bank, raw.pdq).empty());
  h.Reopen();
  EXPECT_TRUE(node_test::PdqMatches(*h.bank, raw.pdq).empty());
  EXPECT_EQ(h.bank->GetContentState(ref).note, "false positive");
  // Disabled until a time already past: enabled.
  ASSERT_TRUE(h.bank->SetContentState(ref, ContentState{.disable_until_ts = node_test::kNow / 1000 - 10, .note = std::nullopt}, kAdmin).ok());
  EXPECT_EQ(node_test::PdqMatches(*h.bank, raw.pdq), std::vector<SignalRef>{ref});
  EXPECT_TRUE(absl::IsNotFound(h.bank->ContentRef(int64_t{7} << kContentIdOriginShift | 1).status()));
}

TEST(BanksTest, ABankTravelsWithItsSignalToAnotherNode) {
  BankHarness a, b;
  b.id = "node-b";
  b.key = node_test::KeyFromSeed(0xB2);
  b.Reopen();
  std::mt19937_64 rng(6);
  ASSERT_TRUE(a.bank->CreateBank(Config("PEER_BANK"), kAdmin).ok());
  const RawSignal raw = RandomSignal(rng);
  const SignalRef ref = SubmitTo(*a.bank, raw, "PEER_BANK");
  auto seg = a.bank->ExportSegment("node-a", 0, 1000);
  ASSERT_TRUE(seg.ok());
  ASSERT_TRUE(b.bank->ApplySegment("node-a", a.key->public_key(), *seg).ok());
  auto m = b.bank->MatchPdq(std::span<const Hash256>(&raw.pdq, 1), 0);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].bank, "PEER_BANK");
  // Known at B (listed, with the defaults) though never configured there; B cannot delete a peer's signals.
  EXPECT_TRUE(b.bank->BankExists("PEER_BANK"));
  EXPECT_FALSE(b.bank->BankConfigured("PEER_BANK"));
  auto view = b.bank->GetBank("PEER_BANK");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->signals, 1u);
  ASSERT_TRUE(b.bank->CreateBank(Config("PEER_BANK", 0.0), kAdmin).ok());  // B stops matching it
  EXPECT_TRUE(node_test::PdqMatches(*b.bank, raw.pdq).empty());
  EXPECT_EQ(node_test::PdqMatches(*a.bank, raw.pdq), std::vector<SignalRef>{ref});  // A's own choice stands
  EXPECT_TRUE(absl::IsFailedPrecondition(b.bank->DeleteBank("PEER_BANK", kAdmin).status()));
  // A peer's signal gets a large, stable integer id that resolves back.
  auto id = b.bank->ContentId(ref);
  ASSERT_TRUE(id.ok());
  EXPECT_GE(*id, int64_t{1} << kContentIdOriginShift);
  EXPECT_LT(*id, int64_t{1} << 53);
  b.Reopen();
  EXPECT_EQ(b.bank->ContentId(ref).value(), *id);
  EXPECT_EQ(b.bank->ContentRef(*id).value(), ref);
}

// `hashbank verify`'s table checks (Bank::VerifyTables): clean after submissions, edits and a withdrawal;
// a label row for a signal that is not stored, or an exact row whose digest the signal does not carry, is
// found and named.
TEST(BanksTest, VerifyTablesFindsIndexRowsThatPointNowhere) {
  BankHarness h;
  std::mt19937_64 rng(8);
  const SignalRef kept = SubmitTo(*h.bank, RandomSignal(rng), "DEFAULT", "case-7");
  const SignalRef gone = SubmitTo(*h.bank, RandomSignal(rng), "DEFAULT");
  ASSERT_TRUE(h.bank->EditLabels(kept, {"synthetic_ndii"}, kMember).ok());
  ASSERT_TRUE(h.bank->Withdraw(gone, kMember, "consent_withdrawn").ok());
  std::ostringstream clean;
  EXPECT_TRUE(h.bank->VerifyTables(clean).ok()) << clean.str();
  EXPECT_NE(clean.str().find("ok   label and listing rows: 3 rows"), std::string::npos) << clean.str();  // label, bank, case

  for (int broken = 0; broken < 2; ++broken) {
    h.bank.reset();
    {
      auto store = SignalStore::Open(h.dir.path().string() + "/db");
      ASSERT_TRUE(store.ok()) << store.status();
      StoreBatch batch;
      if (broken == 0) {
        batch.PutLabel("ndii", gone);  // a withdrawn signal's row left behind
      } else {
        batch.DeleteLabel("ndii", gone);
        batch.PutExact(ExactKind8::kMd5, std::string(32, 'x'), kept);  // a digest the signal does not carry
      }
      ASSERT_TRUE((*store)->Commit(std::move(batch), node_test::kNow).ok());
    }
    h.Open();
    std::ostringstream report;
    const absl::Status s = h.bank->VerifyTables(report);
    EXPECT_TRUE(absl::IsDataLoss(s)) << s << "\n" << report.str();
    EXPECT_NE(report.str().find(broken == 0 ? "FAIL label and listing rows" : "FAIL exact-digest rows"), std::string::npos)
        << report.str();
    EXPECT_NE(s.message().find(FormatSignalId(broken == 0 ? gone : kept)), std::string::npos) << s;
  }
}

// The other direction: a stored signal whose exact-digest row, edited label's row or case listing row is
// gone is found and named (it would not be found by a lookup or listed); each restored, verify is clean.
TEST(BanksTest, VerifyTablesFindsASignalMissingItsIndexRows) {
  BankHarness h;
  std::mt19937_64 rng(9);
  const SignalRef kept = SubmitTo(*h.bank, RandomSignal(rng), "DEFAULT", "case-7");
  ASSERT_TRUE(h.bank->EditLabels(kept, {"synthetic_ndii"}, kMember).ok());
  std::ostringstream clean;
  EXPECT_TRUE(h.bank->VerifyTables(clean).ok()) << clean.str();
  EXPECT_NE(clean.str().find("ok   signals' index rows: 1 stored signals"), std::string::npos) << clean.str();

  for (int missing = 0; missing < 3; ++missing) {
    SCOPED_TRACE(missing);
    std::string md5_row;
    auto edit = [&](bool remove) {
      auto store = SignalStore::Open(h.dir.path().string() + "/db");
      ASSERT_TRUE(store.ok()) << store.status();
      if (md5_row.empty()) {
        auto row = (*store)->GetExactRow(ExactKind8::kMd5, kept);
        ASSERT_TRUE(row.ok() && row->has_value());
        md5_row = **row;
      }
      StoreBatch batch;
      if (missing == 0) {
        remove ? batch.DeleteExact(ExactKind8::kMd5, md5_row, kept) : batch.PutExact(ExactKind8::kMd5, md5_row, kept);
      } else {
        const std::string key = missing == 1 ? std::string("synthetic_ndii") : CaseListKey("case-7");
        remove ? batch.DeleteLabel(key, kept) : batch.PutLabel(key, kept);
      }
      ASSERT_TRUE((*store)->Commit(std::move(batch), node_test::kNow).ok());
    };
    h.bank.reset();
    ASSERT_NO_FATAL_FAILURE(edit(/*remove=*/true));
    h.Open();
    std::ostringstream report;
    const absl::Status s = h.bank->VerifyTables(report);
    EXPECT_TRUE(absl::IsDataLoss(s)) << s << "\n" << report.str();
    EXPECT_NE(report.str().find("FAIL signals' index rows"), std::string::npos) << report.str();
    EXPECT_NE(s.message().find(FormatSignalId(kept)), std::string::npos) << s;
    h.bank.reset();
    ASSERT_NO_FATAL_FAILURE(edit(/*remove=*/false));
    h.Open();
    std::ostringstream restored;
    EXPECT_TRUE(h.bank->VerifyTables(restored).ok()) << restored.str();
  }
}

}  // namespace
}  // namespace hashbank
