// HandLog: one origin's signed log built by hand in a test, the way a node builds its own (entries, leaf
// hashes, every subtree), so a test can serve, tamper with or fork exactly the bytes an honest origin would
// send. Used by the protocol tests (VerifySegment against it) and the federation tests (a malicious peer
// serving it).
//
// Deterministic: the same origin, key and seed give the same entries, checkpoints and segments, byte for
// byte. Checkpoint n is stamped kHandLogTime + n, entry i is created at kHandLogTime + i. A HandLog is a
// plain value: copying it (e.g. into a handler lambda) snapshots the log. It keeps a pointer to its key, which
// must outlive it. Thread-compatible.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/signing.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"

namespace hashbank::testing {

inline constexpr int64_t kHandLogTime = 1'700'000'000'000;

class HandLog {
 public:
  HandLog(std::string origin, const SigningKey& key, uint64_t seed);

  const std::string& origin() const { return origin_; }
  const Ed25519PublicKey& public_key() const { return key_->public_key(); }
  uint64_t size() const { return tree_.size(); }
  const std::string& entry(uint64_t index) const { return entries_[index]; }
  const MerkleHash& leaf_hash(uint64_t index) const { return hashes_[index]; }

  // The next entry of this log (origin and sequence filled in): a signal with random 32-byte salted PDQ and
  // MD5 values (a salted digest's size), quality 100, label "ndii", salt id "test-salt".
  protocol::Entry NextSignal();
  // The next entry: a withdrawal of the signal at `signal_sequence`, reason "consent_withdrawn".
  protocol::Entry NextWithdrawal(uint64_t signal_sequence) const;

  void Append(const protocol::Entry& entry) { AppendBytes(entry.SerializeAsString()); }
  // Any bytes as the next leaf, e.g. an entry that does not parse.
  void AppendBytes(std::string bytes);
  void AppendSignals(uint64_t n);

  MerkleHash RootAt(uint64_t n) const;
  // The checkpoint of the first n leaves, signed by the log's key or, to forge one, by `signer`.
  CheckpointView CheckpointAt(uint64_t n, const SigningKey* signer = nullptr) const;
  // What a receiver holds after trusting this log at size n (nothing at all for n == 0).
  TrustedLog TrustedAt(uint64_t n) const;

  // Leaves [from, to) with the checkpoint at `to` and, when from > 0, the consistency proof from `from`.
  protocol::LogSegment SegmentMessage(uint64_t from, uint64_t to) const;
  std::string Segment(uint64_t from, uint64_t to) const { return SegmentMessage(from, to).SerializeAsString(); }

  // VerifySegment for this log's origin and public key.
  SegmentResult Verify(const TrustedLog& trusted, std::string_view segment) const;

 private:
  std::string origin_;
  const SigningKey* key_;
  std::mt19937_64 rng_;
  std::vector<std::string> entries_;
  std::vector<MerkleHash> hashes_;
  InMemoryTree tree_;
};

}  // namespace hashbank::testing
