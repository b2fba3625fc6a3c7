// Python handlers: worker processes running cairn's shim (python/cairn_serving_shim.py), one
// request at a time each, over a pair of pipes. A worker that dies is restarted and the request
// it held is answered with an error.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/serving/model.h"
#include "cairn_shim.h"

extern char** environ;

namespace cairn {
namespace {

using Json = nlohmann::json;

class Worker {
 public:
  static Result<std::unique_ptr<Worker>> Start(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      return Status::FromErrno("pipe", errno);
    std::vector<std::string> args = argv;
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return Status::FromErrno("fork", errno);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;  // cairn-serve blocks SIGTERM and ignores SIGPIPE; the worker must not
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execve(cargs[0], cargs.data(), environ);
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    std::unique_ptr<Worker> w(new Worker());
    w->pid_ = pid;
    w->to_ = UniqueFd(in[1]);
    w->from_ = UniqueFd(out[0]);
    return w;
  }
  ~Worker() {
    to_ = UniqueFd();
    from_ = UniqueFd();
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }

  Status Send(const Json& header, std::string_view body) {
    const std::string h = header.dump();
    uint32_t lens[2] = {static_cast<uint32_t>(h.size()), static_cast<uint32_t>(body.size())};
    std::string frame(reinterpret_cast<const char*>(lens), 8);
    frame += h;
    frame.append(body);
    for (size_t done = 0; done < frame.size();) {
      ssize_t n = ::write(to_.get(), frame.data() + done, frame.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::IOError("the worker's pipe closed");
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }

  Result<std::pair<Json, std::string>> Receive(int timeout_ms) {
    uint32_t lens[2];
    CAIRN_RETURN_IF_ERROR(ReadExact(reinterpret_cast<char*>(lens), 8, timeout_ms));
    std::string h(lens[0], '\0'), body(lens[1], '\0');
    CAIRN_RETURN_IF_ERROR(ReadExact(h.data(), h.size(), timeout_ms));
    CAIRN_RETURN_IF_ERROR(ReadExact(body.data(), body.size(), timeout_ms));
    Json header = Json::parse(h, nullptr, false);
    if (header.is_discarded()) return Status::Corrupt("the worker sent a bad frame");
    return std::make_pair(std::move(header), std::move(body));
  }

  // How the process ended ("" while it runs).
  std::string ExitDescription() {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) {
      ::usleep(20000);
      if (::waitpid(pid_, &st, WNOHANG) != pid_) return "";
    }
    reaped_ = true;
    return WIFEXITED(st) ? "exit status " + std::to_string(WEXITSTATUS(st))
                         : "signal " + std::to_string(WTERMSIG(st));
  }

 private:
  Worker() = default;
  Status ReadExact(char* buf, size_t n, int timeout_ms) {
    for (size_t done = 0; done < n;) {
      pollfd p{from_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return Status::Transient("the worker did not answer in time");
      ssize_t got = ::read(from_.get(), buf + done, n - done);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return Status::IOError("the worker died");
      done += static_cast<size_t>(got);
    }
    return Status::OK();
  }
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd to_, from_;
};

class PythonModel : public LoadedModel {
 public:
  PythonModel(std::vector<std::string> argv, const ServeOptions& options)
      : argv_(std::move(argv)), options_(options) {}

  // Starts a worker and waits for model_fn.
  Result<std::unique_ptr<Worker>> Spawn() {
    CAIRN_ASSIGN_OR_RETURN(auto w, Worker::Start(argv_));
    auto ready = w->Receive(600 * 1000);  // SAGEMAKER_STARTUP_TIMEOUT
    if (!ready.ok()) {
      const std::string how = w->ExitDescription();
      return Status::Internal("the Python worker did not start" +
                              (how.empty() ? "" : " (" + how + ")") + ": " +
                              ready.status().message());
    }
    if (!ready->first.value("ready", false))
      return Status::Internal("model_fn failed: " + ready->first.value("error", std::string("?")));
    return w;
  }

  Status Start() {
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      CAIRN_ASSIGN_OR_RETURN(auto w, Spawn());
      idle_.push_back(std::move(w));
      ++alive_;
    }
    return Status::OK();
  }

  InvokeResponse Invoke(const InvokeRequest& req) override {
    std::unique_ptr<Worker> w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return !idle_.empty() || alive_ == 0; });
      if (!idle_.empty()) {
        w = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!w) return Error(503, "no Python worker is available");
    Json header = {{"content_type", req.content_type},
                   {"accept", req.accept},
                   {"custom_attributes", req.custom_attributes}};
    Status st = w->Send(header, req.body);
    Result<std::pair<Json, std::string>> reply = st.ok() ? w->Receive(60 * 1000) : st;
    if (reply.ok()) {
      Return(std::move(w));
      InvokeResponse r;
      r.status = reply->first.value("status", 500);
      r.content_type = reply->first.value("content_type", std::string("application/json"));
      r.body = std::move(reply->second);
      return r;
    }
    // The worker died or hung: answer this request, then replace the worker.
    std::string how = w->ExitDescription();
    w.reset();
    Restart();
    return Error(500, "the Python worker failed while handling the request (" +
                          (how.empty() ? reply.status().message() : "it died: " + how) +
                          "); it has been restarted");
  }

  std::string kind() const override { return "python"; }

 private:
  static InvokeResponse Error(int status, const std::string& message) {
    InvokeResponse r;
    r.status = status;
    r.body = Json{{"error", message}}.dump();
    return r;
  }
  void Return(std::unique_ptr<Worker> w) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(w));
    cv_.notify_one();
  }
  void Restart() {
    auto w = Spawn();
    std::lock_guard<std::mutex> lock(mu_);
    if (w.ok()) {
      idle_.push_back(std::move(*w));
    } else {
      --alive_;  // model_fn fails now: fewer workers (none left: every request gets a 503)
    }
    cv_.notify_all();
  }

  std::vector<std::string> argv_;
  ServeOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Worker>> idle_;
  int alive_ = 0;  // workers idle, busy or restarting
};

}  // namespace

Result<std::shared_ptr<LoadedModel>> LoadPythonModel(const std::string& model_dir,
                                                     const std::string& code_dir,
                                                     const std::string& entry_point,
                                                     const ServeOptions& options) {
  auto m = std::make_shared<PythonModel>(
      std::vector<std::string>{options.python, "-c", serving::kPythonShim, model_dir, code_dir,
                               entry_point, options.default_accept},
      options);
  CAIRN_RETURN_IF_ERROR(m->Start());
  return std::shared_ptr<LoadedModel>(std::move(m));
}

}  // namespace cairn
