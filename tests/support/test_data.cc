#include "tests/support/test_data.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hashbank::testing {

std::string DataPath(const std::string& relative) { return std::string(HASHBANK_TEST_DATA) + "/" + relative; }

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "test data missing: %s\n", path.c_str());
    std::abort();
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  const std::string text = ReadFileText(path);
  return std::vector<uint8_t>(text.begin(), text.end());
}

std::vector<std::vector<std::string>> ReadCsv(const std::string& path, bool skip_header) {
  std::istringstream in(ReadFileText(path));
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (first && skip_header) {
      first = false;
      continue;
    }
    first = false;
    std::vector<std::string> fields;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, ',')) fields.push_back(field);
    rows.push_back(std::move(fields));
  }
  return rows;
}

std::vector<float> ReadFloatGrid(const std::string& path) {
  std::vector<float> values;
  for (const auto& row : ReadCsv(path, false)) {
    for (const auto& f : row) values.push_back(std::strtof(f.c_str(), nullptr));
  }
  return values;
}

}  // namespace hashbank::testing
