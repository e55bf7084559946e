// `hashbank match-file`: offline matching of two PDQ hash files with PdqIndex.
//
// Each input line is a 64-hex PDQ hash, optionally followed by `,` and anything (ignored). Output: one line
// per match, `<query line index>,<bank line index>,<distance>` (0-based line numbers, counting every line),
// sorted by query then bank index. A bad line is reported on `err` with its file and 1-based line number and
// skipped; the rest is still processed. Returns 0, or 1 if any line was bad, 2 if a file cannot be read.
#pragma once

#include <ostream>
#include <string>

namespace hashbank {

struct MatchFileOptions {
  std::string bank_path;
  std::string queries_path;
  int max_distance = 31;
};

int RunMatchFileCommand(const MatchFileOptions& options, std::ostream& out, std::ostream& err);

}  // namespace hashbank
