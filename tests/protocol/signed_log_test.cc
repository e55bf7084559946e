// Signed logs checked against hand-built logs: VerifyCheckpoint and VerifySegment accept exactly the
// segments an honest origin produces (from an empty or a trusted prefix, with or without entry bodies) and
// reject every tampered one with its specific reason (equivocation evidence only for a real fork); a single
// flipped bit anywhere in a segment is never accepted and never crashes.
#include "protocol/signed_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/stubs/common.h>

#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "protocol/merkle.h"
#include "tests/support/hand_log.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;
using ::hashbank::testing::HandLog;

constexpr int64_t kTime = 1'700'000'000'000;
constexpr char kOrigin[] = "node-a";

SigningKey KeyFromSeed(uint8_t fill) {
  std::array<uint8_t, SigningKey::kSeedBytes> seed{};
  seed.fill(fill);
  return std::move(SigningKey::FromSeed(seed).value());
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

// The segment is rejected for `why`, with a Status message that starts with the reason's name.
void ExpectRejected(const SegmentResult& r, SegmentRejection why) {
  ASSERT_FALSE(r.segment.ok());
  ASSERT_TRUE(r.rejection.has_value()) << r.segment.status();
  EXPECT_EQ(SegmentRejectionName(*r.rejection), SegmentRejectionName(why)) << r.segment.status();
  const std::string message(r.segment.status().message());
  EXPECT_EQ(message.rfind(std::string(SegmentRejectionName(why)), 0), 0u) << message;
  switch (why) {
    case SegmentRejection::kBadSignature: EXPECT_TRUE(absl::IsPermissionDenied(r.segment.status())); break;
    case SegmentRejection::kMalformed: EXPECT_TRUE(absl::IsInvalidArgument(r.segment.status())); break;
    default: EXPECT_TRUE(absl::IsDataLoss(r.segment.status())) << r.segment.status();
  }
}

std::string Reserialize(const pb::LogSegment& seg) { return seg.SerializeAsString(); }

// Keeps protobuf's parse complaints (e.g. invalid UTF-8 in a string field) out of the test output while
// thousands of damaged segments are parsed. Protobuf from 22 on logs through absl and has no silencer.
class QuietProtobuf {
 public:
  QuietProtobuf() {}  // NOLINT(modernize-use-equals-default): user-provided, so a const one may be declared

 private:
#if GOOGLE_PROTOBUF_VERSION < 4022000
  google::protobuf::LogSilencer silencer_;
#endif
};

// ---------------------------------------------------------------------------------------------------------
// VerifyCheckpoint

TEST(VerifyCheckpointTest, ValidCheckpointGivesItsFieldsAndExactBytes) {
  const SigningKey key = KeyFromSeed(1);
  MerkleHash root{};
  root.fill(0xAB);
  const CheckpointView cp = SignCheckpoint(kOrigin, 42, root, kTime, key);
  auto v = VerifyCheckpoint(cp.signed_bytes, kOrigin, key.public_key());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->origin, kOrigin);
  EXPECT_EQ(v->tree_size, 42u);
  EXPECT_EQ(v->root, root);
  EXPECT_EQ(v->timestamp_ms, kTime);
  EXPECT_EQ(v->signed_bytes, cp.signed_bytes);
}

TEST(VerifyCheckpointTest, AnotherKeyIsBadSignature) {
  const SigningKey key = KeyFromSeed(1);
  const SigningKey other = KeyFromSeed(2);
  const CheckpointView cp = SignCheckpoint(kOrigin, 1, EmptyTreeHash(), kTime, other);
  auto v = VerifyCheckpoint(cp.signed_bytes, kOrigin, key.public_key());
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(v.status())) << v.status();
  EXPECT_EQ(std::string(v.status().message()).rfind("bad signature", 0), 0u) << v.status();
}

TEST(VerifyCheckpointTest, AnotherOriginIsWrongOrigin) {
  const SigningKey key = KeyFromSeed(1);
  const CheckpointView cp = SignCheckpoint("node-x", 1, EmptyTreeHash(), kTime, key);
  auto v = VerifyCheckpoint(cp.signed_bytes, kOrigin, key.public_key());
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(v.status())) << v.status();
  EXPECT_EQ(std::string(v.status().message()).rfind("wrong origin", 0), 0u) << v.status();
}

