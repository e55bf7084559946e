#include "tests/support/node_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <limits>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace hashbank::testing {

const char* HashbankBinary() { return HASHBANK_BINARY; }

absl::StatusOr<std::unique_ptr<NodeProcess>> NodeProcess::Start(std::vector<std::string> args,
                                                                const std::string& log_path) {
  std::unique_ptr<NodeProcess> p(new NodeProcess());
  args.insert(args.begin(), HASHBANK_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;  // the test's own HASHBANK_* variables (a config file, overrides) must not reach it
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("HASHBANK_", 0) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return absl::InternalError("pipe2 failed");
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child dies with the test process even if the test process itself is killed or aborts.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execve(HASHBANK_BINARY, argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  ::close(log_fd);
  if (pid < 0) {
    ::close(fds[0]);
    return absl::InternalError("fork failed");
  }
  p->pid_ = pid;
  p->out_fd_ = fds[0];
  return p;
}

void NodeProcess::Send(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int NodeProcess::Signal(int sig) {
  int status = -1;
  if (pid_ > 0) {
    ::kill(pid_, sig);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
    out_fd_ = -1;
  }
  return status;
}

int NodeProcess::Kill() { return Signal(SIGKILL); }

int NodeProcess::Wait() {
  int status = -1;
  while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

absl::Status NodeProcess::ReadMore(std::chrono::steady_clock::time_point deadline, std::string_view waiting_for) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    return absl::DeadlineExceededError(absl::StrCat("no \"", std::string(waiting_for), "\"; stdout so far: ", out_));
  }
  if (out_fd_ < 0) return absl::UnavailableError("the process was reaped; stdout: " + out_);
  pollfd p{};
  p.fd = out_fd_;
  p.events = POLLIN;
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return absl::OkStatus();
  char buf[4096];
  const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
  if (n <= 0) return absl::UnavailableError("the process closed stdout; stdout: " + out_);
  out_.append(buf, static_cast<size_t>(n));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> NodeProcess::NumberAfter(std::string_view marker, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    const size_t at = out_.find(marker);
    if (at != std::string::npos) {
      const size_t start = at + marker.size();
      size_t end = start;
      while (end < out_.size() && std::isdigit(static_cast<unsigned char>(out_[end])) != 0) ++end;
      if (end < out_.size() && end > start) return std::stoull(out_.substr(start, end - start));
    }
    if (absl::Status s = ReadMore(deadline, marker); !s.ok()) return s;
  }
}

absl::Status NodeProcess::WaitForText(std::string_view text, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (out_.find(text) == std::string::npos) {
    if (absl::Status s = ReadMore(deadline, text); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> NodeProcess::ServingPort(std::chrono::milliseconds limit) {
  absl::StatusOr<uint64_t> port = NumberAfter("serving https://127.0.0.1:", limit);
  if (!port.ok()) return port.status();
  if (*port == 0 || *port > std::numeric_limits<uint16_t>::max()) {
    return absl::InternalError(absl::StrCat("not a port: ", *port, "; stdout: ", out_));
  }
  return static_cast<uint16_t>(*port);
}

int ExitCode(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

}  // namespace hashbank::testing
