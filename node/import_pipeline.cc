#include "node/import_pipeline.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hashbank {

ImportPipeline::ImportPipeline(Bank& bank, std::string bank_name, std::string key, Actor actor)
    : bank_(bank), bank_name_(std::move(bank_name)), key_(std::move(key)), actor_(std::move(actor)), gate_(bank) {}

ImportPipeline::~ImportPipeline() {
  ImportStepResult ignored;
  (void)Drain(&ignored);  // before the gate goes
}

absl::Status ImportPipeline::Fail(absl::Status s) {
  if (failed_.ok()) failed_ = s;
  return s;
}

absl::Status ImportPipeline::CollectIndexed(ImportStepResult* result) {
  if (!indexing_.valid()) return absl::OkStatus();
  const std::vector<absl::StatusOr<SignalRef>> results = indexing_.get();
  const Batch batch = std::exchange(indexing_batch_, Batch{});
  return CountImported(results, batch.numbers, result);
}

absl::Status ImportPipeline::Drain(ImportStepResult* result) {
  absl::Status s = CollectIndexed(result);
  if (writing_.valid()) {
    const std::vector<absl::StatusOr<SignalRef>> results = bank_.IndexImportBatch(writing_.get());
    const Batch batch = std::exchange(writing_batch_, Batch{});
    if (absl::Status w = CountImported(results, batch.numbers, result); s.ok()) s = w;
  }
  return s;
}

absl::StatusOr<ImportStepResult> ImportPipeline::Push(uint64_t from, uint64_t consumed, std::vector<ImportRecord> records) {
  if (!failed_.ok()) return failed_;
  if (!progress_checked_) {
    auto recorded = ReadImportProgress(bank_, key_);
    if (!recorded.ok()) return recorded.status();
    if (*recorded != from) {
      return absl::AbortedError(absl::StrCat("the import's progress is at record ", *recorded, ", not ", from,
                                             ": another run of this import wrote meanwhile; run the import again to resume"));
    }
    progress_checked_ = true;
  } else if (from != next_from_) {
    return absl::InvalidArgumentError(absl::StrCat("a batch from record ", from, " does not continue the last, which ended at ",
                                                   next_from_));
  }
  ImportStepResult result;
  // A withdrawal looks the signals up in the index: the batches in flight first.
  if (std::any_of(records.begin(), records.end(), [](const ImportRecord& r) { return r.withdraw; })) {
    if (absl::Status s = Drain(&result); !s.ok()) return Fail(s);
  }
  // The batch two before this one, indexed meanwhile: its results, and the index free for this batch's
  // duplicate lookups (indexing holds the index's lock).
  if (absl::Status s = CollectIndexed(&result); !s.ok()) return Fail(s);
  // The batch being written may not be in the index yet: its hashes are banked meanwhile.
  const BankedMeanwhile in_flight = [this](const ImportHashKey& k) { return writing_batch_.keys.contains(k); };
  auto sorted = SortImportRecords(bank_, bank_name_, std::move(records), actor_, in_flight, &result);
  if (!sorted.ok()) return Fail(sorted.status());
  // The batch before this one, once durable, is indexed while this one is built; then this one is written.
  Bank* const bank = &bank_;
  if (writing_.valid()) {
    indexing_ = std::async(std::launch::async, [bank, written = writing_.get()]() mutable {
      return bank->IndexImportBatch(std::move(written));
    });
    indexing_batch_ = std::exchange(writing_batch_, Batch{});
  }
  Bank::StartedBatch started =
      bank_.StartImportBatch(gate_, sorted->inputs, actor_, {ImportProgressRow(key_), absl::StrCat(consumed)});
  next_from_ = consumed;
  writing_ = std::async(std::launch::async, [bank, started = std::move(started)]() mutable {
    return bank->WriteImportBatch(std::move(started));
  });
  writing_batch_ = Batch{std::move(sorted->numbers), std::move(sorted->keys)};
  return result;
}

absl::StatusOr<ImportStepResult> ImportPipeline::Finish() {
  if (!failed_.ok()) return failed_;
  ImportStepResult result;
  if (absl::Status s = Drain(&result); !s.ok()) return Fail(s);
  return result;
}

}  // namespace hashbank