TEST(VerifyCheckpointTest, GarbageIsMalformedNeverACrash) {
  const SigningKey key = KeyFromSeed(1);
  for (const std::string& garbage : {std::string(), std::string("\xff\xff\xff"), std::string(100, '\x0a')}) {
    auto v = VerifyCheckpoint(garbage, kOrigin, key.public_key());
    ASSERT_FALSE(v.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(v.status())) << v.status();
    EXPECT_EQ(std::string(v.status().message()).rfind("malformed", 0), 0u) << v.status();
  }
}

// ---------------------------------------------------------------------------------------------------------
// VerifySegment: honest segments

TEST(VerifySegmentTest, SegmentFromEmptyLogVerifies) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 1);
  log.AppendSignals(10);
  const SegmentResult r = log.Verify(log.TrustedAt(0), log.Segment(0, 10));
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
  EXPECT_FALSE(r.rejection.has_value());
  EXPECT_FALSE(r.equivocation_evidence.has_value());
  EXPECT_EQ(r.segment->checkpoint.origin, kOrigin);
  EXPECT_EQ(r.segment->checkpoint.tree_size, 10u);
  EXPECT_EQ(r.segment->checkpoint.root, log.RootAt(10));
  EXPECT_EQ(r.segment->tree.size(), 10u);
  EXPECT_EQ(r.segment->tree.Root(), log.RootAt(10));
  ASSERT_EQ(r.segment->leaves.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(r.segment->leaves[i].index, i);
    EXPECT_EQ(r.segment->leaves[i].entry, log.entry(i));
    EXPECT_EQ(r.segment->leaves[i].leaf_hash, log.leaf_hash(i));
  }
}

TEST(VerifySegmentTest, FollowUpSegmentFromEveryTrustedSizeVerifies) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 2);
  log.AppendSignals(13);
  for (uint64_t k = 1; k <= 13; ++k) {
    SCOPED_TRACE(k);
    const pb::LogSegment msg = log.SegmentMessage(k, 13);
    EXPECT_EQ(static_cast<size_t>(msg.consistency_proof_size()), ConsistencyProofLength(k, 13));
    const SegmentResult r = log.Verify(log.TrustedAt(k), Reserialize(msg));
    ASSERT_TRUE(r.segment.ok()) << r.segment.status();
    EXPECT_EQ(r.segment->leaves.size(), 13 - k);
    if (!r.segment->leaves.empty()) {
      EXPECT_EQ(r.segment->leaves.front().index, k);
    }
    EXPECT_EQ(r.segment->tree.Root(), log.RootAt(13));
  }
}

TEST(VerifySegmentTest, SegmentsChainedInSmallStepsVerify) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 3);
  log.AppendSignals(23);
  TrustedLog trusted = log.TrustedAt(0);
  uint64_t size = 0;
  while (size < 23) {
    const uint64_t end = std::min<uint64_t>(size + 5, 23);
    SegmentResult r = log.Verify(trusted, log.Segment(size, end));
    ASSERT_TRUE(r.segment.ok()) << r.segment.status();
    trusted.tree = r.segment->tree;
    trusted.checkpoint = r.segment->checkpoint;
    size = end;
  }
  EXPECT_EQ(trusted.tree.Root(), log.RootAt(23));
}

TEST(VerifySegmentTest, WithdrawalOfAnEarlierSignalVerifies) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 4);
  log.AppendSignals(4);
  log.Append(log.NextWithdrawal(2));
  const SegmentResult r = log.Verify(log.TrustedAt(2), log.Segment(2, 5));
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
}

TEST(VerifySegmentTest, WithdrawnSignalTravelsBodylessWithItsWithdrawal) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 5);
  log.AppendSignals(6);
  log.Append(log.NextWithdrawal(3));  // leaf 6 withdraws sequence 3 (leaf 2)
  pb::LogSegment msg = log.SegmentMessage(0, 7);
  msg.mutable_leaves(2)->clear_entry();
  msg.mutable_leaves(2)->set_leaf_hash(std::string(log.leaf_hash(2).begin(), log.leaf_hash(2).end()));
  const SegmentResult r = log.Verify(log.TrustedAt(0), Reserialize(msg));
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
  EXPECT_TRUE(r.segment->leaves[2].entry.empty());
  EXPECT_EQ(r.segment->leaves[2].leaf_hash, log.leaf_hash(2));
  EXPECT_EQ(r.segment->leaves[3].entry, log.entry(3));
}

