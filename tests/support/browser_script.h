// Runs one of the browser tests' Node.js scripts (tests/browser/*.mjs, driving Debian's chromium through
// playwright-core) with its JSON configuration as the one argument, bounded by `timeout_seconds` (coreutils
// `timeout`), and returns its exit code and everything it printed. FailedPrecondition, naming the fix, when
// node, chromium or tests/browser/node_modules is missing (scripts/setup.sh installs them).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace hashbank::testing {

struct ScriptResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

absl::StatusOr<ScriptResult> RunBrowserScript(const std::string& script, const std::string& json_config,
                                              int timeout_seconds);

// Runs `node SCRIPT JSON_CONFIG` in `dir` (any Node.js script, e.g. tools/openapi/contract.mjs), bounded the
// same way. FailedPrecondition when `dir`/node_modules is missing.
absl::StatusOr<ScriptResult> RunNodeScript(const std::string& dir, const std::string& script,
                                           const std::string& json_config, int timeout_seconds);

// tests/browser in the source tree.
std::string BrowserTestDir();
// The source tree's root.
std::string SourceDir();

}  // namespace hashbank::testing
