// Private to training: a child process with its stdout and stderr on one pipe, in its own process
// group (signals reach everything it started), killed if this process dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/core/status.h"

namespace cairn::training {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with `env` added to (and overriding) this process's environment, in
  // `cwd`. Output is read with ReadOutput.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                     const std::map<std::string, std::string>& env,
                                                     const std::string& cwd);
  // Kills the group (SIGKILL) and reaps it if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  int output_fd() const { return out_.get(); }  // non-blocking; -1 once it hit EOF
  // Appends what can be read now to `buf`; returns false at EOF (the pipe is then closed).
  bool ReadOutput(std::string* buf);
  // Sends `sig` to the whole process group.
  void Signal(int sig);
  // The exit status once the process has ended (waitpid WNOHANG), else nullopt. For a signal
  // death: 128 + signal number, with `signaled` set.
  std::optional<int> Poll();
  bool signaled() const { return signaled_; }

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  UniqueFd out_;
  std::optional<int> status_;
  bool signaled_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for MASTER_PORT).
int FreeLocalPort();

}  // namespace cairn::training
