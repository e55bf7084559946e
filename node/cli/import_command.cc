#include "node/cli/import_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/sha256.h"
#include "node/entry_bytes.h"
#include "node/import_formats.h"
#include "node/import_pipeline.h"
#include "node/import_step.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

constexpr size_t kRejectsListed = 20;

// The progress key of importing `file` into `bank` (32 hex; its row: ImportProgressRow): from the file's
// absolute path, size and modification time, so that a changed file starts over.
std::string ProgressKey(const std::string& file, const std::string& bank) {
  std::error_code ec;
  const std::string path = fs::absolute(file, ec).string();
  const auto size = fs::file_size(file, ec);
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  const Sha256Hash h = Sha256(absl::StrCat(path, "\n", bank, "\n", size, "\n", mtime));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(h.data()), 16));
}

// Where the batches go: a stopped node's bank, opened by this command, or a running node, through its member
// API (`POST /v1/import`, the same ImportStep in the node). Either way each batch and the progress are one
// durable write there.
class ImportTarget {
 public:
  virtual ~ImportTarget() = default;
  // The bank exists (made with `create`), or NotFound.
  virtual absl::Status EnsureBank(const std::string& bank, bool create) = 0;
  virtual absl::StatusOr<uint64_t> Progress(const std::string& key) = 0;
  // May move `request.records` out (the caller reads only its other fields afterwards). Returns the results
  // that became final: this batch's, or, for a pipelined target, partly the previous batch's.
  virtual absl::StatusOr<ImportStepResult> Step(ImportRequest& request) = 0;
  // The results still outstanding after the last Step.
  virtual absl::StatusOr<ImportStepResult> Finish() { return ImportStepResult{}; }
};

class StoppedNode : public ImportTarget {
 public:
  explicit StoppedNode(std::unique_ptr<Bank> bank) : bank_(std::move(bank)) {}
  absl::Status EnsureBank(const std::string& bank, bool create) override {
    if (bank_->BankConfigured(bank)) return absl::OkStatus();
    if (!create) {
      return absl::NotFoundError(absl::StrCat("no bank ", bank, " on this node: pass --create-bank, or create it with POST /c/banks"));
    }
    BankConfig c;
    c.name = bank;
    return bank_->CreateBank(c, kActor).status();
  }
  absl::StatusOr<uint64_t> Progress(const std::string& key) override { return ReadImportProgress(*bank_, key); }
  // Batches go through an ImportPipeline: the next is prepared while the last is written and indexed.
  absl::StatusOr<ImportStepResult> Step(ImportRequest& r) override {
    if (!pipeline_) pipeline_ = std::make_unique<ImportPipeline>(*bank_, r.bank, r.key, kActor);
    return pipeline_->Push(r.from, r.consumed, std::move(r.records));
  }
  absl::StatusOr<ImportStepResult> Finish() override {
    if (!pipeline_) return ImportStepResult{};
    return pipeline_->Finish();
  }

 private:
  static inline const Actor kActor{"cli-import", Role::kAdmin};
  std::unique_ptr<Bank> bank_;
  std::unique_ptr<ImportPipeline> pipeline_;  // after bank_: destroyed first
};