pb::LogSegment WithBodyless(pb::LogSegment msg, const HandLog& log, int index) {
  msg.mutable_leaves(index)->clear_entry();
  msg.mutable_leaves(index)->set_leaf_hash(
      std::string(log.leaf_hash(static_cast<uint64_t>(index)).begin(), log.leaf_hash(static_cast<uint64_t>(index)).end()));
  return msg;
}

TEST(VerifySegmentTest, RelayStrippingAWithdrawalOrASignalIsRejected) {
  // A relay that sends a leaf as its hash alone could suppress a withdrawal (or a signal) for every node
  // downstream; the tree still verifies, so the rule is what stops it.
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 5);
  log.AppendSignals(6);
  log.Append(log.NextWithdrawal(3));
  const pb::LogSegment full = log.SegmentMessage(0, 7);
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(WithBodyless(full, log, 6))), SegmentRejection::kEntryMismatch);
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(WithBodyless(full, log, 4))), SegmentRejection::kEntryMismatch);
  // The withdrawn signal's body may be dropped only while its withdrawal travels along.
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(WithBodyless(log.SegmentMessage(0, 6), log, 2))),
                 SegmentRejection::kEntryMismatch);
}

TEST(VerifySegmentTest, BodylessLeafWithWrongHashIsRootMismatch) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 6);
  log.AppendSignals(6);
  log.Append(log.NextWithdrawal(4));  // withdraws leaf 3
  pb::LogSegment msg = log.SegmentMessage(0, 7);
  MerkleHash wrong = log.leaf_hash(3);
  wrong[0] ^= 1;
  msg.mutable_leaves(3)->clear_entry();
  msg.mutable_leaves(3)->set_leaf_hash(std::string(wrong.begin(), wrong.end()));
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kRootMismatch);
}

TEST(VerifySegmentTest, BodylessLeafWithoutA32ByteHashIsMalformed) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 7);
  log.AppendSignals(3);
  pb::LogSegment msg = log.SegmentMessage(0, 3);
  msg.mutable_leaves(1)->clear_entry();
  msg.mutable_leaves(1)->set_leaf_hash(std::string(31, 'x'));
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kMalformed);
}

TEST(VerifySegmentTest, LeafHashBesideABodyIsIgnoredAndRecomputed) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 8);
  log.AppendSignals(3);
  pb::LogSegment msg = log.SegmentMessage(0, 3);
  msg.mutable_leaves(1)->set_leaf_hash(std::string(32, 'x'));
  const SegmentResult r = log.Verify(log.TrustedAt(0), Reserialize(msg));
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
  EXPECT_EQ(r.segment->leaves[1].leaf_hash, log.leaf_hash(1));
}

TEST(VerifySegmentTest, SameCheckpointAgainWithNoLeavesVerifies) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 9);
  log.AppendSignals(5);
  const SegmentResult r = log.Verify(log.TrustedAt(5), log.Segment(5, 5));
  ASSERT_TRUE(r.segment.ok()) << r.segment.status();
  EXPECT_TRUE(r.segment->leaves.empty());
}

// ---------------------------------------------------------------------------------------------------------
// VerifySegment: every single-bit change is rejected

TEST(VerifySegmentTest, EverySingleBitFlipIsRejectedNeverAccepted) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 10);
  log.AppendSignals(7);
  const TrustedLog trusted = log.TrustedAt(3);
  const std::string good = log.Segment(3, 7);  // four leaves, a consistency proof, a checkpoint
  ASSERT_GE(good.size(), 300u);
  ASSERT_LE(good.size(), 1000u);
  ASSERT_TRUE(log.Verify(trusted, good).segment.ok());
  const QuietProtobuf quiet;
  size_t flips = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ (1u << bit));
      const SegmentResult r = log.Verify(trusted, bad);
      ASSERT_FALSE(r.segment.ok()) << "byte " << i << " bit " << bit << " was accepted";
      ASSERT_TRUE(r.rejection.has_value()) << "byte " << i << " bit " << bit;
      const std::string message(r.segment.status().message());
      ASSERT_EQ(message.rfind(std::string(SegmentRejectionName(*r.rejection)), 0), 0u) << message;
      ++flips;
    }
  }
  EXPECT_EQ(flips, good.size() * 8);
}

