// ImportPipeline: `hashbank import` into a stopped node's bank (a database this process opened alone), with
// each batch prepared while the two before it are written and indexed on worker threads. The same records
// give the same bank as ImportStep batch by batch (node/import_step.h): the same duplicates, rejects and
// withdrawals, and each batch's progress row in the batch's own durable write, so an interrupted import
// resumes exactly after its last durable batch.
//
// How, for batch k: Push first collects batch k-2, indexed meanwhile (so the index is free for k's
// duplicate lookups: indexing holds its lock), and sorts k (SortImportRecords; batch k-1, being written, counts
// as banked). Once k-1 is durable it goes to be indexed on one worker thread while k is validated, built and
// queued in the log (Bank::StartImportBatch); then k's durable write goes to another (Bank::WriteImportBatch,
// then Bank::IndexImportBatch in the next Push). So at most two batches are in flight, and the command reads
// and parses the next batch while they run. A batch holding a withdrawal first waits for both (a withdrawal
// must find the signals banked before it).
//
// Ownership: `bank` must outlive the pipeline. Thread-safety: one thread constructs, calls and destroys it
// (it holds the bank's import gate throughout: no bank is deleted or renamed meanwhile, and that thread must
// not submit otherwise). Errors: Aborted when the recorded progress is not `from` at the first batch
// (another run of this import wrote meanwhile), InvalidArgument for a batch that does not continue the last,
// and storage errors, after which every later call returns the same error. A batch's results arrive with a
// later call: Finish returns the last ones.
#pragma once

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "node/bank.h"
#include "node/import_formats.h"
#include "node/import_step.h"

namespace hashbank {

class ImportPipeline {
 public:
  ImportPipeline(Bank& bank, std::string bank_name, std::string key, Actor actor);
  // Finishes the batches in flight (durable and indexed; their results are not reported).
  ~ImportPipeline();
  ImportPipeline(const ImportPipeline&) = delete;
  ImportPipeline& operator=(const ImportPipeline&) = delete;

  // Starts `records`, the file's records after `from` up to `consumed`. Returns what became final: this
  // batch's duplicates and withdrawals, and the imported signals and rejects of a batch before it.
  absl::StatusOr<ImportStepResult> Push(uint64_t from, uint64_t consumed, std::vector<ImportRecord> records);
  // The results of the batches in flight, once they are durable and indexed.
  absl::StatusOr<ImportStepResult> Finish();

 private:
  struct Batch {
    std::vector<uint64_t> numbers;  // the record number of each input
    absl::flat_hash_set<ImportHashKey> keys;
  };
  // Waits for the batch being indexed and adds its results to `result`.
  absl::Status CollectIndexed(ImportStepResult* result);
  // Both batches in flight, durable and indexed, their results added to `result`.
  absl::Status Drain(ImportStepResult* result);
  absl::Status Fail(absl::Status s);

  Bank& bank_;
  const std::string bank_name_;
  const std::string key_;
  const Actor actor_;
  Bank::ImportGate gate_;
  bool progress_checked_ = false;
  uint64_t next_from_ = 0;
  absl::Status failed_;
  // The batch being written (durable next), and the batch before it, being indexed.
  std::future<Bank::WrittenBatch> writing_;
  Batch writing_batch_;
  std::future<std::vector<absl::StatusOr<SignalRef>>> indexing_;
  Batch indexing_batch_;
};

}  // namespace hashbank
