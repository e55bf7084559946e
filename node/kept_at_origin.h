// Fingerprints kept at the origin (config `federation.keep_at_origin`): the parts of this node's own signals
// that never enter the signed log, and so never leave this node. An operator keeps, say, the robust
// fingerprint here because it reveals more of the image than PDQ does (docs/threat-model.md).
//
// Storage: the kept parts of own signal N are a `protocol::Signal` holding only those fields (`robust`,
// `embedding`, `video.keyframes` and `video.keyframe_ms`), salted as they would be in the log, in the state
// row "kept/<N, 20 digits>". It is written in the durable batch that appends the signal and deleted in the
// batch that withdraws it (the withdrawal purges it as it purges the entry's bytes). This node indexes the
// signal as the entry merged with its kept parts; members see the entry only.
//
// Stateless functions and value types; thread-safe as the store is. Errors: the store's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/entries.pb.h"

namespace hashbank {

class SignalStore;

// Which fingerprint types of this node's own signals stay here.
struct KeepAtOrigin {
  bool robust = false;     // an image's robust fingerprint and a video's keyframes
  bool embedding = false;  // an embedding
  bool any() const { return robust || embedding; }
  // From the config's names ("robust", "embedding"); InvalidArgument for another name.
  static absl::StatusOr<KeepAtOrigin> FromNames(const std::vector<std::string>& names);
  std::vector<std::string> Names() const;
};

// The state row of own signal `sequence`'s kept parts.
std::string KeptRow(uint64_t sequence);
// The prefix of every such row (for scans and checks).
inline constexpr char kKeptRowPrefix[] = "kept/";

// Moves the parts `keep` names out of `sig` into the returned signal; nullopt (and `sig` unchanged) when `sig`
// has none of them.
std::optional<protocol::Signal> SplitKept(const KeepAtOrigin& keep, protocol::Signal* sig);

// Adds `kept`'s parts back to `sig` (the entry as stored in the log).
void MergeKept(const protocol::Signal& kept, protocol::Signal* sig);

// Own signal `sequence`'s kept row as stored: whether there is one, and its parts if it parses. A row that
// does not parse is `present` without `parts`: its signal goes on with its shared types (indexed, withdrawn
// and rotated; the withdrawal deletes the row all the same) and `hashbank verify` names it.
struct StoredKept {
  bool present = false;
  std::optional<protocol::Signal> parts;
};
// Errors: the store's only.
absl::StatusOr<StoredKept> ReadKept(const SignalStore& store, uint64_t sequence);

// The types `kept` holds ("robust", "embedding"), in SignalTypes' order.
std::vector<std::string> KeptTypes(const protocol::Signal& kept);

}  // namespace hashbank