// ---------------------------------------------------------------------------------------------------------
// VerifySegment: targeted tampering, each with its reason

TEST(VerifySegmentTest, ChangedEntryByteIsRootMismatch) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 11);
  log.AppendSignals(6);
  pb::LogSegment msg = log.SegmentMessage(2, 6);
  // One bit inside the salted PDQ: the entry still parses and names the right origin and sequence.
  pb::Entry e;
  ASSERT_TRUE(e.ParseFromString(msg.leaves(1).entry()));
  const size_t at = msg.leaves(1).entry().find(e.signal().pdq());
  ASSERT_NE(at, std::string::npos);
  std::string tampered = msg.leaves(1).entry();
  tampered[at + 5] = static_cast<char>(tampered[at + 5] ^ 0x10);
  msg.mutable_leaves(1)->set_entry(tampered);
  ExpectRejected(log.Verify(log.TrustedAt(2), Reserialize(msg)), SegmentRejection::kRootMismatch);
}

TEST(VerifySegmentTest, EntryThatDoesNotParseIsMalformed) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 12);
  log.AppendSignals(3);
  pb::LogSegment msg = log.SegmentMessage(0, 3);
  msg.mutable_leaves(0)->set_entry(std::string("\xff\xff\xff\xff", 4));
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kMalformed);
}

TEST(VerifySegmentTest, ChangedCheckpointBytesAreBadSignature) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 13);
  log.AppendSignals(4);
  pb::LogSegment msg = log.SegmentMessage(0, 4);
  std::string cp = msg.checkpoint().checkpoint();
  cp.back() = static_cast<char>(cp.back() ^ 0x01);  // the timestamp's last varint byte
  msg.mutable_checkpoint()->set_checkpoint(cp);
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kBadSignature);

  // A checkpoint re-encoded with the same meaning but other bytes is not what was signed either.
  pb::Checkpoint parsed;
  ASSERT_TRUE(parsed.ParseFromString(log.SegmentMessage(0, 4).checkpoint().checkpoint()));
  std::string reencoded = parsed.SerializeAsString();
  reencoded += std::string("\x28\x00", 2);  // field 5 (unknown), varint 0: same checkpoint, other bytes
  pb::LogSegment msg2 = log.SegmentMessage(0, 4);
  msg2.mutable_checkpoint()->set_checkpoint(reencoded);
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg2)), SegmentRejection::kBadSignature);
}

TEST(VerifySegmentTest, ChangedSignatureIsBadSignature) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 14);
  log.AppendSignals(4);
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    pb::LogSegment msg = log.SegmentMessage(0, 4);
    std::string sig = msg.checkpoint().signature();
    sig[i] = static_cast<char>(sig[i] ^ 0x40);
    msg.mutable_checkpoint()->set_signature(sig);
    ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kBadSignature);
  }
}

TEST(VerifySegmentTest, SignedByAnotherKeyIsBadSignature) {
  const SigningKey key = KeyFromSeed(1);
  const SigningKey other = KeyFromSeed(2);
  HandLog log(kOrigin, key, 15);
  HandLog impostor(kOrigin, other, 15);  // same entries, another key
  log.AppendSignals(4);
  impostor.AppendSignals(4);
  ASSERT_EQ(log.RootAt(4), impostor.RootAt(4));
  ExpectRejected(log.Verify(log.TrustedAt(0), impostor.Segment(0, 4)), SegmentRejection::kBadSignature);
  ExpectRejected(log.Verify(log.TrustedAt(2), impostor.Segment(2, 4)), SegmentRejection::kBadSignature);
}

TEST(VerifySegmentTest, CheckpointForAnotherOriginIsWrongOrigin) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 16);
  log.AppendSignals(4);
  pb::LogSegment msg = log.SegmentMessage(0, 4);
  const CheckpointView other = SignCheckpoint("node-x", 4, log.RootAt(4), kTime, key);
  ASSERT_TRUE(msg.mutable_checkpoint()->ParseFromString(other.signed_bytes));
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(msg)), SegmentRejection::kWrongOrigin);
}

