// Label edits on real Banks (RocksDB in temp dirs): the origin replaces a signal's labels with a signed
// LabelEdit entry; reads, listings, matches and label counts follow it, across a restart; a withdrawal takes
// the edited labels' rows with it; peers apply edits one segment at a time or many folded into one segment;
// bad edits are refused with their own errors. Also: an entry of a type this node does not know is stored
// and relayed byte for byte, and an entry with no body at all is refused.
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/unknown_field_set.h>

#include "node/bank.h"
#include "node/label_edits.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "tests/node/bank_test_util.h"
#include "tests/support/hand_log.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kAdmin;
using node_test::kMember;
using node_test::RandomSignal;
using node_test::RawSignal;
using Labels = std::vector<std::string>;

std::vector<SignalRef> ListLabel(const Bank& bank, const std::string& label) {
  SignalListing l;
  l.label = label;
  l.limit = 1000;
  auto got = bank.ListSignals(l);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : std::vector<SignalRef>{};
}

Labels LabelsOf(const Bank& bank, const SignalRef& ref) {
  auto info = bank.Get(ref);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->labels : Labels{"<error>"};
}

// The labels the one PDQ match of `raw` carries (the index's view, not the store's).
Labels MatchedLabels(const Bank& bank, const Hash256& raw) {
  auto m = bank.MatchPdq(std::span<const Hash256>(&raw, 1), 0);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok() || m->size() != 1) return {"<not exactly one match>"};
  return (*m)[0].labels;
}

// `h` becomes another node: its own id and key (its data dir is still empty).
void MakePeer(BankHarness& h, const std::string& id, uint8_t seed) {
  h.id = id;
  h.key = node_test::KeyFromSeed(seed);
  h.Reopen();
}

// Applies everything `from` holds of `origin` that `to` does not, as one segment.
void Sync(const Bank& from, Bank& to, const std::string& origin, const Ed25519PublicKey& key) {
  auto cp = to.LatestCheckpoint(origin);
  ASSERT_TRUE(cp.ok());
  const uint64_t have = cp->has_value() ? (*cp)->tree_size : 0;
  auto seg = from.ExportSegment(origin, have, 100000);
  ASSERT_TRUE(seg.ok()) << seg.status();
  auto applied = to.ApplySegment(origin, key, *seg);
  ASSERT_TRUE(applied.ok()) << applied.status();
}

SignalRef Submit(Bank& bank, const RawSignal& raw, Labels labels) {
  SignalInput in = raw.Input();
  in.labels = std::move(labels);
  auto ref = bank.Submit(in, kMember);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return ref.ok() ? *ref : SignalRef{};
}

