// Signed per-origin logs: checkpoints and the verification of a received log segment, the building block of
// federation sync. docs/protocol.md defines the bytes.
//
// - A checkpoint is the exact bytes of a `Checkpoint` message, signed with the origin's Ed25519 key over
//   kCheckpointDomain || bytes. Verification always uses the bytes received, never a re-serialisation.
// - Leaf i (0-based) of an origin's log is the Entry with sequence i + 1; its leaf hash is RFC 9162's
//   SHA-256(0x00 || entry bytes). A purged (withdrawn) entry travels as its leaf hash alone.
//
// VerifySegment checks, before anything is used: the checkpoint's signature by the origin's key, that it is
// for that origin, that it does not roll back or fork the last trusted checkpoint (a fork of two validly
// signed checkpoints is equivocation: both are returned as evidence), that the leaves cover exactly the gap
// from the trusted size to the checkpoint's size, that every entry belongs to the origin at its position,
// that the consistency proof verifies, and that the trusted tree extended by the leaves has the signed
// root. Any failure rejects the whole segment with a specific reason. Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "protocol/merkle.h"

namespace google::protobuf {
class Arena;
}

namespace hashbank {
namespace protocol {
class Entry;
}

inline constexpr SignatureDomain kCheckpointDomain{"hashbank checkpoint v1"};

struct CheckpointView {
  std::string origin;
  uint64_t tree_size = 0;
  MerkleHash root{};
  int64_t timestamp_ms = 0;
  std::string signed_bytes;  // the SignedCheckpoint message as received / as built
};

// Builds and signs a checkpoint; returns it with its SignedCheckpoint bytes.
CheckpointView SignCheckpoint(const std::string& origin, uint64_t tree_size, const MerkleHash& root,
                              int64_t timestamp_ms, const SigningKey& key);

// Parses a SignedCheckpoint and verifies its signature with `key` and that it names `origin`.
absl::StatusOr<CheckpointView> VerifyCheckpoint(std::string_view signed_bytes, std::string_view origin,
                                                const Ed25519PublicKey& key);

// Why a segment was rejected; the Status message starts with the reason's name.
enum class SegmentRejection {
  kMalformed, kBadSignature, kWrongOrigin, kRollback, kFork, kGap, kEntryMismatch, kBadProof, kRootMismatch
};
std::string_view SegmentRejectionName(SegmentRejection r);

struct TrustedLog {
  CompactTree tree;                        // the trusted prefix (size 0 for a new origin)
  std::optional<CheckpointView> checkpoint;  // the last trusted checkpoint (none for a new origin)
};

// `entry` and `parsed` point into the VerifiedSegment's arena: valid while the segment lives (moving the
// segment keeps them valid).
struct VerifiedLeaf {
  uint64_t index = 0;
  std::string_view entry;                   // the bytes received; empty when the leaf travelled without its body
  const protocol::Entry* parsed = nullptr;  // `entry` parsed (once, during verification); null when body-less
  MerkleHash leaf_hash{};
};

struct VerifiedSegment {
  std::shared_ptr<google::protobuf::Arena> arena;  // owns the parsed segment: entries' bytes and messages
  CheckpointView checkpoint;
  std::vector<VerifiedLeaf> leaves;
  CompactTree tree;  // the trusted tree extended by the leaves: its root is the checkpoint's
  std::set<uint64_t> withdrawn;  // sequences that withdrawals in this segment withdraw
};

struct SegmentResult {
  absl::StatusOr<VerifiedSegment> segment = absl::UnknownError("not verified");
  std::optional<SegmentRejection> rejection;
  // Set when the segment proves the origin signed two inconsistent checkpoints (EquivocationEvidence bytes).
  std::optional<std::string> equivocation_evidence;
};

// EquivocationEvidence bytes (protocol/log.proto): two SignedCheckpoints of one origin, byte for byte as
// signed, that cannot both be true, and why.
std::string EquivocationEvidenceBytes(std::string_view first, std::string_view second, std::string_view reason);

SegmentResult VerifySegment(std::string_view origin, const Ed25519PublicKey& origin_key, const TrustedLog& trusted,
                            std::string_view segment_bytes);

}  // namespace hashbank
