// ImportStep: one batch of `hashbank import` applied to a bank, as a running node does it for the batches the
// command sends (`POST /v1/import`, node/import_api.cc). A stopped node's import, whose database the command
// opened itself, gives the same results through ImportPipeline (node/import_pipeline.h), which shares the
// sorting of records below and overlaps the batches' writes.
//
// For each record: a withdrawal withdraws this node's live signals of that hash in the bank; a hash this
// node already banked in the bank (or met earlier in the batch) is a duplicate; the rest are banked through
// Bank::ImportBatch, whose one durable write also records the import's progress (the state row
// ImportProgressRow(key) = `consumed`), so an interrupted import resumes exactly after its last batch.
//
// Stateless functions; thread-safe as Bank is. Errors: storage errors from the bank (the import stops; the
// next run resumes), InvalidArgument for a bad progress key. A record the bank refuses is a reject, not an
// error.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "node/bank.h"
#include "node/import_formats.h"

namespace hashbank {

// A progress key: 32 lower-case hex digits (the CLI derives it from the file and the bank).
absl::Status CheckImportProgressKey(std::string_view key);
// The state row holding an import's progress (records consumed).
std::string ImportProgressRow(std::string_view key);
// The progress recorded under `key`: 0 when there is none; InvalidArgument for a bad key, DataLoss when the
// row does not parse, the store's error when it cannot be read.
absl::StatusOr<uint64_t> ReadImportProgress(const Bank& bank, std::string_view key);

struct ImportStepResult {
  uint64_t imported = 0, duplicates = 0, withdrawn = 0;
  std::vector<ImportReject> rejects;  // records the bank refused, with the reason
};

// Applies `records` (their input's bank is `bank_name`) and records `consumed` under `key`, as above, if the
// progress recorded under `key` is `from` (0 when none): else Aborted, nothing written ("another import of
// this file runs, or a batch was written twice"). Batches of all imports are applied one at a time (a
// process-wide mutex), so two runs of one import cannot both bank a batch.
absl::StatusOr<ImportStepResult> ImportStep(Bank& bank, const std::string& bank_name, std::string_view key,
                                            uint64_t from, uint64_t consumed, std::vector<ImportRecord> records,
                                            const Actor& actor);

// The raw hash a record banks (its type, then its bytes), a key for duplicates within an import.
using ImportHashKey = std::array<uint8_t, 33>;
ImportHashKey ImportHashKeyOf(const SignalInput& input);

// A batch's records sorted as ImportStep does, before the bank write: withdrawals applied (counted in
// `result`), duplicates counted (a hash this node banked in the bank, one `banked_meanwhile` (may be empty), or one met earlier
// in the batch), and the rest returned to be banked, with their record numbers and hash keys. Errors: the
// bank's storage errors.
using BankedMeanwhile = std::function<bool(const ImportHashKey&)>;
struct SortedImport {
  std::vector<SignalInput> inputs;
  std::vector<uint64_t> numbers;
  absl::flat_hash_set<ImportHashKey> keys;
};
absl::StatusOr<SortedImport> SortImportRecords(Bank& bank, const std::string& bank_name, std::vector<ImportRecord> records,
                                               const Actor& actor, const BankedMeanwhile& banked_meanwhile,
                                               ImportStepResult* result);
// Adds the bank's per-input results of `sorted` to `result`: imported, or a reject with its record number.
// A storage error is returned instead (the import stops; the next run resumes).
absl::Status CountImported(const std::vector<absl::StatusOr<SignalRef>>& results, const std::vector<uint64_t>& numbers,
                           ImportStepResult* result);

// One batch as `POST /v1/import` carries it (JSON; docs/api/openapi.yaml): the CLI writes it, the node reads
// it. A record's values are those import formats produce: PDQ (with its quality, or "quality_unknown"), MD5,
// SHA-256, labels, case_ref, content_id, note.
struct ImportRequest {
  std::string key;
  std::string bank;
  bool create_bank = false;
  uint64_t from = 0;      // the progress this batch continues from
  uint64_t consumed = 0;  // the progress once it is written
  std::vector<ImportRecord> records;
};
std::string ImportRequestJson(const ImportRequest& request);
// InvalidArgument naming the field; at most `max_records` records.
absl::StatusOr<ImportRequest> ParseImportRequest(std::string_view body, size_t max_records);
// The node's answer, and its reading by the CLI.
std::string ImportResultJson(const ImportStepResult& result, uint64_t consumed);
absl::StatusOr<ImportStepResult> ParseImportResult(std::string_view body);

}  // namespace hashbank