TEST(VerifySegmentTest, SmallerCheckpointThanTrustedIsRollback) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 17);
  log.AppendSignals(8);
  pb::LogSegment msg = log.SegmentMessage(0, 5);
  ExpectRejected(log.Verify(log.TrustedAt(8), Reserialize(msg)), SegmentRejection::kRollback);
  msg.set_first_index(8);
  msg.clear_leaves();
  ExpectRejected(log.Verify(log.TrustedAt(8), Reserialize(msg)), SegmentRejection::kRollback);
}

TEST(VerifySegmentTest, SameSizeOtherRootIsForkWithBothCheckpointsAsEvidence) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 18);
  HandLog fork(kOrigin, key, 19);  // the same origin and key, other entries
  log.AppendSignals(6);
  fork.AppendSignals(9);
  ASSERT_NE(log.RootAt(6), fork.RootAt(6));
  const TrustedLog trusted = log.TrustedAt(6);
  for (const std::string& seg : {fork.Segment(6, 6), fork.Segment(0, 6)}) {
    const SegmentResult r = log.Verify(trusted, seg);
    ExpectRejected(r, SegmentRejection::kFork);
    ASSERT_TRUE(r.equivocation_evidence.has_value());
    pb::EquivocationEvidence evidence;
    ASSERT_TRUE(evidence.ParseFromString(*r.equivocation_evidence));
    EXPECT_EQ(evidence.first().SerializeAsString(), trusted.checkpoint->signed_bytes);
    EXPECT_EQ(evidence.second().SerializeAsString(), fork.CheckpointAt(6).signed_bytes);
    EXPECT_FALSE(evidence.reason().empty());
    // Both halves are the origin's own signatures: anyone can check the evidence.
    auto first = VerifyCheckpoint(evidence.first().SerializeAsString(), kOrigin, key.public_key());
    auto second = VerifyCheckpoint(evidence.second().SerializeAsString(), kOrigin, key.public_key());
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->tree_size, second->tree_size);
    EXPECT_NE(first->root, second->root);
  }
}

TEST(VerifySegmentTest, MissingLeavesOrWrongFirstIndexIsGap) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 20);
  log.AppendSignals(8);
  const TrustedLog trusted = log.TrustedAt(3);

  pb::LogSegment fewer = log.SegmentMessage(3, 8);
  fewer.mutable_leaves()->RemoveLast();
  ExpectRejected(log.Verify(trusted, Reserialize(fewer)), SegmentRejection::kGap);

  pb::LogSegment more = log.SegmentMessage(3, 8);
  more.add_leaves()->set_entry(log.entry(7));
  ExpectRejected(log.Verify(trusted, Reserialize(more)), SegmentRejection::kGap);

  pb::LogSegment later = log.SegmentMessage(3, 8);
  later.set_first_index(4);
  ExpectRejected(log.Verify(trusted, Reserialize(later)), SegmentRejection::kGap);

  // Leaves from the start of the log, to a receiver that already trusts a prefix.
  ExpectRejected(log.Verify(trusted, log.Segment(0, 8)), SegmentRejection::kGap);
  // Leaves that skip what the receiver lacks.
  pb::LogSegment skipping = log.SegmentMessage(5, 8);
  ExpectRejected(log.Verify(log.TrustedAt(0), Reserialize(skipping)), SegmentRejection::kGap);
}

TEST(VerifySegmentTest, EntryOfAnotherOriginIsEntryMismatch) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 21);
  pb::Entry e = log.NextSignal();
  e.set_origin("node-x");
  log.Append(e);  // honestly signed: only the entry's own fields are wrong
  ExpectRejected(log.Verify(log.TrustedAt(0), log.Segment(0, 1)), SegmentRejection::kEntryMismatch);
}

TEST(VerifySegmentTest, EntryAtTheWrongSequenceIsEntryMismatch) {
  const SigningKey key = KeyFromSeed(1);
  for (uint64_t wrong : {uint64_t{0}, uint64_t{2}, uint64_t{4}}) {
    SCOPED_TRACE(wrong);
    HandLog log(kOrigin, key, 22);
    log.AppendSignals(2);
    pb::Entry e = log.NextSignal();  // sequence 3
    e.set_sequence(wrong);
    log.Append(e);
    ExpectRejected(log.Verify(log.TrustedAt(2), log.Segment(2, 3)), SegmentRejection::kEntryMismatch);
    ExpectRejected(log.Verify(log.TrustedAt(0), log.Segment(0, 3)), SegmentRejection::kEntryMismatch);
  }
}

