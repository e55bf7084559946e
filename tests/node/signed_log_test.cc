// Federation sync between real Banks, each with its own RocksDB in a temp dir and one shared federation
// salt: node A's signed log exported and applied at node B (whole, incrementally, in small steps), a
// withdrawal purging the signal's bytes from every file of both nodes while its leaf still verifies, tampered
// and foreign segments rejected without a trace, an equivocating origin (a fork of A signed with A's key)
// caught with evidence and refused from then on, and B's state surviving a restart.
#include "node/bank.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "crypto/federation_salt.h"
#include "crypto/salting.h"
#include "crypto/signing.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"
#include "tests/support/temp_dir.h"

namespace hashbank {

// Readable failure messages for lists of refs (found by argument-dependent lookup).
void PrintTo(const SignalRef& ref, std::ostream* os) { *os << FormatSignalId(ref); }

namespace {

namespace fs = std::filesystem;
namespace pb = ::hashbank::protocol;
using ::hashbank::testing::TempDir;

constexpr char kSaltHex[] = "8f1c2a3b4d5e6f708192a3b4c5d6e7f80112233445566778899aabbccddeeff0";
constexpr int64_t kNow = 1'700'000'000'000;  // a fixed clock: checkpoints of equal trees are equal bytes
const Actor kMember{"member-1", Role::kSubmit};

FederationSalt TestSalt() { return FederationSalt::FromHex("test-salt", kSaltHex).value(); }

std::shared_ptr<const SigningKey> KeyFromSeed(uint8_t fill) {
  std::array<uint8_t, SigningKey::kSeedBytes> seed{};
  seed.fill(fill);
  return std::make_shared<SigningKey>(SigningKey::FromSeed(seed).value());
}

// One node: its data dir, identity and (while open) its Bank.
struct TestNode {
  TestNode(std::string node_id, std::shared_ptr<const SigningKey> signing_key)
      : id(std::move(node_id)), key(std::move(signing_key)) {
    Open();
  }

  void Open() {
    BankOptions options;
    options.data_dir = dir.path().string();
    options.node_id = id;
    options.signing_key = key;
    options.now_ms = [] { return kNow; };
    auto opened = Bank::Open(std::move(options), std::make_unique<Salter>(TestSalt()));
    ASSERT_TRUE(opened.ok()) << opened.status();
    bank = std::move(*opened);
  }
  void Close() { bank.reset(); }

  const Ed25519PublicKey& public_key() const { return key->public_key(); }

