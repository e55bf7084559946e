// Salt rotation on one node (docs/operators.md, "Rotating the salt"): the federation moves from its salt to
// the next one (`hashbank salt rotate` makes it: a new key, and the old exact-hash key appended to the
// exact_chain), and each member, stopped, runs `hashbank salt apply` (ApplySaltRotation) before it starts on
// the new salt:
//
//   1. Every live signal of this node's own log salted under the old salt is re-published under the new one:
//      a new Signal entry with the same labels, bank and metadata, its PDQ / robust / vPDQ / embedding values
//      un-salted with the old key and salted with the new one, its MD5 / SHA-256 HMACed once more under the
//      new exact key, and `resalted_from` naming the old sequence; the old signal is withdrawn in the same
//      durable append (reason "salt_rotation"), so its old-salt values are purged here and at every member.
//   2. This node's local salted state follows in one durable batch: the watch list's hashes are re-salted,
//      case records and HMA content state name the new signal ids, and the database records the new salt's
//      id and check value (so the node then starts only on the new salt).
//
// Resumable: a run that stops part way (a crash) leaves a consistent prefix; running it again re-publishes
// the signals still under the old salt, then does step 2 (which runs once: the database's salt tells).
// Other origins' signals are re-published by their own origins when those rotate; until then their old-salt
// values stay here and do not match (queries are salted with the new salt).
//
// Errors: FailedPrecondition when the new salt is not the direct successor of the node's salt; the bank's and
// store's errors. Not thread-safe with a serving node: for a stopped node's Bank, opened on the old salt.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "crypto/salting.h"
#include "node/bank.h"
#include "protocol/entries.pb.h"

namespace hashbank {

struct SaltRotationReport {
  uint64_t republished = 0;       // own signals re-published under the new salt by this run
  uint64_t watch_entries = 0;     // watch-list entries re-salted
  uint64_t cases = 0;             // case records that now name the new ids
  bool local_state_done = false;  // step 2 ran in this run (false: an earlier run did it)
};

// `old` with its values re-salted from `from` to `to` (which must Follow `from`), salt_id `to`'s and
// resalted_from = `old_sequence`. InvalidArgument for a value that does not decode (a damaged entry).
absl::StatusOr<protocol::Signal> ResaltSignal(const protocol::Signal& old, uint64_t old_sequence, const Salter& from,
                                              const Salter& to);

// Steps 1 and 2 above. `bank` is open on `from` (or, when a previous run finished step 2, on `to`).
absl::StatusOr<SaltRotationReport> ApplySaltRotation(Bank* bank, const Salter& from, const Salter& to);

}  // namespace hashbank