TEST(VerifySegmentTest, EntryWithoutBodyOrOfAnotherSchemaIsEntryMismatch) {
  const SigningKey key = KeyFromSeed(1);
  {
    HandLog log(kOrigin, key, 23);
    pb::Entry e = log.NextSignal();
    e.clear_signal();
    log.Append(e);
    ExpectRejected(log.Verify(log.TrustedAt(0), log.Segment(0, 1)), SegmentRejection::kEntryMismatch);
  }
  {
    HandLog log(kOrigin, key, 24);
    pb::Entry e = log.NextSignal();
    e.set_schema_version(2);
    log.Append(e);
    ExpectRejected(log.Verify(log.TrustedAt(0), log.Segment(0, 1)), SegmentRejection::kEntryMismatch);
  }
}

TEST(VerifySegmentTest, WithdrawalNamingItselfOrALaterEntryIsEntryMismatch) {
  const SigningKey key = KeyFromSeed(1);
  for (uint64_t target : {uint64_t{3}, uint64_t{4}, uint64_t{100}}) {
    SCOPED_TRACE(target);
    HandLog log(kOrigin, key, 25);
    log.AppendSignals(2);
    log.Append(log.NextWithdrawal(target));  // sequence 3
    log.AppendSignals(1);
    ExpectRejected(log.Verify(log.TrustedAt(0), log.Segment(0, 4)), SegmentRejection::kEntryMismatch);
  }
}

// A bad proof is rejected, but it is not evidence against the origin: anyone relaying the origin's genuine
// checkpoints can corrupt a proof. Only two signed checkpoints of one size with different roots are.
TEST(VerifySegmentTest, BadConsistencyProofIsRejectedWithoutEquivocationEvidence) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 26);
  log.AppendSignals(11);
  const TrustedLog trusted = log.TrustedAt(5);
  const pb::LogSegment good = log.SegmentMessage(5, 11);
  ASSERT_GT(good.consistency_proof_size(), 1);

  std::vector<pb::LogSegment> bad;
  for (int i = 0; i < good.consistency_proof_size(); ++i) {
    pb::LogSegment changed = good;
    std::string h = changed.consistency_proof(i);
    h[7] = static_cast<char>(h[7] ^ 0x04);
    changed.set_consistency_proof(i, h);
    bad.push_back(changed);
  }
  pb::LogSegment missing = good;
  missing.mutable_consistency_proof()->RemoveLast();
  bad.push_back(missing);
  pb::LogSegment empty = good;
  empty.clear_consistency_proof();
  bad.push_back(empty);

  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(i);
    const SegmentResult r = log.Verify(trusted, Reserialize(bad[i]));
    ExpectRejected(r, SegmentRejection::kBadProof);
    EXPECT_FALSE(r.equivocation_evidence.has_value());
  }
  ASSERT_TRUE(log.Verify(trusted, Reserialize(good)).segment.ok());

  pb::LogSegment short_hash = good;
  short_hash.set_consistency_proof(0, "short");
  ExpectRejected(log.Verify(trusted, Reserialize(short_hash)), SegmentRejection::kMalformed);
}

TEST(VerifySegmentTest, GarbageIsRejectedNeverACrash) {
  const SigningKey key = KeyFromSeed(1);
  HandLog log(kOrigin, key, 27);
  log.AppendSignals(3);
  std::mt19937_64 rng(28);
  const QuietProtobuf quiet;
  for (int i = 0; i < 200; ++i) {
    const std::string garbage = RandomBytes(rng, rng() % 300);
    const SegmentResult r = log.Verify(log.TrustedAt(i % 2 == 0 ? 0 : 3), garbage);
    ASSERT_FALSE(r.segment.ok());
    ASSERT_TRUE(r.rejection.has_value());
  }
  ExpectRejected(log.Verify(log.TrustedAt(0), ""), SegmentRejection::kMalformed);
}

}  // namespace
}  // namespace hashbank