  TempDir dir{"hashbank-node"};
  std::string id;
  std::shared_ptr<const SigningKey> key;
  std::unique_ptr<Bank> bank;
};

struct Submitted {
  Hash256 pdq;
  Md5Digest md5{};
  SignalRef ref;
};

Hash256 RandomPdq(std::mt19937_64& rng) {
  Hash256 h;
  for (auto& limb : h.limbs) limb = rng();
  return h;
}

std::vector<Submitted> SubmitRandom(Bank& bank, size_t n, std::mt19937_64& rng) {
  std::vector<Submitted> out;
  for (size_t i = 0; i < n; ++i) {
    Submitted s;
    s.pdq = RandomPdq(rng);
    for (auto& b : s.md5) b = static_cast<uint8_t>(rng() & 0xFF);
    SignalInput in;
    in.pdq = s.pdq;
    in.quality = 100;
    in.md5 = s.md5;
    in.labels = {"ndii"};
    auto ref = bank.Submit(in, kMember);
    EXPECT_TRUE(ref.ok()) << ref.status();
    if (!ref.ok()) return out;
    s.ref = *ref;
    out.push_back(s);
  }
  return out;
}

// The refs a bank returns for an exact (distance 0) PDQ query.
std::vector<SignalRef> PdqMatches(const Bank& bank, const Hash256& raw) {
  auto m = bank.MatchPdq(std::span<const Hash256>(&raw, 1), 0);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<SignalRef> refs;
  if (!m.ok()) return refs;
  for (const Match& x : *m) {
    EXPECT_EQ(x.distance, 0);
    refs.push_back(x.ref);
  }
  return refs;
}

std::vector<SignalRef> Md5Matches(const Bank& bank, const Md5Digest& raw) {
  auto m = bank.MatchMd5(raw);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<SignalRef> refs;
  if (m.ok()) {
    for (const Match& x : *m) refs.push_back(x.ref);
  }
  return refs;
}

// Every signal is found at `bank` by its PDQ (distance 0) and MD5, as exactly its origin's ref.
void ExpectAllMatch(const Bank& bank, const std::vector<Submitted>& signals) {
  for (const Submitted& s : signals) {
    SCOPED_TRACE(FormatSignalId(s.ref));
    EXPECT_EQ(PdqMatches(bank, s.pdq), std::vector<SignalRef>{s.ref});
    EXPECT_EQ(Md5Matches(bank, s.md5), std::vector<SignalRef>{s.ref});
  }
}

void ExpectNoneMatch(const Bank& bank, const std::vector<Submitted>& signals) {
  for (const Submitted& s : signals) {
    SCOPED_TRACE(FormatSignalId(s.ref));
    EXPECT_TRUE(PdqMatches(bank, s.pdq).empty());
    EXPECT_TRUE(Md5Matches(bank, s.md5).empty());
  }
}

std::optional<CheckpointView> Latest(const Bank& bank, const std::string& origin) {
  auto cp = bank.LatestCheckpoint(origin);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? *cp : std::nullopt;
}

uint64_t TrustedSize(const Bank& bank, const std::string& origin) {
  const auto cp = Latest(bank, origin);
  return cp ? cp->tree_size : 0;
}

std::string Export(const Bank& bank, const std::string& origin, uint64_t from, uint64_t max_leaves) {
  auto seg = bank.ExportSegment(origin, from, max_leaves);
  EXPECT_TRUE(seg.ok()) << seg.status();
  return seg.ok() ? *seg : std::string();
}

AppliedSegment Apply(Bank& bank, const TestNode& origin, const std::string& segment) {
  auto applied = bank.ApplySegment(origin.id, origin.public_key(), segment);
  EXPECT_TRUE(applied.ok()) << applied.status();
  return applied.ok() ? *applied : AppliedSegment{};
}

void ExpectStoredLogsVerify(const Bank& bank) {
  std::ostringstream report;
  const absl::Status s = bank.VerifyStoredLogs(report);
  EXPECT_TRUE(s.ok()) << s << "\n" << report.str();
}

bool StartsWith(const absl::Status& s, std::string_view prefix) {
  return std::string(s.message()).rfind(std::string(prefix), 0) == 0;
}

// The 32 bytes a salted PDQ is stored as: bit k at bit k % 8 of byte k / 8 (entries.proto).
std::string SaltedPdqBytes(const Hash256& raw) {
  const Salter salter(TestSalt());
  const PdqLimbs salted = salter.SaltPdq(raw.limbs);
  std::string out(32, '\0');
  for (size_t i = 0; i < 32; ++i) out[i] = static_cast<char>((salted[i / 8] >> (8 * (i % 8))) & 0xFF);
  return out;
}

// The files under `dir` (read raw, whole) that contain `needle`.
std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find(needle) != std::string::npos) found.push_back(it->path().filename().string());
  }
  EXPECT_FALSE(ec) << ec.message();
  return found;
}

class SignedLogSyncTest : public ::testing::Test {
 protected:
  TestNode a_{"node-a", KeyFromSeed(0xA1)};
  TestNode b_{"node-b", KeyFromSeed(0xB2)};
  std::mt19937_64 rng_{20240611};
};

// ---------------------------------------------------------------------------------------------------------
// Sync

TEST_F(SignedLogSyncTest, WholeLogAppliedMatchesEverySignalWithTheOriginsCheckpoint) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 50, rng_);
  ASSERT_EQ(signals.size(), 50u);

  const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  EXPECT_EQ(applied.leaves, 50u);
  EXPECT_EQ(applied.signals, 50u);
  EXPECT_EQ(applied.tree_size, 50u);
  ExpectAllMatch(*b_.bank, signals);
  for (const Submitted& s : signals) EXPECT_EQ(s.ref.origin, "node-a");

  const auto at_a = Latest(*a_.bank, "node-a");
  const auto at_b = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(at_a.has_value() && at_b.has_value());
  EXPECT_EQ(at_b->origin, "node-a");
  EXPECT_EQ(at_b->tree_size, at_a->tree_size);
  EXPECT_EQ(at_b->root, at_a->root);
  EXPECT_EQ(at_b->signed_bytes, at_a->signed_bytes);
  EXPECT_FALSE(Latest(*a_.bank, "node-b").has_value());

  auto info = b_.bank->Get(signals[17].ref);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->withdrawn);
  EXPECT_EQ(info->submitted_by, "member-1");
  EXPECT_EQ(info->labels, std::vector<std::string>{"ndii"});
  ExpectStoredLogsVerify(*a_.bank);
  ExpectStoredLogsVerify(*b_.bank);
}

