// `hashbank hash`: hash image files and print one line per image in the PDQ reference tool's formats or as
// JSON lines. Bad files are reported on `err` (one line naming the file and the reason) and the rest are
// still hashed. Returns the process exit code: 0 if every file hashed, 1 otherwise.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "hashing/image_decoder.h"

namespace hashbank {

struct HashCommandOptions {
  std::vector<std::string> paths;  // files, directories (recursed, sorted) or "-" for stdin
  bool dihedral = false;           // the reference's --pdqdih-across layout
  bool json = false;               // one JSON object per line
  int jobs = 0;                    // worker threads; 0 = one per core
  ImageLimits limits;
};

int RunHashCommand(const HashCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace hashbank
