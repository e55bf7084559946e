#include "node/import_step.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "node/api_support.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

bool IsStorageError(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDataLoss(s) || absl::IsInternal(s);
}

}  // namespace

ImportHashKey ImportHashKeyOf(const SignalInput& in) {
  ImportHashKey key{};
  if (in.pdq) {
    static_assert(sizeof(in.pdq->limbs) == 32);
    key[0] = 'p';
    std::memcpy(key.data() + 1, in.pdq->limbs.data(), sizeof(in.pdq->limbs));
  } else if (in.md5) {
    key[0] = 'm';
    std::memcpy(key.data() + 1, in.md5->data(), in.md5->size());
  } else if (in.sha256) {
    key[0] = 's';
    std::memcpy(key.data() + 1, in.sha256->data(), in.sha256->size());
  }
  return key;
}

absl::StatusOr<SortedImport> SortImportRecords(Bank& bank, const std::string& bank_name, std::vector<ImportRecord> records,
                                               const Actor& actor, const BankedMeanwhile& banked_meanwhile,
                                               ImportStepResult* result) {
  SortedImport sorted;
  // Without withdrawals, the bank's signals are looked up for the whole batch at once; a withdrawal changes
  // what a later record of the batch finds, so then record by record.
  std::vector<std::vector<SignalRef>> looked_up;
  if (std::none_of(records.begin(), records.end(), [](const ImportRecord& r) { return r.withdraw; })) {
    std::vector<SignalInput> raw;
    raw.reserve(records.size());
    for (const ImportRecord& r : records) {
      SignalInput& in = raw.emplace_back();
      in.pdq = r.input.pdq;
      in.md5 = r.input.md5;
      in.sha256 = r.input.sha256;
    }
    auto all = bank.OwnSignalsWithHashes(bank_name, raw);
    if (!all.ok()) return all.status();
    looked_up = std::move(*all);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    ImportRecord& r = records[i];
    absl::StatusOr<std::vector<SignalRef>> own =
        looked_up.empty() ? bank.OwnSignalsWithHash(bank_name, r.input) : absl::StatusOr<std::vector<SignalRef>>(std::move(looked_up[i]));
    if (!own.ok()) return own.status();
    if (r.withdraw) {
      for (const SignalRef& ref : *own) {
        absl::Status s = bank.Withdraw(ref, actor, "consent_withdrawn");
        if (s.ok()) {
          ++result->withdrawn;
        } else if (!absl::IsAlreadyExists(s)) {
          return s;
        }
      }
      continue;
    }
    const ImportHashKey hk = ImportHashKeyOf(r.input);
    if (!own->empty() || (banked_meanwhile && banked_meanwhile(hk)) || !sorted.keys.insert(hk).second) {
      ++result->duplicates;
      continue;
    }
    sorted.numbers.push_back(r.number);
    sorted.inputs.push_back(std::move(r.input));
  }
  return sorted;
}

absl::Status CountImported(const std::vector<absl::StatusOr<SignalRef>>& results, const std::vector<uint64_t>& numbers,
                           ImportStepResult* result) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      ++result->imported;
    } else if (IsStorageError(results[i].status())) {
      return results[i].status();  // stop here; the next run resumes
    } else {
      result->rejects.push_back({numbers[i], std::string(results[i].status().message())});
    }
  }
  return absl::OkStatus();
}

absl::Status CheckImportProgressKey(std::string_view key) {
  if (key.size() != 32) return absl::InvalidArgumentError("key: 32 lower-case hex digits");
  for (const char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return absl::InvalidArgumentError("key: 32 lower-case hex digits");
  }
  return absl::OkStatus();
}

std::string ImportProgressRow(std::string_view key) { return absl::StrCat("import/", std::string(key)); }

absl::StatusOr<uint64_t> ReadImportProgress(const Bank& bank, std::string_view key) {
  if (absl::Status s = CheckImportProgressKey(key); !s.ok()) return s;
  auto row = bank.GetStateRow(ImportProgressRow(key));
  if (!row.ok()) return row.status();
  uint64_t recorded = 0;
  if (row->has_value() && !absl::SimpleAtoi(**row, &recorded)) return absl::DataLossError("the import's progress row does not parse");
  return recorded;
}