TEST_F(SignedLogSyncTest, IncrementalSegmentFromTheTrustedSizeCarriesAConsistencyProofAndApplies) {
  std::vector<Submitted> signals = SubmitRandom(*a_.bank, 50, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const std::vector<Submitted> more = SubmitRandom(*a_.bank, 13, rng_);
  ExpectNoneMatch(*b_.bank, more);

  const uint64_t from = TrustedSize(*b_.bank, "node-a");
  ASSERT_EQ(from, 50u);
  const std::string bytes = Export(*a_.bank, "node-a", from, 1000);
  pb::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(bytes));
  EXPECT_EQ(seg.first_index(), 50u);
  EXPECT_EQ(seg.leaves_size(), 13);
  EXPECT_EQ(static_cast<size_t>(seg.consistency_proof_size()), ConsistencyProofLength(50, 63));
  EXPECT_GT(seg.consistency_proof_size(), 0);

  const AppliedSegment applied = Apply(*b_.bank, a_, bytes);
  EXPECT_EQ(applied.leaves, 13u);
  EXPECT_EQ(applied.tree_size, 63u);
  signals.insert(signals.end(), more.begin(), more.end());
  ExpectAllMatch(*b_.bank, signals);
  EXPECT_EQ(Latest(*b_.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);

  // Nothing new: the same size again applies as a no-op.
  const AppliedSegment again = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 63, 1000));
  EXPECT_EQ(again.leaves, 0u);
  EXPECT_EQ(again.tree_size, 63u);
  ExpectStoredLogsVerify(*b_.bank);
}

