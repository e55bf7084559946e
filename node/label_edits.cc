#include "node/label_edits.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/signal_intake.h"
#include "protocol/entries.pb.h"
#include "storage/signal_store.h"

namespace hashbank {

namespace pb = ::hashbank::protocol;

std::string LabelEditRow(const SignalRef& signal) { return absl::StrCat("labels/", FormatSignalId(signal)); }

absl::StatusOr<std::optional<std::vector<std::string>>> EditedLabels(const SignalStore& store, const SignalRef& signal) {
  auto row = store.GetState(LabelEditRow(signal));
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::optional<std::vector<std::string>>();
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(std::string(**row), &sequence) || sequence == 0) {
    return absl::DataLossError(absl::StrCat("the label edit row of ", FormatSignalId(signal), " does not parse"));
  }
  auto bytes = store.GetEntry(SignalRef{signal.origin, sequence});
  if (!bytes.ok()) return bytes.status();
  pb::Entry entry;
  if (!bytes->has_value() || !entry.ParseFromString(**bytes) || !entry.has_label_edit()) {
    return absl::DataLossError(absl::StrCat("the label edit of ", FormatSignalId(signal), " is missing or corrupt"));
  }
  return std::optional<std::vector<std::string>>(LabelsOf(entry.label_edit()));
}

absl::Status AddCurrentSignalRows(const SignalStore& store, StoreBatch* batch, const pb::Signal& stored,
                                  const SignalRef& signal) {
  auto labels = CurrentLabels(store, signal, stored);
  if (!labels.ok()) return labels.status();
  pb::Signal listed = stored;
  listed.clear_labels();
  for (std::string& l : *labels) listed.add_labels(std::move(l));
  AddSignalRows(batch, listed, signal);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CurrentLabels(const SignalStore& store, const SignalRef& signal,
                                                       const pb::Signal& stored) {
  auto edited = EditedLabels(store, signal);
  if (!edited.ok()) return edited.status();
  if (edited->has_value()) return std::move(**edited);
  return LabelsOf(stored);
}

void PutLabelEditRows(StoreBatch* batch, const SignalRef& signal, std::span<const std::string> before,
                      std::span<const std::string> after, uint64_t edit_sequence) {
  // A batch applies all its puts before all its deletes: a label in both sets must not be deleted.
  for (const std::string& l : before) {
    if (std::find(after.begin(), after.end(), l) == after.end()) batch->DeleteLabel(l, signal);
  }
  for (const std::string& l : after) batch->PutLabel(l, signal);
  batch->PutState(LabelEditRow(signal), absl::StrCat(edit_sequence));
}

void DeleteLabelEditRows(StoreBatch* batch, const SignalRef& signal, std::span<const std::string> edited) {
  for (const std::string& l : edited) batch->DeleteLabel(l, signal);
  batch->DeleteState(LabelEditRow(signal));
}

}  // namespace hashbank