absl::StatusOr<ImportStepResult> ImportStep(Bank& bank, const std::string& bank_name, std::string_view key,
                                            uint64_t from, uint64_t consumed, std::vector<ImportRecord> records,
                                            const Actor& actor) {
  if (absl::Status s = CheckImportProgressKey(key); !s.ok()) return s;
  // One batch at a time: the progress check below and the batch's durable write are one step.
  static absl::Mutex import_mu(absl::kConstInit);
  absl::MutexLock lock(&import_mu);
  auto progress = ReadImportProgress(bank, key);
  if (!progress.ok()) return progress.status();
  const uint64_t recorded = *progress;
  if (recorded != from) {
    return absl::AbortedError(absl::StrCat("the import's progress is at record ", recorded, ", not ", from,
                                           ": another run of this import is writing, or this batch was written already;"
                                           " run the import again to resume"));
  }
  ImportStepResult result;
  auto sorted = SortImportRecords(bank, bank_name, std::move(records), actor, nullptr, &result);
  if (!sorted.ok()) return sorted.status();
  // The batch and the progress in one durable write.
  const auto results = bank.ImportBatch(sorted->inputs, actor, {ImportProgressRow(key), absl::StrCat(consumed)});
  if (absl::Status s = CountImported(results, sorted->numbers, &result); !s.ok()) return s;
  return result;
}

namespace json = boost::json;

std::string ImportRequestJson(const ImportRequest& request) {
  json::array records;
  for (const ImportRecord& r : request.records) {
    const SignalInput& in = r.input;
    json::object sig;
    if (in.pdq) {
      sig["pdq"] = in.pdq->ToHex();
      if (!in.pdq_quality_unknown && in.quality) sig["quality"] = *in.quality;
    }
    if (in.md5) sig["md5"] = absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(in.md5->data()), in.md5->size()));
    if (in.sha256) {
      sig["sha256"] = absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(in.sha256->data()), in.sha256->size()));
    }
    if (!in.labels.empty()) {
      json::array labels;
      for (const std::string& l : in.labels) labels.emplace_back(l);
      sig["labels"] = std::move(labels);
    }
    if (!in.case_ref.empty()) sig["case_ref"] = in.case_ref;
    if (!in.content_id.empty()) sig["content_id"] = in.content_id;
    if (!in.note.empty()) sig["note"] = in.note;
    json::object rec{{"number", r.number}, {"signal", std::move(sig)}};
    if (r.withdraw) rec["withdraw"] = true;
    if (in.pdq && in.pdq_quality_unknown) rec["quality_unknown"] = true;
    records.emplace_back(std::move(rec));
  }
  json::object o{{"key", request.key},
                 {"bank", request.bank},
                 {"from", request.from},
                 {"consumed", request.consumed},
                 {"records", std::move(records)}};
  if (request.create_bank) o["create_bank"] = true;
  return json::serialize(o);
}

