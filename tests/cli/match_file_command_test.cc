// `hashbank match-file` as a real process, against the reference's mih-query results.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/support/test_data.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;
using testing::DataPath;

struct Output {
  int exit_code = -1;
  std::string out, err;
};

Output RunMatchFile(const std::string& args) {
  const fs::path err_file = fs::temp_directory_path() / ("hashbank-mf-err-" + std::to_string(::getpid()));
  const std::string cmd = "'" HASHBANK_BINARY "' match-file " + args + " 2>'" + err_file.string() + "'";
  Output r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = testing::ReadFileText(err_file.string());
  fs::remove(err_file);
  return r;
}

// The reference's mih-query output converted to match-file lines (0-based needle, 0-based haystack, d),
// in match-file's order.
std::string ExpectedFromMih(int d) {
  std::istringstream in(testing::ReadFileText(DataPath("pdq-reference/mih/expected-mih-query-d" + std::to_string(d) + ".txt")));
  std::set<std::tuple<long, long, int>> rows;
  std::string line;
  long needle = -1;
  while (std::getline(in, line)) {
    if (line.rfind("needle=", 0) == 0) ++needle;
    if (line.rfind("d=", 0) == 0) rows.insert({needle, std::stol(line.substr(line.rfind("idx=") + 4)) - 1, std::stoi(line.substr(2))});
  }
  std::string out;
  for (const auto& [q, b, dist] : rows) out += std::to_string(q) + "," + std::to_string(b) + "," + std::to_string(dist) + "\n";
  return out;
}

TEST(MatchFileCommandTest, ReproducesTheReferenceMihQueryAtEveryDistance) {
  for (int d : {0, 10, 31, 32, 63}) {
    SCOPED_TRACE(d);
    const Output r = RunMatchFile("--bank '" + DataPath("pdq-reference/mih/haystack.txt") + "' --queries '" +
                                  DataPath("pdq-reference/mih/needles.txt") + "' --max-distance " + std::to_string(d));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string want = ExpectedFromMih(d);
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(r.out, want);
  }
}

TEST(MatchFileCommandTest, DefaultDistanceIs31) {
  const Output r = RunMatchFile("--bank '" + DataPath("pdq-reference/mih/haystack.txt") + "' --queries '" +
                                DataPath("pdq-reference/mih/needles.txt") + "'");
  EXPECT_EQ(r.out, ExpectedFromMih(31));
}

TEST(MatchFileCommandTest, BadLinesAreReportedByLineNumberAndTheRestProcessed) {
  const fs::path dir = fs::temp_directory_path() / ("hashbank-mf-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string a = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
  const std::string b = "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff";
  std::ofstream(dir / "bank.txt") << a << ",some metadata\nnot-a-hash\n" << b << "\n" << a.substr(0, 60) << "\n" << a << "\n";
  std::ofstream(dir / "queries.txt") << b << "\nzz" << a.substr(2) << "\n" << a << "\n";
  const Output r = RunMatchFile("--bank '" + (dir / "bank.txt").string() + "' --queries '" + (dir / "queries.txt").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "0,2,0\n2,0,0\n2,4,0\n");
  EXPECT_NE(r.err.find("bank.txt:2: a PDQ hash is 64 hex digits"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bank.txt:4: a PDQ hash is 64 hex digits"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("queries.txt:2: non-hex character at position 0"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(MatchFileCommandTest, MissingFileAndBadDistanceFail) {
  EXPECT_EQ(RunMatchFile("--bank /nonexistent --queries /nonexistent").exit_code, 2);
  EXPECT_EQ(RunMatchFile("--bank '" + DataPath("pdq-reference/mih/haystack.txt") + "' --queries '" +
                         DataPath("pdq-reference/mih/needles.txt") + "' --max-distance 300").exit_code, 2);
}

}  // namespace
}  // namespace hashbank
