#include "protocol/signed_log.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/unknown_field_set.h>

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

SegmentResult Reject(SegmentRejection why, std::string message) {
  SegmentResult r;
  r.rejection = why;
  const std::string text = absl::StrCat(std::string(SegmentRejectionName(why)), ": ", message);
  switch (why) {
    case SegmentRejection::kBadSignature: r.segment = absl::PermissionDeniedError(text); break;
    case SegmentRejection::kMalformed: r.segment = absl::InvalidArgumentError(text); break;
    default: r.segment = absl::DataLossError(text);
  }
  return r;
}

}  // namespace

std::string EquivocationEvidenceBytes(std::string_view first, std::string_view second, std::string_view reason) {
  pb::EquivocationEvidence e;
  e.mutable_first()->ParseFromString(std::string(first));
  e.mutable_second()->ParseFromString(std::string(second));
  e.set_reason(std::string(reason));
  return e.SerializeAsString();
}

std::string_view SegmentRejectionName(SegmentRejection r) {
  switch (r) {
    case SegmentRejection::kMalformed: return "malformed";
    case SegmentRejection::kBadSignature: return "bad signature";
    case SegmentRejection::kWrongOrigin: return "wrong origin";
    case SegmentRejection::kRollback: return "rollback";
    case SegmentRejection::kFork: return "fork";
    case SegmentRejection::kGap: return "gap";
    case SegmentRejection::kEntryMismatch: return "entry mismatch";
    case SegmentRejection::kBadProof: return "bad consistency proof";
    case SegmentRejection::kRootMismatch: return "root mismatch";
  }
  return "unknown";
}

CheckpointView SignCheckpoint(const std::string& origin, uint64_t tree_size, const MerkleHash& root,
                              int64_t timestamp_ms, const SigningKey& key) {
  pb::Checkpoint c;
  c.set_origin(origin);
  c.set_tree_size(tree_size);
  c.set_root_hash(std::string(root.begin(), root.end()));
  c.set_timestamp_unix_ms(timestamp_ms);
  const std::string body = c.SerializeAsString();
  const Ed25519Signature sig = key.Sign(kCheckpointDomain, body);
  pb::SignedCheckpoint signed_checkpoint;
  signed_checkpoint.set_checkpoint(body);
  signed_checkpoint.set_signature(std::string(sig.begin(), sig.end()));
  CheckpointView view;
  view.origin = origin;
  view.tree_size = tree_size;
  view.root = root;
  view.timestamp_ms = timestamp_ms;
  view.signed_bytes = signed_checkpoint.SerializeAsString();
  return view;
}

absl::StatusOr<CheckpointView> VerifyCheckpoint(std::string_view signed_bytes, std::string_view origin,
                                                const Ed25519PublicKey& key) {
  pb::SignedCheckpoint sc;
  if (!sc.ParseFromArray(signed_bytes.data(), static_cast<int>(signed_bytes.size()))) {
    return absl::InvalidArgumentError("malformed: the signed checkpoint does not parse");
  }
  if (sc.signature().size() != 64) return absl::InvalidArgumentError("malformed: a signature is 64 bytes");
  Ed25519Signature sig{};
  std::memcpy(sig.data(), sc.signature().data(), 64);
  // The signature covers the checkpoint bytes exactly as received.
  if (absl::Status s = VerifySignature(key, kCheckpointDomain, sc.checkpoint(), sig); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("bad signature: the checkpoint is not signed by ", std::string(origin), "'s key"));
  }
  pb::Checkpoint c;
  if (!c.ParseFromString(sc.checkpoint()) || c.root_hash().size() != 32) {
    return absl::InvalidArgumentError("malformed: the checkpoint does not parse");
  }
  if (c.origin() != origin) {
    return absl::FailedPreconditionError(absl::StrCat("wrong origin: the checkpoint is for \"", c.origin(), "\""));
  }
  CheckpointView view;
  view.origin = c.origin();
  view.tree_size = c.tree_size();
  std::memcpy(view.root.data(), c.root_hash().data(), 32);
  view.timestamp_ms = c.timestamp_unix_ms();
  view.signed_bytes = std::string(signed_bytes);
  return view;
}