class RunningNode : public ImportTarget {
 public:
  // `max_records` and `max_bytes`: the node's limits.max_batch_items and max_json_body_bytes (its config).
  RunningNode(std::unique_ptr<FederationClient> client, size_t max_records, size_t max_bytes)
      : client_(std::move(client)), max_records_(std::max<size_t>(1, max_records)), max_bytes_(max_bytes) {}
  absl::Status EnsureBank(const std::string&, bool) override {
    return absl::OkStatus();  // the node checks it with every batch (which carries create_bank)
  }
  absl::StatusOr<uint64_t> Progress(const std::string& key) override {
    auto answer = client_->Get(absl::StrCat("/v1/import/", key));
    if (!answer.ok()) return answer.status();
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(*answer, ec);
    const boost::json::value* c = !ec && v.is_object() ? v.as_object().if_contains("consumed") : nullptr;
    if (c == nullptr || !c->is_number()) return absl::DataLossError("the node's import progress is not {\"consumed\": N}");
    return c->to_number<uint64_t>();
  }
  // A batch larger than the node takes (records, or bytes of JSON: long notes) goes as several requests; all
  // but the last keep the progress where it was (a crash in between redoes them: their hashes are then
  // duplicates, never banked twice).
  absl::StatusOr<ImportStepResult> Step(ImportRequest& r) override {
    ImportStepResult total;
    size_t next = 0;
    do {
      ImportRequest part;
      part.key = r.key;
      part.bank = r.bank;
      part.create_bank = r.create_bank;
      part.from = r.from;
      size_t n = std::min(max_records_, r.records.size() - next);
      std::string body;
      while (true) {
        part.records.assign(r.records.begin() + static_cast<std::ptrdiff_t>(next),
                            r.records.begin() + static_cast<std::ptrdiff_t>(next + n));
        part.consumed = next + n == r.records.size() ? r.consumed : r.from;
        body = ImportRequestJson(part);
        if (body.size() <= max_bytes_ * 9 / 10 || n <= 1) break;
        n = (n + 1) / 2;
      }
      auto answer = client_->Post("/v1/import", body);
      if (!answer.ok()) return answer.status();
      auto step = ParseImportResult(*answer);
      if (!step.ok()) return step.status();
      total.imported += step->imported;
      total.duplicates += step->duplicates;
      total.withdrawn += step->withdrawn;
      for (ImportReject& x : step->rejects) total.rejects.push_back(std::move(x));
      next += n;
    } while (next < r.records.size());
    return total;
  }

 private:
  std::unique_ptr<FederationClient> client_;
  const size_t max_records_, max_bytes_;
};

}  // namespace

