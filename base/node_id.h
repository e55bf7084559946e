// The node-id rule: what a node's id may be, wherever one is written or read — the node's own `node.id`,
// the federation's member and peer ids (config/), the URI SAN `hashbank://node/<id>` of a node certificate
// (crypto/x509.h), the identity key file and the public card (crypto/signing.h), and the origin of every log
// entry and checkpoint.
//
// A node id is 1..64 characters of [a-z0-9._-] whose first character is a letter or a digit. Lower case only,
// so one node is never spelt two ways; no '/', '%', ':', quote or space, so it is a URI path segment as it
// stands and needs no escaping in JSON (signing.cc writes the key file by hand), YAML or log lines; never a
// leading '.', '-' or '_', so it is never "." or "..", a hidden file name or a command-line option.
//
// Thread-safe; no allocation on success.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace hashbank {

inline constexpr size_t kMaxNodeIdLength = 64;

// OK, or InvalidArgument "node id " followed by the first thing wrong with `id`, checked in this order:
//   "is empty"
//   "is 65 characters, the limit is 64"
//   "has a character outside [a-z0-9._-] at position 3"      (0-based; the id itself is not echoed)
//   "must start with a letter or a digit"
absl::Status ValidateNodeId(std::string_view id);

// The same verdict with the message lacking its subject ("is empty", "has a character outside [a-z0-9._-] at
// position 3", ...), for a caller that names the value its own way (config: "node.id: is empty").
absl::Status ValidateNodeIdUnlabelled(std::string_view id);

}  // namespace hashbank
