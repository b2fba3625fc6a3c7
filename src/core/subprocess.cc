#include "cairn/core/subprocess.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

extern char** environ;

namespace cairn {
namespace {

// Runs fork() on one thread that lives as long as the process: PR_SET_PDEATHSIG fires when the
// forking thread ends, so a child forked from a short-lived thread (a deploy, a request) would
// be killed with it. Leaked on purpose: it must outlive every static destructor.
class Forker {
 public:
  static Forker& Get() {
    static Forker* forker = new Forker();
    return *forker;
  }
  void Run(const std::function<void()>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    bool done = false;
    queue_.push_back({&fn, &done});
    cv_.notify_all();
    done_cv_.wait(lock, [&] { return done; });
  }

 private:
  struct Item {
    const std::function<void()>* fn;
    bool* done;
  };
  Forker() {
    std::thread([this] {
      // Signals are for the threads that wait for them (cairn server's sigwait), never this one.
      sigset_t all;
      sigfillset(&all);
      ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        cv_.wait(lock, [&] { return !queue_.empty(); });
        Item item = queue_.front();
        queue_.pop_front();
        (*item.fn)();
        *item.done = true;
        done_cv_.notify_all();
      }
    }).detach();
  }
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<Item> queue_;
};

void WriteAll(int fd, const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

Result<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& o) {
  using Stdio = SubprocessOptions::Stdio;
  if (o.argv.empty()) return Status::InvalidArgument("no program to run");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) merged[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  for (const auto& [k, v] : o.env) merged[k] = v;
  std::vector<std::string> env_strings, argv = o.argv;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv) args.push_back(s.data());
  args.push_back(nullptr);

  UniqueFd in_read, in_write, out_read, out_write;
  if (o.stdin_mode == Stdio::kPipe) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
    in_read = UniqueFd(fds[0]);
    in_write = UniqueFd(fds[1]);
  }
  if (o.stdout_mode == Stdio::kPipe) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
    out_read = UniqueFd(fds[0]);
    out_write = UniqueFd(fds[1]);
  }
  const char* cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
  const pid_t parent = ::getpid();
  pid_t pid = -1;
  int fork_errno = 0;
  Forker::Get().Run([&] {
    pid = ::fork();
    if (pid < 0) fork_errno = errno;
    if (pid != 0) return;
    // The child.
    if (o.new_process_group) ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (o.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, o.death_signal);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    }
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o.stdin_mode == Stdio::kPipe) ::dup2(in_read.get(), 0);
    if (o.stdin_mode == Stdio::kNull && devnull >= 0) ::dup2(devnull, 0);
    if (o.stdout_mode == Stdio::kPipe) ::dup2(out_write.get(), 1);
    if (o.stdout_mode == Stdio::kNull && devnull >= 0) ::dup2(devnull, 1);
    if (o.stderr_to_stdout) ::dup2(1, 2);
    if (cwd != nullptr && ::chdir(cwd) != 0) {
      WriteAll(2, "cairn: cannot enter the working directory\n");
      ::_exit(126);
    }
    ::execve(args[0], args.data(), envp.data());
    // strerror is not async-signal-safe (locale data, locks): the errno goes out as digits,
    // with words for the two usual causes.
    const int err = errno;
    char digits[16];
    int n = 0;
    for (int e = err; n < 15 && (e > 0 || n == 0); e /= 10)
      digits[n++] = static_cast<char>('0' + e % 10);
    char errno_text[16];
    for (int i = 0; i < n; ++i) errno_text[i] = digits[n - 1 - i];
    errno_text[n] = '\0';
    WriteAll(2, "cairn: cannot execute ");
    WriteAll(2, args[0]);
    WriteAll(2, err == ENOENT   ? ": no such file (errno "
                : err == EACCES ? ": permission denied (errno "
                                : ": exec failed (errno ");
    WriteAll(2, errno_text);
    WriteAll(2, ")\n");
    ::_exit(127);
  });
  if (pid < 0) return Status::FromErrno("fork", fork_errno);
  // Also here, so that Signal() reaches the group even before the child ran setpgid.
  if (o.new_process_group) ::setpgid(pid, pid);
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->pid_ = pid;
  p->group_ = o.new_process_group;
  p->in_ = std::move(in_write);
  if (out_read.valid()) {
    ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
    p->out_ = std::move(out_read);
  }
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !status_) {
    Signal(SIGKILL);
    Wait();
  }
}

bool Subprocess::ReadOutput(std::string* buf) {
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

void Subprocess::Signal(int sig) {
  if (pid_ <= 0 || status_) return;
  ::kill(group_ ? -pid_ : pid_, sig);
}

void Subprocess::Reaped(int st) {
  if (WIFEXITED(st)) {
    status_ = WEXITSTATUS(st);
  } else {
    signaled_ = true;
    status_ = 128 + WTERMSIG(st);
  }
  // The rest of the group (whatever the program started) goes with it.
  if (group_) ::kill(-pid_, SIGKILL);
}

std::optional<int> Subprocess::Poll() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) Reaped(st);
  return status_;
}

int Subprocess::Wait() {
  while (!status_ && pid_ > 0) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, 0);
    if (r == pid_) {
      Reaped(st);
    } else if (r < 0 && errno != EINTR) {
      status_ = 127;  // ECHILD: someone else reaped it
    }
  }
  return status_.value_or(127);
}

int Subprocess::Terminate(double grace_seconds) {
  if (Poll()) return *status_;
  Signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(grace_seconds * 1e6));
  while (!Poll()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      Signal(SIGKILL);
      return Wait();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return *status_;
}

std::string Subprocess::Describe() const {
  if (!status_) return "";
  return signaled_ ? "signal " + std::to_string(*status_ - 128)
                   : "exit status " + std::to_string(*status_);
}

}  // namespace cairn
