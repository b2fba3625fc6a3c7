// Subprocess: the one place cairn starts programs (training scripts, Python handler workers,
// cairn-serve instances of cairn server). Each child gets:
//   - a clean signal state: an empty signal mask and SIGPIPE at its default, whatever the parent
//     blocked or ignored (cairn server blocks SIGTERM in its threads; exec would pass that on and
//     leave a script deaf to a stop);
//   - a death signal (PR_SET_PDEATHSIG, prctl(2)) so it does not outlive cairn. The kernel sends it
//     when the *thread* that forked ends, not the process, so every fork is made by one thread
//     that lives as long as the process (see subprocess.cc);
//   - optionally its own process group, so that Signal() reaches whatever it started;
//   - stdin, stdout and stderr as asked: inherited, /dev/null, or pipes.
// Destroying a Subprocess that still runs kills it (SIGKILL, the whole group when it has one) and
// reaps it: no zombie, no orphan.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/core/status.h"

namespace cairn {

struct SubprocessOptions {
  std::vector<std::string> argv;           // argv[0] is a path (no PATH search)
  std::map<std::string, std::string> env;  // added to, and overriding, this process's
  std::string cwd;                         // empty: this process's
  bool new_process_group = true;           // setpgid(0, 0): Signal() reaches the group
  int death_signal = 9;                    // SIGKILL; 15 (SIGTERM) lets it finish; 0: none
  enum class Stdio { kInherit, kNull, kPipe };
  Stdio stdin_mode = Stdio::kNull;      // kPipe: write to stdin_fd()
  Stdio stdout_mode = Stdio::kInherit;  // kPipe: read stdout_fd() (non-blocking)
  bool stderr_to_stdout = false;        // stderr joins stdout (its pipe when kPipe)
};

class Subprocess {
 public:
  // Forks and execs. kInvalidArgument: empty argv; kIOError: fork or pipe failed. A program that
  // cannot be executed exits with status 127 after writing why to its stderr.
  static Result<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  int stdin_fd() const { return in_.get(); }    // -1 unless stdin is kPipe
  int stdout_fd() const { return out_.get(); }  // -1 unless stdout is kPipe, or after EOF
  void CloseStdin() { in_ = UniqueFd(); }
  // Appends what can be read from the stdout pipe now to `buf`; false at EOF (the pipe is closed).
  bool ReadOutput(std::string* buf);

  // Sends `sig` to the process group (or the process, without one). No-op once it was reaped.
  void Signal(int sig);
  // The exit status once it has ended (waitpid WNOHANG), else nullopt; a signal death is
  // 128 + the signal number, with signaled() set. When it had its own group, what it left
  // running in the group is killed.
  std::optional<int> Poll();
  // Blocks until it ends; same status as Poll().
  int Wait();
  // SIGTERM, then SIGKILL if it has not ended after `grace_seconds`; returns its status.
  int Terminate(double grace_seconds);
  bool signaled() const { return signaled_; }
  // "exit status N" or "signal N" once ended, "" while it runs.
  std::string Describe() const;

 private:
  Subprocess() = default;
  void Reaped(int wait_status);
  pid_t pid_ = -1;
  bool group_ = false;
  UniqueFd in_, out_;
  std::optional<int> status_;
  bool signaled_ = false;
};

}  // namespace cairn