TEST_F(SignedLogSyncTest, SmallSegmentsAppliedRepeatedlyConverge) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 50, rng_);
  int rounds = 0;
  while (TrustedSize(*b_.bank, "node-a") < 50 && rounds < 100) {
    const uint64_t from = TrustedSize(*b_.bank, "node-a");
    const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", from, 7));
    ASSERT_GT(applied.leaves, 0u);
    EXPECT_LE(applied.leaves, 7u);
    EXPECT_EQ(applied.tree_size, std::min<uint64_t>(from + 7, 50));
    ++rounds;
  }
  EXPECT_EQ(rounds, 8);  // ceil(50 / 7)
  EXPECT_EQ(Latest(*b_.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);
  ExpectAllMatch(*b_.bank, signals);
  ExpectStoredLogsVerify(*b_.bank);

  // B relays A's log, still in small steps, to a third node that never talked to A.
  TestNode c("node-c", KeyFromSeed(0xC3));
  rounds = 0;
  while (TrustedSize(*c.bank, "node-a") < 50 && rounds < 100) {
    Apply(*c.bank, a_, Export(*b_.bank, "node-a", TrustedSize(*c.bank, "node-a"), 7));
    ++rounds;
  }
  EXPECT_EQ(TrustedSize(*c.bank, "node-a"), 50u);
  EXPECT_EQ(Latest(*c.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);
  ExpectAllMatch(*c.bank, signals);
}

// The sync pipeline: segment 2 is verified against segment 1's verified result before segment 1 is applied,
// then both apply in order. A segment verified against a state that is no longer the trusted one is refused
// as stale (Aborted) and changes nothing; verified again against the current state, it applies.
TEST_F(SignedLogSyncTest, SegmentVerifiedAheadAppliesInOrderAndAStaleOneChangesNothing) {
  const std::vector<Submitted> first = SubmitRandom(*a_.bank, 30, rng_);
  const std::vector<Submitted> second = SubmitRandom(*a_.bank, 20, rng_);
  const std::string seg1 = Export(*a_.bank, "node-a", 0, 30);
  const std::string seg2 = Export(*a_.bank, "node-a", 30, 20);

  auto base1 = b_.bank->TrustedState("node-a");
  ASSERT_TRUE(base1.ok()) << base1.status();
  EXPECT_EQ(base1->tree.size(), 0u);
  SegmentResult r1 = VerifySegment("node-a", a_.public_key(), *base1, seg1);
  ASSERT_TRUE(r1.segment.ok()) << r1.segment.status();
  TrustedLog base2{r1.segment->tree, r1.segment->checkpoint};  // ahead of B's store
  SegmentResult r2 = VerifySegment("node-a", a_.public_key(), base2, seg2);
  ASSERT_TRUE(r2.segment.ok()) << r2.segment.status();
  SegmentResult r2_again = VerifySegment("node-a", a_.public_key(), base2, seg2);

  // Out of order: segment 2's base is not B's state yet.
  auto early = b_.bank->ApplyVerified("node-a", a_.public_key(), base2, std::move(r2_again));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kAborted) << early.status();
  EXPECT_TRUE(StartsWith(early.status(), "stale")) << early.status();
  EXPECT_EQ(TrustedSize(*b_.bank, "node-a"), 0u);
  ExpectNoneMatch(*b_.bank, second);

  auto applied1 = b_.bank->ApplyVerified("node-a", a_.public_key(), *base1, std::move(r1));
  ASSERT_TRUE(applied1.ok()) << applied1.status();
  EXPECT_EQ(applied1->tree_size, 30u);
  auto applied2 = b_.bank->ApplyVerified("node-a", a_.public_key(), base2, std::move(r2));
  ASSERT_TRUE(applied2.ok()) << applied2.status();
  EXPECT_EQ(applied2->tree_size, 50u);
  EXPECT_EQ(applied2->signals, 20u);
  ExpectAllMatch(*b_.bank, first);
  ExpectAllMatch(*b_.bank, second);
  EXPECT_EQ(Latest(*b_.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);

  // Segment 1 verified against the empty state is stale now: refused, and B is unchanged.
  SegmentResult old = VerifySegment("node-a", a_.public_key(), *base1, seg1);
  ASSERT_TRUE(old.segment.ok());
  auto stale = b_.bank->ApplyVerified("node-a", a_.public_key(), *base1, std::move(old));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();
  EXPECT_EQ(TrustedSize(*b_.bank, "node-a"), 50u);
  ExpectAllMatch(*b_.bank, first);
  ExpectStoredLogsVerify(*b_.bank);
}

// ---------------------------------------------------------------------------------------------------------
// Withdrawal

TEST_F(SignedLogSyncTest, WithdrawalPurgesTheSignalFromEveryFileOfBothNodesAndItsLeafStillVerifies) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 20, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const Submitted victim = signals[7];
  std::vector<Submitted> others = signals;
  others.erase(others.begin() + 7);
  const std::string salted = SaltedPdqBytes(victim.pdq);

  // Positive control: once compacted into table files, the salted bytes are there to be found.
  ASSERT_TRUE(a_.bank->Compact().ok());
  ASSERT_TRUE(b_.bank->Compact().ok());
  EXPECT_FALSE(FilesContaining(a_.dir.path(), salted).empty());
  EXPECT_FALSE(FilesContaining(b_.dir.path(), salted).empty());

  ASSERT_TRUE(a_.bank->Withdraw(victim.ref, kMember, "consent_withdrawn").ok());
  ExpectNoneMatch(*a_.bank, {victim});
  const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  EXPECT_EQ(applied.leaves, 1u);
  EXPECT_EQ(applied.withdrawals, 1u);

  ExpectNoneMatch(*b_.bank, {victim});
  ExpectAllMatch(*b_.bank, others);
  for (Bank* bank : {a_.bank.get(), b_.bank.get()}) {
    auto info = bank->Get(victim.ref);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->withdrawn);
    EXPECT_TRUE(info->signal_types.empty());
    EXPECT_EQ(info->withdrawn_at_ms, kNow);
  }
  ExpectStoredLogsVerify(*a_.bank);
  ExpectStoredLogsVerify(*b_.bank);

  ASSERT_TRUE(a_.bank->Compact().ok());
  ASSERT_TRUE(b_.bank->Compact().ok());
  EXPECT_EQ(FilesContaining(a_.dir.path(), salted), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(b_.dir.path(), salted), std::vector<std::string>{});
  // The other signals' bytes are still there: the purge was not a wipe.
  EXPECT_FALSE(FilesContaining(a_.dir.path(), SaltedPdqBytes(others[0].pdq)).empty());
  EXPECT_FALSE(FilesContaining(b_.dir.path(), SaltedPdqBytes(others[0].pdq)).empty());

  // The log is intact: the withdrawn signal travels as its leaf hash alone, and a new node verifies it.
  const std::string whole = Export(*a_.bank, "node-a", 0, 1000);
  pb::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(whole));
  ASSERT_EQ(seg.leaves_size(), 21);
  const int victim_index = static_cast<int>(victim.ref.sequence - 1);
  EXPECT_TRUE(seg.leaves(victim_index).entry().empty());
  EXPECT_EQ(seg.leaves(victim_index).leaf_hash().size(), 32u);
  EXPECT_EQ(whole.find(salted), std::string::npos);
  for (int i = 0; i < seg.leaves_size(); ++i) {
    if (i != victim_index) {
      EXPECT_FALSE(seg.leaves(i).entry().empty()) << i;
    }
  }

  TestNode c("node-c", KeyFromSeed(0xC3));
  const AppliedSegment at_c = Apply(*c.bank, a_, whole);
  EXPECT_EQ(at_c.leaves, 21u);
  EXPECT_EQ(at_c.withdrawals, 1u);
  ExpectNoneMatch(*c.bank, {victim});
  ExpectAllMatch(*c.bank, others);
  auto info = c.bank->Get(victim.ref);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->withdrawn);
  ExpectStoredLogsVerify(*c.bank);
  EXPECT_EQ(Latest(*c.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);

  // B's relay of the purged log verifies too.
  TestNode d("node-d", KeyFromSeed(0xD4));
  Apply(*d.bank, a_, Export(*b_.bank, "node-a", 0, 1000));
  ExpectNoneMatch(*d.bank, {victim});
  ExpectAllMatch(*d.bank, others);
}