TEST(LabelEditsTest, ReadsListingsMatchesAndCountsFollowTheLatestEditAcrossARestart) {
  BankHarness h;
  std::mt19937_64 rng(11);
  const RawSignal raw = RandomSignal(rng), other = RandomSignal(rng);
  const SignalRef ref = Submit(*h.bank, raw, {"ndii", "sextortion"});
  const SignalRef untouched = Submit(*h.bank, other, {"ndii"});

  auto edit = h.bank->EditLabels(ref, {"synthetic_ndii", "synthetic_ndii", "minor_unknown"}, kMember);
  ASSERT_TRUE(edit.ok()) << edit.status();
  EXPECT_EQ(*edit, (SignalRef{"node-a", 3}));  // the next entry of the own log
  const Labels want = {"synthetic_ndii", "minor_unknown"};  // duplicates dropped, order kept
  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    EXPECT_EQ(LabelsOf(*h.bank, ref), want);
    EXPECT_EQ(MatchedLabels(*h.bank, raw.pdq), want);
    EXPECT_EQ(LabelsOf(*h.bank, untouched), Labels{"ndii"});
    EXPECT_EQ(ListLabel(*h.bank, "ndii"), std::vector<SignalRef>{untouched});
    EXPECT_TRUE(ListLabel(*h.bank, "sextortion").empty());
    EXPECT_EQ(ListLabel(*h.bank, "synthetic_ndii"), std::vector<SignalRef>{ref});
    EXPECT_EQ(ListLabel(*h.bank, "minor_unknown"), std::vector<SignalRef>{ref});
    const std::vector<std::pair<std::string, size_t>> counts = {{"minor_unknown", 1}, {"ndii", 1}, {"synthetic_ndii", 1}};
    EXPECT_EQ(h.bank->LabelCounts(), counts);
  };
  check("after the edit");
  h.Reopen();
  check("after a restart");
  node_test::ExpectVerifies(*h.bank);

  // A second edit: a label kept from the first stays listed (the rows are moved as a set difference).
  ASSERT_TRUE(h.bank->EditLabels(ref, {"minor_unknown", "ndii"}, kAdmin).ok());
  EXPECT_EQ(LabelsOf(*h.bank, ref), (Labels{"minor_unknown", "ndii"}));
  EXPECT_EQ(ListLabel(*h.bank, "minor_unknown"), std::vector<SignalRef>{ref});
  EXPECT_EQ(ListLabel(*h.bank, "ndii"), (std::vector<SignalRef>{ref, untouched}));
  EXPECT_TRUE(ListLabel(*h.bank, "synthetic_ndii").empty());
  // No labels at all is a valid set.
  ASSERT_TRUE(h.bank->EditLabels(ref, {}, kMember).ok());
  EXPECT_TRUE(LabelsOf(*h.bank, ref).empty());
  EXPECT_TRUE(MatchedLabels(*h.bank, raw.pdq).empty());
  ASSERT_TRUE(h.bank->EditLabels(ref, {"revenge"}, kMember).ok());

  // The withdrawal takes the edited labels' rows and the edit row with it.
  ASSERT_TRUE(h.bank->Withdraw(ref, kMember, "consent_withdrawn").ok());
  EXPECT_TRUE(ListLabel(*h.bank, "revenge").empty());
  auto row = h.bank->GetStateRow(LabelEditRow(ref));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
  EXPECT_EQ(h.bank->LabelCounts(), (std::vector<std::pair<std::string, size_t>>{{"ndii", 1}}));
  node_test::ExpectVerifies(*h.bank);
}

TEST(LabelEditsTest, BadEditsAreRefusedWithTheirOwnErrorsAndChangeNothing) {
  BankHarness h;
  std::mt19937_64 rng(12);
  const RawSignal raw = RandomSignal(rng);
  const SignalRef ref = Submit(*h.bank, raw, {"ndii"});
  const uint64_t size = node_test::OwnLogSize(*h.bank);
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->EditLabels(ref, {"Upper"}, kMember).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->EditLabels(ref, {""}, kMember).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->EditLabels(ref, Labels(17, "x"), kMember).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(h.bank->EditLabels(ref, {std::string(65, 'a')}, kMember).status()));
  EXPECT_TRUE(absl::IsNotFound(h.bank->EditLabels(SignalRef{"node-a", 99}, {"x"}, kMember).status()));
  EXPECT_EQ(node_test::OwnLogSize(*h.bank), size);  // nothing appended
  EXPECT_EQ(LabelsOf(*h.bank, ref), Labels{"ndii"});

  // Only the origin edits: B holds A's signal but cannot edit it.
  BankHarness b;
  MakePeer(b, "node-b", 0xB2);
  Sync(*h.bank, *b.bank, "node-a", h.key->public_key());
  EXPECT_TRUE(absl::IsFailedPrecondition(b.bank->EditLabels(ref, {"x"}, kAdmin).status()));
  EXPECT_EQ(LabelsOf(*b.bank, ref), Labels{"ndii"});

  // An opinion is an entry too, but not a signal: not editable.
  auto opinion = b.bank->AddOpinion(ref, true, kMember);
  ASSERT_TRUE(opinion.ok());
  EXPECT_TRUE(absl::IsNotFound(b.bank->EditLabels(*opinion, {"x"}, kAdmin).status()));

  ASSERT_TRUE(h.bank->Withdraw(ref, kMember, "consent_withdrawn").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(h.bank->EditLabels(ref, {"x"}, kMember).status()));
}