int RunImportCommand(const NodeOverrides& overrides, const ImportCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const absl::Status& s) {
    err << "hashbank import: " << s.message() << '\n';
    return 1;
  };
  const std::string bank_name = o.bank.empty() ? std::string(kDefaultBank) : o.bank;
  if (!IsValidBankName(bank_name)) return fail(absl::InvalidArgumentError("--bank: 1-64 characters of A-Z, 0-9, _"));
  auto format = ParseImportFormat(o.format);
  if (!format.ok()) return fail(format.status());
  std::unique_ptr<ImportTarget> target;
  auto bank = OpenStoppedNode(overrides, "import sends its batches to it", err);
  if (bank.ok()) {
    target = std::make_unique<StoppedNode>(std::move(*bank));
  } else if (absl::IsFailedPrecondition(bank.status()) &&
             std::string(bank.status().message()).find("in use") != std::string::npos) {
    // The node runs (its database is locked): the batches go through its member API, as the admin.
    auto config = LoadNodeConfig(overrides);
    if (!config.ok()) return fail(config.status());
    auto client = RunningNodeClient(*config, std::chrono::minutes(5));
    if (!client.ok()) return fail(client.status());
    target = std::make_unique<RunningNode>(std::move(*client), config->limits.max_batch_items,
                                           static_cast<size_t>(config->limits.max_json_body_bytes));
    out << "hashbank import: the node is running; importing through its API\n";
  } else {
    return fail(bank.status());
  }
  if (absl::Status s = target->EnsureBank(bank_name, o.create_bank); !s.ok()) return fail(s);
  ImportOptions io;
  io.format = *format;
  io.lines_type = o.type;
  io.bank = bank_name;
  io.labels = o.labels;
  auto reader = ImportReader::Open(o.file, io);
  if (!reader.ok()) return fail(reader.status());
  const std::string key = ProgressKey(o.file, bank_name);
  auto recorded = target->Progress(key);  // every batch says it continues from here (ImportStep checks)
  if (!recorded.ok()) return fail(recorded.status());
  uint64_t from = *recorded;
  if (!o.restart && from > 0) {
    (*reader)->Skip(from);
    out << "hashbank import: resuming " << o.file << " after record " << from << " (--restart to start over)\n";
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  uint64_t imported = 0, duplicates = 0, withdrawn = 0, rejected = 0;
  std::vector<ImportReject> listed;
  auto reject = [&](uint64_t number, std::string reason) {
    ++rejected;
    if (listed.size() < kRejectsListed) listed.push_back({number, std::move(reason)});
  };
  auto add = [&](ImportStepResult& step) {
    imported += step.imported;
    duplicates += step.duplicates;
    withdrawn += step.withdrawn;
    for (ImportReject& r : step.rejects) reject(r.number, std::move(r.reason));
  };
  for (bool more = true; more;) {
    ImportRequest request;
    request.key = key;
    request.bank = bank_name;
    request.create_bank = o.create_bank;
    std::vector<ImportReject> rejects;
    more = (*reader)->Next(o.batch, &request.records, &rejects);
    for (ImportReject& r : rejects) reject(r.number, std::move(r.reason));
    request.from = from;
    request.consumed = (*reader)->consumed();
    auto step = target->Step(request);
    if (!step.ok()) {  // storage trouble, or a running node that went away or refused the batch
      if (tty) err << '\n';
      return fail(step.status());  // the next run resumes after the last batch written
    }
    from = request.consumed;
    add(*step);
    if (tty) {
      err << "\rimport: " << static_cast<int>((*reader)->progress() * 100) << "%  " << imported << " imported, " << duplicates
          << " duplicates, " << withdrawn << " withdrawn, " << rejected << " rejected" << std::flush;
    }
  }
  auto last = target->Finish();
  if (tty) err << '\n';
  if (!last.ok()) return fail(last.status());
  add(*last);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const char* unit = (*reader)->format() == ImportFormat::kStopNcii ? "record" : "line";
  out << "hashbank import: " << o.file << " (" << ImportFormatName((*reader)->format()) << ") into " << bank_name << ": "
      << imported << " imported, " << duplicates << " duplicates, " << withdrawn << " withdrawn, " << rejected
      << " rejected, in " << seconds << " s (" << static_cast<uint64_t>(static_cast<double>(imported + duplicates) / std::max(seconds, 1e-9))
      << " records/s)\n";
  for (const ImportReject& r : listed) out << "  " << unit << " " << r.number << ": " << r.reason << '\n';
  if (rejected > listed.size()) out << "  ... and " << rejected - listed.size() << " more rejected\n";
  return 0;
}

int RunExportCommand(const NodeOverrides& overrides, const std::string& bank_arg, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const absl::Status& s) {
    err << "hashbank export: " << s.message() << '\n';
    return 1;
  };
  const std::string bank_name = bank_arg.empty() ? std::string(kDefaultBank) : bank_arg;
  auto bank = OpenStoppedNode(overrides, "stop it to export", err);
  if (!bank.ok()) return fail(bank.status());
  if (!(*bank)->BankExists(bank_name)) return fail(absl::NotFoundError(absl::StrCat("no bank ", bank_name)));
  out << "signal_type,signal_str,collab,category,tags\n";
  size_t exported = 0, exact_only = 0;
  absl::Status s = (*bank)->ExportBank(bank_name, [&](const Bank::ExportedSignal& e) {
    out << "pdq," << e.pdq.ToHex() << ',' << e.ref.origin << ",," << absl::StrJoin(e.labels, " ") << '\n';
    ++exported;
  }, &exact_only);
  if (!s.ok()) return fail(s);
  err << "hashbank export: " << exported << " PDQ hashes of bank " << bank_name;
  if (exact_only > 0) {
    err << "; " << exact_only << " signals carry only MD5/SHA-256, stored as HMACs of the federation salt: not exportable";
  }
  err << '\n';
  return 0;
}

}  // namespace hashbank