TEST_F(SignedLogSyncTest, SignalAndItsWithdrawalInOneSegmentNeverStoreTheSignal) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 5, rng_);
  ASSERT_TRUE(a_.bank->Withdraw(signals[2].ref, kMember, "consent_withdrawn").ok());
  const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  EXPECT_EQ(applied.leaves, 6u);
  ExpectNoneMatch(*b_.bank, {signals[2]});
  ASSERT_TRUE(b_.bank->Compact().ok());
  EXPECT_EQ(FilesContaining(b_.dir.path(), SaltedPdqBytes(signals[2].pdq)), std::vector<std::string>{});
  ExpectStoredLogsVerify(*b_.bank);
}

TEST_F(SignedLogSyncTest, SmallSegmentEndingOnAWithdrawnSignalIsExtendedToCarryItsWithdrawal) {
  // Export [0, 3) while signal 3 is purged: the withdrawal (sequence 6) must travel along, or the receiver
  // would have to take a body-less leaf on trust.
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 5, rng_);
  ASSERT_TRUE(a_.bank->Withdraw(signals[2].ref, kMember, "consent_withdrawn").ok());
  const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 3));
  EXPECT_EQ(applied.tree_size, 6u);
  EXPECT_EQ(applied.withdrawals, 1u);
  ExpectNoneMatch(*b_.bank, {signals[2]});
  ExpectAllMatch(*b_.bank, {signals[0], signals[1]});
}

