#include "tests/support/hand_log.h"

#include <gtest/gtest.h>

#include <span>
#include <utility>

namespace hashbank::testing {
namespace {

std::span<const uint8_t> AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xFF);
  return out;
}

}  // namespace

HandLog::HandLog(std::string origin, const SigningKey& key, uint64_t seed)
    : origin_(std::move(origin)), key_(&key), rng_(seed) {}

protocol::Entry HandLog::NextSignal() {
  protocol::Entry e;
  e.set_schema_version(1);
  e.set_origin(origin_);
  e.set_sequence(size() + 1);
  e.set_created_at_unix_ms(kHandLogTime + static_cast<int64_t>(size()));
  protocol::Signal* s = e.mutable_signal();
  s->set_salt_id("test-salt");
  s->set_pdq(RandomBytes(rng_, 32));
  s->set_pdq_quality(100);
  s->set_md5(RandomBytes(rng_, 32));
  s->add_labels("ndii");
  s->set_submitted_by("member-1");
  return e;
}

protocol::Entry HandLog::NextWithdrawal(uint64_t signal_sequence) const {
  protocol::Entry e;
  e.set_schema_version(1);
  e.set_origin(origin_);
  e.set_sequence(size() + 1);
  e.set_created_at_unix_ms(kHandLogTime + static_cast<int64_t>(size()));
  e.mutable_withdrawal()->set_signal_sequence(signal_sequence);
  e.mutable_withdrawal()->set_reason("consent_withdrawn");
  return e;
}

void HandLog::AppendBytes(std::string bytes) {
  hashes_.push_back(LeafHash(AsBytes(bytes)));
  tree_.Append(hashes_.back());
  entries_.push_back(std::move(bytes));
}

void HandLog::AppendSignals(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) Append(NextSignal());
}

MerkleHash HandLog::RootAt(uint64_t n) const { return RootFromLeaves(std::span<const MerkleHash>(hashes_).first(n)); }

CheckpointView HandLog::CheckpointAt(uint64_t n, const SigningKey* signer) const {
  return SignCheckpoint(origin_, n, RootAt(n), kHandLogTime + static_cast<int64_t>(n),
                        signer != nullptr ? *signer : *key_);
}

TrustedLog HandLog::TrustedAt(uint64_t n) const {
  TrustedLog t;
  for (uint64_t i = 0; i < n; ++i) t.tree.Append(hashes_[i]);
  if (n > 0) t.checkpoint = CheckpointAt(n);
  return t;
}

protocol::LogSegment HandLog::SegmentMessage(uint64_t from, uint64_t to) const {
  protocol::LogSegment seg;
  EXPECT_TRUE(seg.mutable_checkpoint()->ParseFromString(CheckpointAt(to).signed_bytes));
  seg.set_first_index(from);
  for (uint64_t i = from; i < to; ++i) seg.add_leaves()->set_entry(entries_[i]);
  if (from > 0 && to > from) {
    auto proof = ConsistencyProof(from, to, tree_);
    EXPECT_TRUE(proof.ok()) << proof.status();
    if (proof.ok()) {
      for (const MerkleHash& h : *proof) seg.add_consistency_proof(std::string(h.begin(), h.end()));
    }
  }
  return seg;
}

SegmentResult HandLog::Verify(const TrustedLog& trusted, std::string_view segment) const {
  return VerifySegment(origin_, public_key(), trusted, segment);
}

}  // namespace hashbank::testing
