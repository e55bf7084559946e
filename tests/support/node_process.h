// NodeProcess: the real `hashbank` binary (HASHBANK_BINARY, the one this build made) run as a child process
// by a test — `hashbank serve` to be killed mid-write, or a command run to completion.
//
// The child's stdout is a pipe the test reads (NumberAfter, ServingPort); its stderr is appended to a log
// file the test names, to print when an assertion fails. Its environment is the test's without any HASHBANK_*
// variable, so the test's own configuration never reaches it. It dies with the test process
// (PR_SET_PDEATHSIG), and the destructor kills (SIGKILL) and reaps it, so no child outlives a failed
// assertion. Everything the child needs is prepared before fork: between fork and exec it only makes system
// calls.
//
// Errors: Internal when the log file, the pipe or the fork fails; DeadlineExceeded / Unavailable from
// NumberAfter. Thread-compatible: one thread drives one NodeProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hashbank::testing {

// The path of the hashbank binary the tests run.
const char* HashbankBinary();

class NodeProcess {
 public:
  // Starts `hashbank <args>`; returns at once.
  static absl::StatusOr<std::unique_ptr<NodeProcess>> Start(std::vector<std::string> args, const std::string& log_path);

  ~NodeProcess() { Kill(); }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  // Sends `sig` and returns (the child runs on: SIGHUP).
  void Send(int sig);
  // Sends `sig` and reaps the child; its wait status (-1 if already reaped). Closes stdout. Idempotent.
  int Signal(int sig);
  // Signal(SIGKILL).
  int Kill();
  // Waits for the child to exit on its own; its wait status (-1 if already reaped).
  int Wait();

  // Reads stdout until it holds `marker` followed by digits and a non-digit; those digits. DeadlineExceeded
  // after `limit` (with stdout so far), Unavailable if the child closes stdout first.
  absl::StatusOr<uint64_t> NumberAfter(std::string_view marker, std::chrono::milliseconds limit);
  // Reads stdout until it holds `text`. Errors as NumberAfter's.
  absl::Status WaitForText(std::string_view text, std::chrono::milliseconds limit);
  // The port of `hashbank serve --listen 127.0.0.1:0`, from its line "serving https://127.0.0.1:<port>".
  absl::StatusOr<uint16_t> ServingPort(std::chrono::milliseconds limit = std::chrono::seconds(30));

  // Everything read from stdout so far.
  const std::string& out() const { return out_; }

 private:
  NodeProcess() = default;
  // One read of stdout (waiting at most until `deadline`) into out_; DeadlineExceeded naming `waiting_for`
  // once the deadline has passed, Unavailable when stdout is closed.
  absl::Status ReadMore(std::chrono::steady_clock::time_point deadline, std::string_view waiting_for);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
};

// The exit code of a child that exited, -1 for one killed by a signal: for a wait status from Wait().
int ExitCode(int wait_status);

}  // namespace hashbank::testing
