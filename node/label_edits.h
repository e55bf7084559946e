// Label edits: an origin replaces the labels of one of its signals with a signed `LabelEdit` entry in its
// own log (protocol/entries.proto). The signal entry is never rewritten (its bytes are signed); what a
// signal's labels are now is its latest edit, else the labels it was submitted with.
//
// Storage: a state row "labels/<signal id>" holds the sequence (decimal) of the latest edit that applied;
// the `labels` listing rows always hold the current labels. Both are written in the batch that stores the
// edit, by the own log (Bank) or by the replica (LogReplica), and deleted with the signal's purge.
//
// Stateless functions; thread-safe as the store is. Errors: the store's; DataLoss for a state row or edit
// entry that does not parse.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/records.h"

namespace hashbank {

class SignalStore;
class StoreBatch;
namespace protocol {
class Signal;
}  // namespace protocol

// The state row naming a signal's latest label edit.
std::string LabelEditRow(const SignalRef& signal);

// The labels of the latest edit that applied to `signal`, or nullopt if it was never edited.
absl::StatusOr<std::optional<std::vector<std::string>>> EditedLabels(const SignalStore& store, const SignalRef& signal);

// The signal's current labels: the edited ones, else `stored`'s own.
absl::StatusOr<std::vector<std::string>> CurrentLabels(const SignalStore& store, const SignalRef& signal,
                                                       const protocol::Signal& stored);

// A stored signal's index rows as it is now (AddSignalRows with its current labels), into `batch`.
absl::Status AddCurrentSignalRows(const SignalStore& store, StoreBatch* batch, const protocol::Signal& stored,
                                  const SignalRef& signal);

// Rows of an edit: the listing rows move from `before` (the labels the batch's other rows leave listed) to
// `after`, and the state row names `edit_sequence`. A batch applies its puts before its deletes, so one call
// per signal and batch: several edits of one signal in a batch are folded into one call by the caller.
void PutLabelEditRows(StoreBatch* batch, const SignalRef& signal, std::span<const std::string> before,
                      std::span<const std::string> after, uint64_t edit_sequence);

// With a purge of an edited signal: its edited labels' listing rows and the state row go too (the rows of
// the labels it was submitted with go with DeleteSignalRows).
void DeleteLabelEditRows(StoreBatch* batch, const SignalRef& signal, std::span<const std::string> edited);

}  // namespace hashbank
