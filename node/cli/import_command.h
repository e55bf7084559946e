// `hashbank import FILE --bank B`: hash lists into a node's bank (node/import_formats.h for the formats),
// through the node's durable batch path (node/import_step.h, 10 000 records a batch): a stopped node's
// database opened here, or a running node's API (POST /v1/import; the same ImportStep there). Each batch
// and the import's progress (records consumed, a state row keyed by the file and bank) are written in one
// durable batch, so an interrupted import resumes exactly where it stopped: nothing skipped, nothing twice.
// Hashes this node already banked in the bank are counted as duplicates, not banked again; StopNCII's
// Withdrawn/Deleted records withdraw this node's signals of that hash in the bank. A progress line on a
// terminal; a summary (imported, duplicates, withdrawn, rejected with record numbers) at the end.
//
// `hashbank export --bank B`: the bank's PDQ hashes, unsalted with this node's salt, as ThreatExchange CSV
// on stdout (re-importable with `import --format te-csv`). MD5 and SHA-256 are stored as HMACs and cannot be
// exported; their count is reported.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "node/node_setup.h"

namespace hashbank {

struct ImportCommandOptions {
  std::string file;
  std::string bank;             // "" = DEFAULT
  std::string format = "auto";  // auto, lines, pdq, te-csv, stopncii
  std::string type;             // lines: pdq, md5, sha256 ("" = by length)
  std::vector<std::string> labels;
  bool create_bank = false;
  bool restart = false;         // ignore recorded progress
  size_t batch = 10000;
};

int RunImportCommand(const NodeOverrides& overrides, const ImportCommandOptions& options, std::ostream& out,
                     std::ostream& err);
int RunExportCommand(const NodeOverrides& overrides, const std::string& bank, std::ostream& out, std::ostream& err);

}  // namespace hashbank