TEST(LabelEditsTest, PeersFollowEditsOneSegmentAtATimeOrFoldedIntoOne) {
  BankHarness a;
  BankHarness b;
  MakePeer(b, "node-b", 0xB2);
  std::mt19937_64 rng(13);
  const RawSignal raw = RandomSignal(rng), kept = RandomSignal(rng);
  const SignalRef ref = Submit(*a.bank, raw, {"ndii"});
  const SignalRef other = Submit(*a.bank, kept, {"ndii"});
  Sync(*a.bank, *b.bank, "node-a", a.key->public_key());
  EXPECT_EQ(MatchedLabels(*b.bank, raw.pdq), Labels{"ndii"});

  ASSERT_TRUE(a.bank->EditLabels(ref, {"synthetic_ndii"}, kMember).ok());
  Sync(*a.bank, *b.bank, "node-a", a.key->public_key());
  EXPECT_EQ(LabelsOf(*b.bank, ref), Labels{"synthetic_ndii"});
  EXPECT_EQ(MatchedLabels(*b.bank, raw.pdq), Labels{"synthetic_ndii"});
  EXPECT_EQ(ListLabel(*b.bank, "ndii"), std::vector<SignalRef>{other});

  // Two more edits, the second back to a label the first removed, reach B in one segment; C receives the
  // whole log (signal and three edits) in one segment. Both end where A is.
  ASSERT_TRUE(a.bank->EditLabels(ref, {"sextortion"}, kMember).ok());
  ASSERT_TRUE(a.bank->EditLabels(ref, {"synthetic_ndii", "ndii"}, kMember).ok());
  BankHarness c;
  MakePeer(c, "node-c", 0xC3);
  Sync(*a.bank, *b.bank, "node-a", a.key->public_key());
  Sync(*a.bank, *c.bank, "node-a", a.key->public_key());
  for (Bank* peer : {b.bank.get(), c.bank.get()}) {
    SCOPED_TRACE(peer->node_id());
    EXPECT_EQ(LabelsOf(*peer, ref), (Labels{"synthetic_ndii", "ndii"}));
    EXPECT_EQ(MatchedLabels(*peer, raw.pdq), (Labels{"synthetic_ndii", "ndii"}));
    EXPECT_EQ(ListLabel(*peer, "ndii"), (std::vector<SignalRef>{ref, other}));
    EXPECT_EQ(ListLabel(*peer, "synthetic_ndii"), std::vector<SignalRef>{ref});
    EXPECT_TRUE(ListLabel(*peer, "sextortion").empty());
    node_test::ExpectVerifies(*peer);
  }
  c.Reopen();
  EXPECT_EQ(MatchedLabels(*c.bank, raw.pdq), (Labels{"synthetic_ndii", "ndii"}));

  // The withdrawal reaches the peers and the edited rows go with it.
  ASSERT_TRUE(a.bank->Withdraw(ref, kMember, "consent_withdrawn").ok());
  Sync(*a.bank, *b.bank, "node-a", a.key->public_key());
  EXPECT_EQ(ListLabel(*b.bank, "ndii"), std::vector<SignalRef>{other});
  EXPECT_TRUE(ListLabel(*b.bank, "synthetic_ndii").empty());
  auto row = b.bank->GetStateRow(LabelEditRow(ref));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
}

// Header fields of the next entry of `log`.
protocol::Entry NextEntry(const testing::HandLog& log) {
  protocol::Entry e;
  e.set_schema_version(1);
  e.set_origin(log.origin());
  e.set_sequence(log.size() + 1);
  e.set_created_at_unix_ms(testing::kHandLogTime + static_cast<int64_t>(log.size()));
  return e;
}

