// Python handlers: worker processes running cairn's shim (python/cairn_serving_shim.py), one
// request at a time each, over a pair of pipes. A worker that dies is restarted and the request
// it held is answered with an error.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "cairn/core/subprocess.h"
#include "cairn/serving/model.h"
#include "cairn_shim.h"

namespace cairn {
namespace {

using Json = nlohmann::json;

class Worker {
 public:
  // The worker reads frames on stdin and writes them on stdout; its stderr is cairn-serve's.
  static Result<std::unique_ptr<Worker>> Start(const std::vector<std::string>& argv) {
    SubprocessOptions o;
    o.argv = argv;
    o.new_process_group = false;  // cairn-serve's group: a Ctrl-C reaches the workers too
    o.stdin_mode = SubprocessOptions::Stdio::kPipe;
    o.stdout_mode = SubprocessOptions::Stdio::kPipe;
    CAIRN_ASSIGN_OR_RETURN(auto proc, Subprocess::Start(o));
    std::unique_ptr<Worker> w(new Worker());
    w->proc_ = std::move(proc);
    return w;
  }
  ~Worker() {
    proc_->CloseStdin();
    proc_.reset();  // SIGKILL and reaped
  }

  Status Send(const Json& header, std::string_view body) {
    const std::string h = header.dump();
    uint32_t lens[2] = {static_cast<uint32_t>(h.size()), static_cast<uint32_t>(body.size())};
    std::string frame(reinterpret_cast<const char*>(lens), 8);
    frame += h;
    frame.append(body);
    for (size_t done = 0; done < frame.size();) {
      ssize_t n = ::write(proc_->stdin_fd(), frame.data() + done, frame.size() - done);
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
    if (!proc_->Poll()) {
      ::usleep(20000);
      proc_->Poll();
    }
    return proc_->Describe();
  }

 private:
  Worker() = default;
  Status ReadExact(char* buf, size_t n, int timeout_ms) {
    for (size_t done = 0; done < n;) {
      pollfd p{proc_->stdout_fd(), POLLIN, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return Status::Transient("the worker did not answer in time");
      ssize_t got = ::read(proc_->stdout_fd(), buf + done, n - done);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) return Status::IOError("the worker died");
      done += static_cast<size_t>(got);
    }
    return Status::OK();
  }
  std::unique_ptr<Subprocess> proc_;
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
    Result<std::pair<Json, std::string>> reply =
        st.ok() ? w->Receive(options_.timeout_seconds * 1000) : st;
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