absl::StatusOr<ImportRequest> ParseImportRequest(std::string_view body, size_t max_records) {
  using api::Bad;
  using api::Reader;
  HB_ASSIGN_OR_RETURN(const json::object o, api::ParseObject(body));
  Reader r(o);
  HB_RETURN_IF_ERROR(r.AllowOnly({"key", "bank", "create_bank", "from", "consumed", "records"}));
  ImportRequest req;
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> key, r.String("key", 64));
  if (!key) return Bad("key: required");
  HB_RETURN_IF_ERROR(CheckImportProgressKey(*key));
  req.key = *key;
  HB_ASSIGN_OR_RETURN(const std::optional<std::string> bank, r.String("bank", 64));
  req.bank = bank.value_or(std::string(kDefaultBank));
  if (!IsValidBankName(req.bank)) return Bad("bank: 1-64 characters of A-Z, 0-9, _");
  HB_ASSIGN_OR_RETURN(const std::optional<bool> create, r.Bool("create_bank"));
  req.create_bank = create.value_or(false);
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> consumed, r.Int("consumed"));
  if (!consumed || *consumed < 0) return Bad("consumed: required, the records of the file consumed after this batch");
  req.consumed = static_cast<uint64_t>(*consumed);
  HB_ASSIGN_OR_RETURN(const std::optional<int64_t> from, r.Int("from"));
  if (!from || *from < 0) return Bad("from: required, the progress this batch continues from");
  req.from = static_cast<uint64_t>(*from);
  const json::value* records = r.Find("records");
  if (records == nullptr || !records->is_array()) return Bad("records: expected an array");
  if (records->as_array().size() > max_records) return Bad(absl::StrCat("records: at most ", max_records, " a batch"));
  for (size_t i = 0; i < records->as_array().size(); ++i) {
    const std::string at = absl::StrCat("records[", i, "]");
    const json::value& item = records->as_array()[i];
    if (!item.is_object()) return Bad(at + ": expected an object");
    Reader ri(item.as_object(), at + ".");
    HB_RETURN_IF_ERROR(ri.AllowOnly({"number", "withdraw", "quality_unknown", "signal"}));
    ImportRecord rec;
    HB_ASSIGN_OR_RETURN(const std::optional<int64_t> number, ri.Int("number"));
    if (!number || *number < 1) return Bad(ri.Name("number") + ": required, from 1");
    rec.number = static_cast<uint64_t>(*number);
    HB_ASSIGN_OR_RETURN(const std::optional<bool> withdraw, ri.Bool("withdraw"));
    rec.withdraw = withdraw.value_or(false);
    HB_ASSIGN_OR_RETURN(const std::optional<bool> unknown, ri.Bool("quality_unknown"));
    const json::value* sig = ri.Find("signal");
    if (sig == nullptr || !sig->is_object()) return Bad(ri.Name("signal") + ": expected an object");
    HB_ASSIGN_OR_RETURN(rec.input, api::ParseSignal(sig->as_object(), ri.Name("signal.")));
    if (!rec.input.pdq && !rec.input.md5 && !rec.input.sha256) return Bad(ri.Name("signal") + ": a pdq, md5 or sha256 is required");
    if (rec.input.embedding || rec.input.robust || rec.input.video) {
      return Bad(ri.Name("signal") + ": an import carries pdq, md5 and sha256 only");
    }
    if (!rec.input.bank.empty()) return Bad(ri.Name("signal.bank") + ": the batch's bank is the records' bank");
    rec.input.bank = req.bank;
    rec.input.pdq_quality_unknown = unknown.value_or(false) && rec.input.pdq.has_value();
    req.records.push_back(std::move(rec));
  }
  return req;
}

std::string ImportResultJson(const ImportStepResult& result, uint64_t consumed) {
  json::array rejected;
  for (const ImportReject& r : result.rejects) rejected.emplace_back(json::object{{"number", r.number}, {"reason", r.reason}});
  return json::serialize(json::object{{"imported", result.imported},
                                      {"duplicates", result.duplicates},
                                      {"withdrawn", result.withdrawn},
                                      {"rejected", std::move(rejected)},
                                      {"consumed", consumed}});
}

absl::StatusOr<ImportStepResult> ParseImportResult(std::string_view body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return absl::DataLossError("the node's answer to an import batch is not a JSON object");
  const json::object& o = v.as_object();
  ImportStepResult r;
  auto count = [&o](const char* name, uint64_t* out) {
    const json::value* x = o.if_contains(name);
    if (x == nullptr) return false;
    if (x->is_uint64()) *out = x->as_uint64();
    else if (x->is_int64() && x->as_int64() >= 0) *out = static_cast<uint64_t>(x->as_int64());
    else return false;
    return true;
  };
  const json::value* rejected = o.if_contains("rejected");
  if (!count("imported", &r.imported) || !count("duplicates", &r.duplicates) || !count("withdrawn", &r.withdrawn) ||
      rejected == nullptr || !rejected->is_array()) {
    return absl::DataLossError("the node's answer to an import batch lacks its counts");
  }
  for (const json::value& x : rejected->as_array()) {
    if (!x.is_object()) continue;
    ImportReject rej;
    if (const json::value* n = x.as_object().if_contains("number"); n != nullptr && n->is_number()) rej.number = n->to_number<uint64_t>();
    if (const json::value* m = x.as_object().if_contains("reason"); m != nullptr && m->is_string()) rej.reason = m->as_string();
    r.rejects.push_back(std::move(rej));
  }
  return r;
}

}  // namespace hashbank