TEST(LabelEditsTest, AnEditAndAWithdrawalInOneSegmentLeaveNothingListed) {
  const auto key = node_test::KeyFromSeed(0x44);
  testing::HandLog log("node-h", *key, 5);
  log.Append(log.NextSignal());  // 1, label "ndii"
  protocol::Entry edit = NextEntry(log);
  edit.mutable_label_edit()->set_signal_sequence(1);
  edit.mutable_label_edit()->add_labels("relabeled");
  log.Append(edit);                    // 2
  log.Append(log.NextWithdrawal(1));   // 3
  BankHarness b;
  MakePeer(b, "node-b", 0xB2);
  auto applied = b.bank->ApplySegment("node-h", log.public_key(), log.Segment(0, 3));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->label_edits, 1u);
  EXPECT_TRUE(ListLabel(*b.bank, "relabeled").empty());
  EXPECT_TRUE(ListLabel(*b.bank, "ndii").empty());
  auto row = b.bank->GetStateRow(LabelEditRow(SignalRef{"node-h", 1}));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());
  EXPECT_TRUE(b.bank->LabelCounts().empty());
}

TEST(LabelEditsTest, AnEntryOfAnUnknownTypeIsKeptAndRelayedByteForByte) {
  const auto key = node_test::KeyFromSeed(0x45);
  testing::HandLog log("node-h", *key, 6);
  log.Append(log.NextSignal());
  // A later schema's entry type: field 99 of Entry, which this node's oneof does not know.
  protocol::Entry future = NextEntry(log);
  future.GetReflection()->MutableUnknownFields(&future)->AddLengthDelimited(99, "a body from the future");
  const std::string future_bytes = future.SerializeAsString();
  log.AppendBytes(future_bytes);
  log.Append(log.NextSignal());
  BankHarness b;
  MakePeer(b, "node-b", 0xB2);
  auto applied = b.bank->ApplySegment("node-h", log.public_key(), log.Segment(0, 3));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->unknown, 1u);
  EXPECT_EQ(applied->signals, 2u);
  EXPECT_EQ(ListLabel(*b.bank, "ndii").size(), 2u);  // the signals around it are applied as usual

  // B relays the log to C; the unknown entry travels as the exact bytes the origin signed.
  auto relayed = b.bank->ExportSegment("node-h", 0, 100);
  ASSERT_TRUE(relayed.ok()) << relayed.status();
  protocol::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(*relayed));
  ASSERT_EQ(seg.leaves_size(), 3);
  EXPECT_EQ(seg.leaves(1).entry(), future_bytes);
  BankHarness c;
  MakePeer(c, "node-c", 0xC3);
  auto at_c = c.bank->ApplySegment("node-h", log.public_key(), *relayed);
  ASSERT_TRUE(at_c.ok()) << at_c.status();
  EXPECT_EQ(at_c->unknown, 1u);
  node_test::ExpectVerifies(*c.bank);
  c.Reopen();  // the start's rebuild reads it too
  EXPECT_EQ(ListLabel(*c.bank, "ndii").size(), 2u);
}

TEST(LabelEditsTest, AnEntryWithoutABodyOrAnEditOfALaterEntryIsRefused) {
  const auto key = node_test::KeyFromSeed(0x46);
  testing::HandLog empty("node-h", *key, 7);
  empty.Append(NextEntry(empty));  // header only: not a type this node lacks, just nothing
  auto r = empty.Verify(testing::HandLog("node-h", *key, 7).TrustedAt(0), empty.Segment(0, 1));
  ASSERT_FALSE(r.segment.ok());
  EXPECT_EQ(r.rejection, SegmentRejection::kEntryMismatch);

  testing::HandLog forward("node-h", *key, 8);
  forward.Append(forward.NextSignal());
  protocol::Entry edit = NextEntry(forward);
  edit.mutable_label_edit()->set_signal_sequence(2);  // itself
  edit.mutable_label_edit()->add_labels("x");
  forward.Append(edit);
  auto f = forward.Verify(testing::HandLog("node-h", *key, 8).TrustedAt(0), forward.Segment(0, 2));
  ASSERT_FALSE(f.segment.ok());
  EXPECT_EQ(f.rejection, SegmentRejection::kEntryMismatch);
  EXPECT_NE(f.segment.status().message().find("label edit"), std::string::npos) << f.segment.status();
}

