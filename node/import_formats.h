// ImportReader: hash lists as platforms hold them today, read record by record for `hashbank import`:
//
//   lines      one hash per line: 64 hex = PDQ (or SHA-256 with type sha256), 32 hex = MD5; '#' comments
//   pdq        the PDQ reference tool's output (pdq-photo-hasher): "hash,quality[,path]" per line
//   te-csv     ThreatExchange/HMA CSV (`threatexchange dataset -P --csv`): a header naming signal_type and
//              signal_str (or signal / signal_value), optional tags (space separated), category, note,
//              content_id; signal types pdq, video_md5 / md5, sha256
//   stopncii   StopNCII FetchHashes JSON pages: one page, an array of pages, or one page per line; records
//              with signalType ImagePDQ or VideoMD5; hashStatus Withdrawn or Deleted are withdrawals
//
// `auto` picks the format from the file's first bytes. A record is a raw (unsalted) SignalInput (or a
// withdrawal of the hash), with its line (or, for JSON, its record number) for error messages. Records
// that cannot be imported are reported with their number and reason; reading goes on.
//
// Not thread-safe (one reader per import). Errors: NotFound / PermissionDenied opening the file,
// InvalidArgument for a file that is not of the format (a JSON that does not parse, a CSV without the header).
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node/signal_intake.h"

namespace hashbank {

enum class ImportFormat { kAuto, kLines, kPdq, kTeCsv, kStopNcii };
absl::StatusOr<ImportFormat> ParseImportFormat(std::string_view name);
std::string_view ImportFormatName(ImportFormat f);

struct ImportRecord {
  uint64_t number = 0;  // line (text formats) or record (JSON), from 1
  SignalInput input;    // raw values; bank and labels filled from the options
  bool withdraw = false;
};

struct ImportReject {
  uint64_t number = 0;
  std::string reason;
};

struct ImportOptions {
  ImportFormat format = ImportFormat::kAuto;
  std::string lines_type;  // "lines" format: "" (by length), "pdq", "md5", "sha256"
  std::string bank;
  std::vector<std::string> labels;
};
// A PDQ hash without a quality in the file (lines, te-csv, stopncii) is imported as "quality not given"
// (SignalInput::pdq_quality_unknown), as HMA's API banks them; the pdq format's qualities are checked against
// the node's floor.

class ImportReader {
 public:
  static absl::StatusOr<std::unique_ptr<ImportReader>> Open(const std::string& path, ImportOptions options);
  virtual ~ImportReader() = default;

  // Up to `max` more records (and the rejects met on the way); false once the file is exhausted.
  virtual bool Next(size_t max, std::vector<ImportRecord>* out, std::vector<ImportReject>* rejects) = 0;
  // Records (good or rejected) consumed so far: the resume position.
  virtual uint64_t consumed() const = 0;
  // Skips the first `n` records (resuming).
  virtual void Skip(uint64_t n) = 0;
  // 0..1 of the file read.
  virtual double progress() const = 0;
  ImportFormat format() const { return format_; }

 protected:
  ImportFormat format_ = ImportFormat::kLines;
};

}  // namespace hashbank