TEST_F(SignedLogSyncTest, SuspendedOriginsWithdrawalsAreStillObeyedAndItsNewSignalsRefused) {
  const std::vector<Submitted> before = SubmitRandom(*a_.bank, 3, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  ExpectAllMatch(*b_.bank, before);
  ASSERT_TRUE(b_.bank->Suspend("node-a", /*exclude_from_matching=*/false, kMember).ok());
  // The origin withdraws one of its signals and submits a new one.
  ASSERT_TRUE(a_.bank->Withdraw(before[1].ref, kMember, "consent_withdrawn").ok());
  const std::vector<Submitted> after = SubmitRandom(*a_.bank, 1, rng_);
  const AppliedSegment applied = Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  EXPECT_EQ(applied.withdrawals, 1u);
  ExpectNoneMatch(*b_.bank, {before[1]});  // the victim's withdrawal is obeyed even from a suspended member
  ExpectNoneMatch(*b_.bank, after);         // new signals of a suspended member never match here
  ExpectAllMatch(*b_.bank, {before[0], before[2]});
  ExpectStoredLogsVerify(*b_.bank);
  // The refusal survives a restart (the rebuild respects it).
  b_.Close();
  b_.Open();
  ExpectNoneMatch(*b_.bank, after);
  ExpectAllMatch(*b_.bank, {before[0], before[2]});
  std::ostringstream report;
  EXPECT_TRUE(b_.bank->VerifyTables(report).ok()) << report.str();  // refused signals need no rows
  // Lifting the suspension accepts what was stored meanwhile, at once (not only after a restart), with the
  // index rows `verify` expects of every stored signal; and so it stays after a restart.
  ASSERT_TRUE(b_.bank->Unsuspend("node-a", kMember).ok());
  ExpectAllMatch(*b_.bank, after);
  ExpectNoneMatch(*b_.bank, {before[1]});
  std::ostringstream lifted;
  EXPECT_TRUE(b_.bank->VerifyTables(lifted).ok()) << lifted.str();
  EXPECT_NE(lifted.str().find("ok   signals' index rows: 3 stored signals"), std::string::npos) << lifted.str();
  b_.Close();
  b_.Open();
  ExpectAllMatch(*b_.bank, after);
  EXPECT_TRUE(absl::IsNotFound(b_.bank->Unsuspend("node-a", kMember)));
}

// Watch lists and a suspension: the scanner passes a suspended origin's new signals without matching them
// (they match nothing here). Lifting the suspension has it tell, once, the watch entry a released signal
// matches; nothing is told twice, after another scan or a restart, and a signal withdrawn before the lift
// is never told.
TEST_F(SignedLogSyncTest, SignalsReleasedByAnUnsuspendAreMatchedAgainstTheWatchListOnce) {
  Notifications* notes = b_.bank->notifications();
  auto hook = notes->CreateWebhook("http://127.0.0.1:9/hook", {"match.retroactive"}, kMember.name, "admin");
  ASSERT_TRUE(hook.ok()) << hook.status();
  const std::vector<Submitted> before = SubmitRandom(*a_.bank, 2, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  ASSERT_TRUE(notes->Scan().ok());
  ASSERT_TRUE(b_.bank->Suspend("node-a", /*exclude_from_matching=*/false, kMember).ok());
  const std::vector<Submitted> held = SubmitRandom(*a_.bank, 3, rng_);  // node-a:3..5
  ASSERT_TRUE(a_.bank->Withdraw(held[2].ref, kMember, "consent_withdrawn").ok());
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  std::vector<WatchInput> watch(2);
  watch[0].content_ref = "post/1";
  watch[0].pdq = held[0].pdq;
  watch[1].content_ref = "post/3";
  watch[1].md5 = held[2].md5;  // withdrawn while held: never told
  ASSERT_TRUE(b_.bank->AddWatch(watch, kMember).ok());
  ASSERT_TRUE(notes->Scan().ok());
  EXPECT_EQ(notes->queued(), 0u) << "a suspended origin's signals match nothing";

  ASSERT_TRUE(b_.bank->Unsuspend("node-a", kMember).ok());
  ASSERT_TRUE(notes->Scan().ok());
  std::vector<Delivery> due = notes->Due(std::numeric_limits<int64_t>::max(), 100);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_NE(due[0].body.find("\"type\":\"match.retroactive\""), std::string::npos) << due[0].body;
  EXPECT_NE(due[0].body.find("\"id\":\"node-a:3\""), std::string::npos) << due[0].body;
  EXPECT_NE(due[0].body.find("\"content_ref\":\"post/1\""), std::string::npos) << due[0].body;
  ASSERT_TRUE(notes->Scan().ok());
  EXPECT_EQ(notes->queued(), 1u) << "told once";
  b_.Close();
  b_.Open();
  ASSERT_TRUE(b_.bank->notifications()->Scan().ok());
  EXPECT_EQ(b_.bank->notifications()->queued(), 1u) << "told once, restart or not";
  // The pair is remembered: the signal's withdrawal now tells the member.
  auto hook2 = b_.bank->notifications()->CreateWebhook("http://127.0.0.1:9/w", {"signal.withdrawn"}, kMember.name, "admin");
  ASSERT_TRUE(hook2.ok());
  ASSERT_TRUE(a_.bank->Withdraw(held[0].ref, kMember, "consent_withdrawn").ok());
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  ASSERT_TRUE(b_.bank->notifications()->Scan().ok());
  EXPECT_EQ(b_.bank->notifications()->queued(), 2u);
}

// A database from before session 10 may hold a member's signals without index rows (a suspension lifted by
// an older version): the first start with this version writes them, once, and verify is clean again.
TEST_F(SignedLogSyncTest, TheFirstStartWritesIndexRowsAMembersSignalsLack) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 3, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const SignalRef bare = signals[1].ref;
  b_.Close();
  {
    auto store = SignalStore::Open(b_.dir.path().string() + "/db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto md5 = (*store)->GetExactRow(ExactKind8::kMd5, bare);
    ASSERT_TRUE(md5.ok() && md5->has_value());
    StoreBatch batch;  // what the older Unsuspend left: the entry, no rows
    batch.DeleteExact(ExactKind8::kMd5, **md5, bare);
    batch.DeleteLabel("ndii", bare);
    batch.DeleteLabel(BankListKey(kDefaultBank), bare);
    batch.DeleteState("migration/held_rows");
    ASSERT_TRUE((*store)->Commit(std::move(batch), kNow).ok());
  }
  b_.Open();
  std::ostringstream report;
  EXPECT_TRUE(b_.bank->VerifyTables(report).ok()) << report.str();
  SignalListing listing;
  listing.label = "ndii";
  auto listed = b_.bank->ListSignals(listing);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 3u);
  ExpectAllMatch(*b_.bank, signals);
}

// ---------------------------------------------------------------------------------------------------------
// Rejected segments

TEST_F(SignedLogSyncTest, TamperedEntryIsRootMismatchAndChangesNothing) {
  const std::vector<Submitted> first = SubmitRandom(*a_.bank, 20, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const std::vector<Submitted> second = SubmitRandom(*a_.bank, 10, rng_);
  const std::string good = Export(*a_.bank, "node-a", 20, 1000);
  const auto before = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(before.has_value());

  pb::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(good));
  std::string entry = seg.leaves(3).entry();
  const size_t at = entry.find(SaltedPdqBytes(second[3].pdq));
  ASSERT_NE(at, std::string::npos);
  entry[at + 11] = static_cast<char>(entry[at + 11] ^ 0x20);
  seg.mutable_leaves(3)->set_entry(entry);

  auto r = b_.bank->ApplySegment("node-a", a_.public_key(), seg.SerializeAsString());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(StartsWith(r.status(), "root mismatch")) << r.status();
  const auto after = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->signed_bytes, before->signed_bytes);
  ExpectAllMatch(*b_.bank, first);
  ExpectNoneMatch(*b_.bank, second);
  EXPECT_FALSE(b_.bank->IsEquivocating("node-a"));
  EXPECT_TRUE(b_.bank->Evidence("node-a")->empty());
  ExpectStoredLogsVerify(*b_.bank);

  // The genuine segment still applies.
  Apply(*b_.bank, a_, good);
  ExpectAllMatch(*b_.bank, second);
}

