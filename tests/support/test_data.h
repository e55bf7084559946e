// Test data access: files under tests/data, CSV rows, whole-file reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hashbank::testing {

// Absolute path of a file under tests/data.
std::string DataPath(const std::string& relative);
// Whole file; aborts the test binary if unreadable (test data must exist).
std::vector<uint8_t> ReadFileBytes(const std::string& path);
std::string ReadFileText(const std::string& path);
// Comma-separated rows; the first row (header) is skipped when skip_header.
std::vector<std::vector<std::string>> ReadCsv(const std::string& path, bool skip_header);
// Floats printed with %.9g, comma-separated, one row per line.
std::vector<float> ReadFloatGrid(const std::string& path);

}  // namespace hashbank::testing