// A peer's entries may carry labels this code never makes (upper case, spaces, 300 bytes, repeats, more
// than 16): they stay in the signed bytes and are relayed as received, but only the valid ones are listed,
// read back, matched or written as listing keys — so the table checks stay clean, also after a withdrawal
// and a restart.
TEST(LabelEditsTest, APeersLabelsThatAreNotLabelsAreRelayedButNeverListed) {
  const auto key = node_test::KeyFromSeed(0x47);
  testing::HandLog log("node-h", *key, 9);
  protocol::Entry odd = log.NextSignal();  // label "ndii"
  for (const std::string& l : {std::string("NDII"), std::string("bad label"), std::string(300, 'x'), std::string("ndii"),
                               std::string("extra")}) {
    odd.mutable_signal()->add_labels(l);
  }
  const std::string odd_bytes = odd.SerializeAsString();
  log.AppendBytes(odd_bytes);
  protocol::Entry many = log.NextSignal();
  for (int i = 0; i < 20; ++i) many.mutable_signal()->add_labels("l" + std::to_string(i));
  log.Append(many);
  log.Append(log.NextSignal());
  protocol::Entry edit = NextEntry(log);
  edit.mutable_label_edit()->set_signal_sequence(3);
  edit.mutable_label_edit()->add_labels("ok_label");
  edit.mutable_label_edit()->add_labels("Bad!");
  log.Append(edit);

  BankHarness b;
  MakePeer(b, "node-b", 0xB4);
  auto applied = b.bank->ApplySegment("node-h", log.public_key(), log.Segment(0, 4));
  ASSERT_TRUE(applied.ok()) << applied.status();
  const SignalRef first{"node-h", 1}, second{"node-h", 2}, third{"node-h", 3};
  EXPECT_EQ(LabelsOf(*b.bank, first), (Labels{"ndii", "extra"}));
  const Labels listed_many = LabelsOf(*b.bank, second);
  ASSERT_EQ(listed_many.size(), 16u);  // "ndii" and l0 .. l14
  EXPECT_EQ(listed_many.front(), "ndii");
  EXPECT_EQ(listed_many.back(), "l14");
  EXPECT_EQ(LabelsOf(*b.bank, third), (Labels{"ok_label"}));
  EXPECT_EQ(ListLabel(*b.bank, "extra"), std::vector<SignalRef>{first});
  EXPECT_EQ(ListLabel(*b.bank, "ok_label"), std::vector<SignalRef>{third});
  EXPECT_TRUE(ListLabel(*b.bank, "l15").empty());
  std::ostringstream report;
  EXPECT_TRUE(b.bank->VerifyTables(report).ok()) << report.str();

  // Relayed as the origin signed it.
  auto relayed = b.bank->ExportSegment("node-h", 0, 100);
  ASSERT_TRUE(relayed.ok()) << relayed.status();
  protocol::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(*relayed));
  ASSERT_EQ(seg.leaves_size(), 4);
  EXPECT_EQ(seg.leaves(0).entry(), odd_bytes);

  // Withdrawn: every row it had goes; and a restart rebuilds the same view.
  log.Append(log.NextWithdrawal(1));
  ASSERT_TRUE(b.bank->ApplySegment("node-h", log.public_key(), log.Segment(4, 5)).ok());
  EXPECT_TRUE(ListLabel(*b.bank, "extra").empty());
  std::ostringstream after;
  EXPECT_TRUE(b.bank->VerifyTables(after).ok()) << after.str();
  b.Reopen();
  EXPECT_EQ(LabelsOf(*b.bank, third), (Labels{"ok_label"}));
  EXPECT_EQ(LabelsOf(*b.bank, second).size(), 16u);
}

}  // namespace
}  // namespace hashbank
