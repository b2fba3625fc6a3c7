#include "process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace cairn::training {

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::string& cwd) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) merged[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    ::setpgid(0, 0);
    // A clean signal state: the caller may block SIGTERM in its threads (cairn server does) or
    // ignore SIGPIPE, and both would survive exec, leaving a script deaf to a stop.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(args[0], args.data(), envp.data());
    const char* msg = "cairn: cannot execute the entry point: ";
    ::write(2, msg, std::strlen(msg));
    ::write(2, args[0], std::strlen(args[0]));
    ::write(2, ": ", 2);
    const char* err = std::strerror(errno);
    ::write(2, err, std::strlen(err));
    ::write(2, "\n", 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so that Signal works even before the child ran setpgid
  std::unique_ptr<ChildProcess> c(new ChildProcess());
  c->pid_ = pid;
  write_end = UniqueFd();
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  c->out_ = std::move(read_end);
  return c;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

bool ChildProcess::ReadOutput(std::string* buf) {
  if (!out_.valid()) return false;
  char tmp[65536];
  for (;;) {
    ssize_t n = ::read(out_.get(), tmp, sizeof(tmp));
    if (n > 0) {
      buf->append(tmp, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    out_ = UniqueFd();  // EOF or an error: the child closed its end
    return false;
  }
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(-pid_, sig);
}

std::optional<int> ChildProcess::Poll() {
  if (status_) return status_;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r != pid_) return std::nullopt;
  if (WIFEXITED(st)) {
    status_ = WEXITSTATUS(st);
  } else {
    signaled_ = true;
    status_ = 128 + WTERMSIG(st);
  }
  // The rest of the group (whatever the program started) goes with it.
  ::kill(-pid_, SIGKILL);
  return status_;
}

int FreeLocalPort() {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (!s.valid() || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 29500;  // torch.distributed's customary port
  }
  return ntohs(a.sin_port);
}

}  // namespace cairn::training
