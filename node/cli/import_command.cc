#include "node/cli/import_command.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/sha256.h"
#include "node/entry_bytes.h"
#include "node/import_formats.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

constexpr size_t kRejectsListed = 20;

// The progress row of importing `file` into `bank`: the file's absolute path, size and modification time,
// so that a changed file starts over.
std::string ProgressKey(const std::string& file, const std::string& bank) {
  std::error_code ec;
  const std::string path = fs::absolute(file, ec).string();
  const auto size = fs::file_size(file, ec);
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  const Sha256Hash h = Sha256(absl::StrCat(path, "\n", bank, "\n", size, "\n", mtime));
  return absl::StrCat("import/", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(h.data()), 16)));
}

// The raw hash a record banks, as a key for duplicates within one run.
std::string HashKey(const SignalInput& in) {
  if (in.pdq) return absl::StrCat("p", in.pdq->ToHex());
  if (in.md5) return absl::StrCat("m", std::string(in.md5->begin(), in.md5->end()));
  if (in.sha256) return absl::StrCat("s", std::string(in.sha256->begin(), in.sha256->end()));
  return "";
}

// This node's live signals in `bank` with exactly the record's hash.
absl::StatusOr<std::vector<SignalRef>> OwnWithHash(const Bank& bank, const std::string& bank_name, const SignalInput& in) {
  absl::StatusOr<std::vector<Match>> m = std::vector<Match>{};
  if (in.pdq) {
    m = bank.MatchPdq(std::span<const Hash256>(&*in.pdq, 1), 0);
  } else if (in.md5) {
    m = bank.MatchMd5(*in.md5);
  } else if (in.sha256) {
    m = bank.MatchSha256(*in.sha256);
  }
  if (!m.ok()) return m.status();
  std::vector<SignalRef> out;
  for (const Match& x : *m) {
    if (x.bank == bank_name && x.ref.origin == bank.node_id()) out.push_back(x.ref);
  }
  return out;
}

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
  auto bank = OpenStoppedNode(overrides, "stop it to import, or send batches to POST /v1/signals:batch", err);
  if (!bank.ok()) return fail(bank.status());
  const Actor actor{"cli-import", Role::kAdmin};
  if (!(*bank)->BankConfigured(bank_name)) {
    if (!o.create_bank) {
      return fail(absl::NotFoundError(absl::StrCat("no bank ", bank_name, " on this node: pass --create-bank, or create it with POST /c/banks")));
    }
    BankConfig c;
    c.name = bank_name;
    if (auto made = (*bank)->CreateBank(c, actor); !made.ok()) return fail(made.status());
  }
  ImportOptions io;
  io.format = *format;
  io.lines_type = o.type;
  io.bank = bank_name;
  io.labels = o.labels;
  auto reader = ImportReader::Open(o.file, io);
  if (!reader.ok()) return fail(reader.status());
  const std::string key = ProgressKey(o.file, bank_name);
  uint64_t resumed = 0;
  if (!o.restart) {
    auto done = (*bank)->GetStateRow(key);
    if (!done.ok()) return fail(done.status());
    if (done->has_value() && absl::SimpleAtoi(**done, &resumed) && resumed > 0) {
      (*reader)->Skip(resumed);
      out << "hashbank import: resuming " << o.file << " after record " << resumed << " (--restart to start over)\n";
    }
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  uint64_t imported = 0, duplicates = 0, withdrawn = 0, rejected = 0;
  std::vector<ImportReject> listed;
  std::set<std::string> seen;  // hashes banked by this run (duplicates inside the file)
  auto reject = [&](uint64_t number, std::string reason) {
    ++rejected;
    if (listed.size() < kRejectsListed) listed.push_back({number, std::move(reason)});
  };
  for (bool more = true; more;) {
    std::vector<ImportRecord> records;
    std::vector<ImportReject> rejects;
    more = (*reader)->Next(o.batch, &records, &rejects);
    for (ImportReject& r : rejects) reject(r.number, std::move(r.reason));
    std::vector<SignalInput> inputs;
    std::vector<uint64_t> numbers;
    for (ImportRecord& r : records) {
      auto own = OwnWithHash(**bank, bank_name, r.input);
      if (!own.ok()) return fail(own.status());
      if (r.withdraw) {
        for (const SignalRef& ref : *own) {
          absl::Status s = (*bank)->Withdraw(ref, actor, "consent_withdrawn");
          if (s.ok()) ++withdrawn;
          else if (!absl::IsAlreadyExists(s)) return fail(s);
        }
        continue;
      }
      const std::string hk = HashKey(r.input);
      if (!own->empty() || seen.contains(hk)) {
        ++duplicates;
        continue;
      }
      seen.insert(hk);
      numbers.push_back(r.number);
      inputs.push_back(std::move(r.input));
    }
    // The batch and the progress in one durable write.
    const std::pair<std::string, std::string> progress{key, absl::StrCat((*reader)->consumed())};
    const auto results = (*bank)->ImportBatch(inputs, actor, progress);
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        ++imported;
      } else if (absl::IsUnavailable(results[i].status()) || absl::IsDataLoss(results[i].status()) ||
                 absl::IsInternal(results[i].status())) {
        return fail(results[i].status());  // storage: stop here; the next run resumes
      } else {
        reject(numbers[i], std::string(results[i].status().message()));
      }
    }
    if (tty) {
      err << "\rimport: " << static_cast<int>((*reader)->progress() * 100) << "%  " << imported << " imported, " << duplicates
          << " duplicates, " << withdrawn << " withdrawn, " << rejected << " rejected" << std::flush;
    }
  }
  if (tty) err << '\n';
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
