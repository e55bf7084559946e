#include "node/cli/match_file_command.h"

#include <algorithm>
#include <fstream>
#include <string_view>
#include <vector>

#include "matcher/pdq_index.h"

namespace hashbank {
namespace {

struct HashFile {
  std::vector<std::pair<Hash256, uint64_t>> hashes;  // (hash, 0-based line index)
  bool read_ok = true;
  bool any_bad = false;
};

HashFile ReadHashFile(const std::string& path, std::ostream& err) {
  HashFile file;
  std::ifstream in(path);
  if (!in) {
    err << "hashbank match-file: cannot read " << path << '\n';
    file.read_ok = false;
    return file;
  }
  std::string line;
  for (uint64_t index = 0; std::getline(in, line); ++index) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string_view hex = std::string_view(line).substr(0, line.find(','));
    absl::StatusOr<Hash256> h = Hash256::FromHex(hex);
    if (!h.ok()) {
      err << "hashbank match-file: " << path << ":" << index + 1 << ": " << h.status().message() << '\n';
      file.any_bad = true;
      continue;
    }
    file.hashes.push_back({*h, index});
  }
  return file;
}

}  // namespace

int RunMatchFileCommand(const MatchFileOptions& options, std::ostream& out, std::ostream& err) {
  if (options.max_distance < 0 || options.max_distance > PdqIndex::kMaxDistance) {
    err << "hashbank match-file: --max-distance must be 0.." << PdqIndex::kMaxDistance << '\n';
    return 2;
  }
  const HashFile bank = ReadHashFile(options.bank_path, err);
  const HashFile queries = ReadHashFile(options.queries_path, err);
  if (!bank.read_ok || !queries.read_ok) return 2;
  PdqIndex index;
  if (absl::Status s = index.BulkLoad(bank.hashes); !s.ok()) {
    err << "hashbank match-file: " << s.message() << '\n';
    return 2;
  }
  std::string buffer;
  for (const auto& [query, query_line] : queries.hashes) {
    std::vector<PdqMatch> matches = index.Query(query, options.max_distance);
    std::sort(matches.begin(), matches.end(), [](const PdqMatch& a, const PdqMatch& b) { return a.id < b.id; });
    for (const PdqMatch& m : matches) {
      buffer += std::to_string(query_line);
      buffer += ',';
      buffer += std::to_string(m.id);
      buffer += ',';
      buffer += std::to_string(m.distance);
      buffer += '\n';
    }
    if (buffer.size() > (1u << 16)) {
      out << buffer;
      buffer.clear();
    }
  }
  out << buffer;
  out.flush();
  return bank.any_bad || queries.any_bad ? 1 : 0;
}

}  // namespace hashbank
