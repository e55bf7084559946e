#include "tests/support/browser_script.h"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "tests/support/test_data.h"

namespace hashbank::testing {

std::string BrowserTestDir() { return std::filesystem::weakly_canonical(DataPath("../browser")).string(); }
std::string SourceDir() { return std::filesystem::weakly_canonical(DataPath("../..")).string(); }

namespace {

// Single-quoted for sh.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<ScriptResult> RunBrowserScript(const std::string& script, const std::string& json_config,
                                              int timeout_seconds) {
  const std::string dir = BrowserTestDir();
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/node_modules/playwright-core", ec)) {
    return absl::FailedPreconditionError(dir + "/node_modules/playwright-core is missing: run scripts/setup.sh");
  }
  const char* chromium = std::getenv("HASHBANK_CHROMIUM");
  if (!std::filesystem::exists(chromium != nullptr ? chromium : "/usr/bin/chromium", ec)) {
    return absl::FailedPreconditionError("chromium is missing: run scripts/setup.sh");
  }
  return RunNodeScript(dir, script, json_config, timeout_seconds);
}

absl::StatusOr<ScriptResult> RunNodeScript(const std::string& dir, const std::string& script,
                                           const std::string& json_config, int timeout_seconds) {
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/node_modules", ec)) {
    return absl::FailedPreconditionError(dir + "/node_modules is missing: run scripts/setup.sh");
  }
  const std::string cmd = "cd " + Quote(dir) + " && timeout -k 5 " + std::to_string(timeout_seconds) + " node " +
                          Quote(script) + " " + Quote(json_config) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("popen failed");
  ScriptResult r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace hashbank::testing