TEST_F(SignedLogSyncTest, SegmentCheckedWithAnotherKeyIsBadSignature) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 10, rng_);
  const std::string seg = Export(*a_.bank, "node-a", 0, 1000);
  const auto wrong_key = KeyFromSeed(0xEE);

  auto r = b_.bank->ApplySegment("node-a", wrong_key->public_key(), seg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_TRUE(StartsWith(r.status(), "bad signature")) << r.status();
  EXPECT_FALSE(Latest(*b_.bank, "node-a").has_value());
  ExpectNoneMatch(*b_.bank, signals);

  // Once A is trusted with its key, another key is refused even for a segment it did sign.
  Apply(*b_.bank, a_, seg);
  TestNode impostor("node-a", wrong_key);
  SubmitRandom(*impostor.bank, 12, rng_);
  auto r2 = b_.bank->ApplySegment("node-a", wrong_key->public_key(), Export(*impostor.bank, "node-a", 10, 1000));
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(StartsWith(r2.status(), "bad signature")) << r2.status();
  EXPECT_EQ(TrustedSize(*b_.bank, "node-a"), 10u);
  EXPECT_FALSE(b_.bank->IsEquivocating("node-a"));
}

TEST_F(SignedLogSyncTest, SegmentOfAnOriginsOwnLogIsRefusedByThatOrigin) {
  SubmitRandom(*b_.bank, 3, rng_);
  auto r = b_.bank->ApplySegment("node-b", b_.public_key(), Export(*b_.bank, "node-b", 0, 1000));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(TrustedSize(*b_.bank, "node-b"), 3u);
}