SegmentResult VerifySegment(std::string_view origin, const Ed25519PublicKey& origin_key, const TrustedLog& trusted,
                            std::string_view segment_bytes) {
  // One arena for the whole segment: thousands of leaves without thousands of allocations. It travels with
  // the result, so the entries are parsed once here and never again by the caller.
  auto arena = std::make_shared<google::protobuf::Arena>();
  pb::LogSegment& segment = *google::protobuf::Arena::CreateMessage<pb::LogSegment>(arena.get());
  if (!segment.ParseFromArray(segment_bytes.data(), static_cast<int>(segment_bytes.size()))) {
    return Reject(SegmentRejection::kMalformed, "the segment does not parse");
  }
  auto checkpoint = VerifyCheckpoint(segment.checkpoint().SerializeAsString(), origin, origin_key);
  // The signature is checked over the embedded checkpoint bytes; re-serialising the SignedCheckpoint wrapper
  // only re-frames the two byte fields it carries, it never re-encodes what was signed.
  if (!checkpoint.ok()) {
    if (absl::IsPermissionDenied(checkpoint.status())) return Reject(SegmentRejection::kBadSignature, std::string(checkpoint.status().message()));
    if (absl::IsFailedPrecondition(checkpoint.status())) return Reject(SegmentRejection::kWrongOrigin, std::string(checkpoint.status().message()));
    return Reject(SegmentRejection::kMalformed, std::string(checkpoint.status().message()));
  }
  const uint64_t trusted_size = trusted.tree.size();
  if (checkpoint->tree_size < trusted_size) {
    return Reject(SegmentRejection::kRollback, absl::StrCat("checkpoint size ", checkpoint->tree_size,
                                                            " is below the trusted size ", trusted_size));
  }
  if (checkpoint->tree_size == trusted_size && trusted.checkpoint && trusted.checkpoint->tree_size == trusted_size &&
      checkpoint->root != trusted.checkpoint->root) {
    SegmentResult r = Reject(SegmentRejection::kFork, absl::StrCat("two signed checkpoints of size ", trusted_size,
                                                                   " with different roots: equivocation"));
    r.equivocation_evidence =
        EquivocationEvidenceBytes(trusted.checkpoint->signed_bytes, checkpoint->signed_bytes, "same size, different roots");
    return r;
  }
  if (segment.first_index() != trusted_size ||
      segment.leaves_size() != static_cast<int64_t>(checkpoint->tree_size - trusted_size)) {
    return Reject(SegmentRejection::kGap, absl::StrCat("leaves must cover [", trusted_size, ", ", checkpoint->tree_size,
                                                       "), got ", segment.leaves_size(), " from ", segment.first_index()));
  }
  if (trusted.checkpoint && trusted_size > 0) {
    std::vector<MerkleHash> proof;
    for (const std::string& h : segment.consistency_proof()) {
      if (h.size() != 32) return Reject(SegmentRejection::kMalformed, "a proof hash is 32 bytes");
      MerkleHash m;
      std::memcpy(m.data(), h.data(), 32);
      proof.push_back(m);
    }
    absl::Status consistent =
        VerifyConsistency(trusted_size, checkpoint->tree_size, trusted.tree.Root(), checkpoint->root, proof);
    if (!consistent.ok()) {
      // Rejected, but not evidence against the origin: a relay can corrupt a proof, and a receiver cannot
      // tell a bad proof from a fork. Only two signed checkpoints of one size with different roots prove
      // equivocation (above).
      return Reject(SegmentRejection::kBadProof, absl::StrCat("no valid consistency proof from the trusted checkpoint: ",
                                                              std::string(consistent.message())));
    }
  }
  // A leaf may travel without its body only if the body was purged by a withdrawal, and that withdrawal
  // must travel (with its body) in the same segment: otherwise a relay could drop a withdrawal, or a
  // signal, by sending its leaf hash alone, and every node downstream would never learn of it.
  const size_t n = static_cast<size_t>(segment.leaves_size());
  std::vector<const pb::Entry*> parsed(n, nullptr);
  std::set<uint64_t> withdrawn_in_segment;
  for (size_t i = 0; i < n; ++i) {
    const pb::LogLeaf& leaf = segment.leaves(static_cast<int>(i));
    const uint64_t index = trusted_size + i;
    if (leaf.entry().empty()) continue;
    pb::Entry& entry = *google::protobuf::Arena::CreateMessage<pb::Entry>(arena.get());
    if (!entry.ParseFromString(leaf.entry())) {
      return Reject(SegmentRejection::kMalformed, absl::StrCat("leaf ", index, ": the entry does not parse"));
    }
    // A body this schema does not know (a later oneof member) parses as BODY_NOT_SET with unknown fields:
    // kept and relayed as received. An entry with no body at all is malformed.
    const bool unknown_body = entry.body_case() == pb::Entry::BODY_NOT_SET &&
                              !entry.GetReflection()->GetUnknownFields(entry).empty();
    if (entry.origin() != origin || entry.sequence() != index + 1 || entry.schema_version() != 1 ||
        (entry.body_case() == pb::Entry::BODY_NOT_SET && !unknown_body)) {
      return Reject(SegmentRejection::kEntryMismatch,
                    absl::StrCat("leaf ", index, " holds an entry of ", entry.origin(), ":", entry.sequence(),
                                 " (schema ", entry.schema_version(), ")"));
    }
    if (entry.has_withdrawal()) {
      if (entry.withdrawal().signal_sequence() == 0 || entry.withdrawal().signal_sequence() >= entry.sequence()) {
        return Reject(SegmentRejection::kEntryMismatch,
                      absl::StrCat("leaf ", index, ": a withdrawal must name an earlier entry of its log"));
      }
      withdrawn_in_segment.insert(entry.withdrawal().signal_sequence());
    }
    if (entry.has_label_edit() &&
        (entry.label_edit().signal_sequence() == 0 || entry.label_edit().signal_sequence() >= entry.sequence())) {
      return Reject(SegmentRejection::kEntryMismatch,
                    absl::StrCat("leaf ", index, ": a label edit must name an earlier entry of its log"));
    }
    parsed[i] = &entry;
  }
  VerifiedSegment out;
  out.tree = trusted.tree;
  out.leaves.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const pb::LogLeaf& leaf = segment.leaves(static_cast<int>(i));
    VerifiedLeaf v;
    v.index = trusted_size + i;
    if (parsed[i] != nullptr) {
      v.leaf_hash = LeafHash(Bytes(leaf.entry()));
      v.entry = leaf.entry();
      v.parsed = parsed[i];
    } else {
      if (leaf.leaf_hash().size() != 32) {
        return Reject(SegmentRejection::kMalformed, absl::StrCat("leaf ", v.index, ": a body-less leaf needs its 32-byte hash"));
      }
      if (withdrawn_in_segment.count(v.index + 1) == 0) {
        return Reject(SegmentRejection::kEntryMismatch,
                      absl::StrCat("leaf ", v.index, " travels without its body but no withdrawal of it is in the segment"));
      }
      std::memcpy(v.leaf_hash.data(), leaf.leaf_hash().data(), 32);
    }
    out.tree.Append(v.leaf_hash);
    out.leaves.push_back(v);
  }
  if (out.tree.Root() != checkpoint->root) {
    return Reject(SegmentRejection::kRootMismatch, "the leaves do not hash to the signed root (a tampered entry)");
  }
  out.checkpoint = std::move(*checkpoint);
  out.arena = std::move(arena);
  out.withdrawn = std::move(withdrawn_in_segment);
  SegmentResult r;
  r.segment = std::move(out);
  return r;
}

}  // namespace hashbank