TEST_F(SignedLogSyncTest, CorruptedConsistencyProofDoesNotBanAnHonestOrigin) {
  // A bad proof is what any relay or network path can produce from A's genuine checkpoints; it shows
  // nothing about A. The segment is refused, but A must not be taken for an equivocator.
  SubmitRandom(*a_.bank, 20, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const std::vector<Submitted> more = SubmitRandom(*a_.bank, 9, rng_);
  const std::string good = Export(*a_.bank, "node-a", 20, 1000);
  pb::LogSegment seg;
  ASSERT_TRUE(seg.ParseFromString(good));
  ASSERT_GT(seg.consistency_proof_size(), 0);
  std::string h = seg.consistency_proof(0);
  h[0] = static_cast<char>(h[0] ^ 1);
  seg.set_consistency_proof(0, h);

  auto r = b_.bank->ApplySegment("node-a", a_.public_key(), seg.SerializeAsString());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(StartsWith(r.status(), "bad consistency proof")) << r.status();
  EXPECT_EQ(TrustedSize(*b_.bank, "node-a"), 20u);
  EXPECT_FALSE(b_.bank->IsEquivocating("node-a"));
  auto applied = b_.bank->ApplySegment("node-a", a_.public_key(), good);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ExpectAllMatch(*b_.bank, more);
}

// ---------------------------------------------------------------------------------------------------------
// Equivocation

TEST_F(SignedLogSyncTest, ForkedOriginIsCaughtWithEvidenceAndRefusedFromThenOn) {
  const std::vector<Submitted> signals = SubmitRandom(*a_.bank, 10, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  const auto trusted = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(trusted.has_value());
  ASSERT_EQ(trusted->tree_size, 10u);

  // A': the same node id and signing key, other submissions: a fork of A's log.
  TestNode fork("node-a", a_.key);
  const std::vector<Submitted> forked = SubmitRandom(*fork.bank, 15, rng_);
  const std::string fork_seg = Export(*fork.bank, "node-a", 0, 10);  // a checkpoint at B's trusted size
  pb::LogSegment parsed;
  ASSERT_TRUE(parsed.ParseFromString(fork_seg));
  auto fork_cp = VerifyCheckpoint(parsed.checkpoint().SerializeAsString(), "node-a", a_.public_key());
  ASSERT_TRUE(fork_cp.ok()) << fork_cp.status();
  ASSERT_EQ(fork_cp->tree_size, 10u);
  ASSERT_NE(fork_cp->root, trusted->root);

  auto r = b_.bank->ApplySegment("node-a", a_.public_key(), fork_seg);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(StartsWith(r.status(), "fork")) << r.status();
  EXPECT_TRUE(b_.bank->IsEquivocating("node-a"));
  auto evidence = b_.bank->Evidence("node-a");
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  ASSERT_EQ(evidence->size(), 1u);
  pb::EquivocationEvidence e;
  ASSERT_TRUE(e.ParseFromString(evidence->front()));
  EXPECT_EQ(e.first().SerializeAsString(), trusted->signed_bytes);
  EXPECT_EQ(e.second().SerializeAsString(), fork_cp->signed_bytes);
  auto first = VerifyCheckpoint(e.first().SerializeAsString(), "node-a", a_.public_key());
  auto second = VerifyCheckpoint(e.second().SerializeAsString(), "node-a", a_.public_key());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->tree_size, second->tree_size);
  EXPECT_NE(first->root, second->root);

  // Nothing of the fork was applied; what was trusted stays.
  ExpectNoneMatch(*b_.bank, forked);
  ExpectAllMatch(*b_.bank, signals);
  EXPECT_EQ(Latest(*b_.bank, "node-a")->signed_bytes, trusted->signed_bytes);

  // From now on even the real A's valid segments are refused, also after a restart.
  const std::vector<Submitted> later = SubmitRandom(*a_.bank, 5, rng_);
  const std::string valid = Export(*a_.bank, "node-a", 10, 1000);
  auto refused = b_.bank->ApplySegment("node-a", a_.public_key(), valid);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  b_.Close();
  b_.Open();
  ASSERT_NE(b_.bank, nullptr);
  EXPECT_TRUE(b_.bank->IsEquivocating("node-a"));
  EXPECT_FALSE(b_.bank->ApplySegment("node-a", a_.public_key(), valid).ok());
  ExpectNoneMatch(*b_.bank, later);
  EXPECT_EQ(b_.bank->Evidence("node-a")->size(), 1u);
  // Other origins are unaffected.
  TestNode c("node-c", KeyFromSeed(0xC3));
  const std::vector<Submitted> from_c = SubmitRandom(*c.bank, 3, rng_);
  Apply(*b_.bank, c, Export(*c.bank, "node-c", 0, 1000));
  ExpectAllMatch(*b_.bank, from_c);
}

// ---------------------------------------------------------------------------------------------------------
// Restart

TEST_F(SignedLogSyncTest, ReceiverRestartKeepsMatchesAndTrustedCheckpoint) {
  std::vector<Submitted> signals = SubmitRandom(*a_.bank, 30, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 0, 1000));
  ASSERT_TRUE(a_.bank->Withdraw(signals[4].ref, kMember, "consent_withdrawn").ok());
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", 30, 1000));
  const Submitted withdrawn = signals[4];
  signals.erase(signals.begin() + 4);
  const auto before = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(before.has_value());

  b_.Close();
  b_.Open();
  ASSERT_NE(b_.bank, nullptr);
  ExpectAllMatch(*b_.bank, signals);
  ExpectNoneMatch(*b_.bank, {withdrawn});
  const auto after = Latest(*b_.bank, "node-a");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->signed_bytes, before->signed_bytes);
  EXPECT_EQ(after->tree_size, 31u);
  ExpectStoredLogsVerify(*b_.bank);

  // Sync carries on from the restored tree.
  const std::vector<Submitted> more = SubmitRandom(*a_.bank, 6, rng_);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  ExpectAllMatch(*b_.bank, more);
  EXPECT_EQ(Latest(*b_.bank, "node-a")->root, Latest(*a_.bank, "node-a")->root);

  // And the origin's own log survives its restart too.
  a_.Close();
  a_.Open();
  ASSERT_NE(a_.bank, nullptr);
  const std::vector<Submitted> after_restart = SubmitRandom(*a_.bank, 2, rng_);
  EXPECT_EQ(after_restart.front().ref.sequence, 38u);
  Apply(*b_.bank, a_, Export(*a_.bank, "node-a", TrustedSize(*b_.bank, "node-a"), 1000));
  ExpectAllMatch(*b_.bank, after_restart);
  ExpectStoredLogsVerify(*a_.bank);
}

}  // namespace
}  // namespace hashbank
