// Python handlers: worker processes running cairn's shim (python/cairn_serving_shim.py), one
// request at a time each, over a pair of pipes. A worker that dies is restarted and the request
// it held is answered with an error.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
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
  // Reads through a buffer: a whole reply frame usually comes in one read(2).
  Status ReadExact(char* buf, size_t n, int timeout_ms) {
    for (size_t done = 0; done < n;) {
      if (in_pos_ < in_end_) {
        size_t k = std::min(n - done, in_end_ - in_pos_);
        std::memcpy(buf + done, in_.data() + in_pos_, k);
        in_pos_ += k;
        done += k;
        continue;
      }
      pollfd p{proc_->stdout_fd(), POLLIN, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return Status::Transient("the worker did not answer in time");
      // What is left of a big body goes straight to `buf`; small pieces through the buffer.
      const bool direct = n - done >= in_.size();
      ssize_t got = direct ? ::read(proc_->stdout_fd(), buf + done, n - done)
                           : ::read(proc_->stdout_fd(), in_.data(), in_.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) return Status::IOError("the worker died");
      if (direct) {
        done += static_cast<size_t>(got);
      } else {
        in_pos_ = 0;
        in_end_ = static_cast<size_t>(got);
      }
    }
    return Status::OK();
  }
  std::unique_ptr<Subprocess> proc_;
  static constexpr size_t kReadSize = 64 << 10;
  std::vector<char> in_ = std::vector<char>(kReadSize);  // read from the worker: [in_pos_, in_end_)
  size_t in_pos_ = 0, in_end_ = 0;                       // not yet taken
};

// Requests wait in one FIFO queue (first come, first served: no request is passed over while
// later ones are answered, which is what keeps the tail short at 64 connections); each worker
// process has a thread of its own that takes the oldest request, sends it, and answers it when
// the worker replies. No thread waits per request.
class PythonModel : public LoadedModel {
 public:
  PythonModel(std::vector<std::string> argv, const ServeOptions& options)
      : argv_(std::move(argv)), options_(options) {}

  ~PythonModel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    cv_stop_.notify_all();
    for (auto& t : threads_) t.join();
    if (sweeper_.joinable()) sweeper_.join();
  }

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

  // Every worker has run model_fn before the model is served.
  Status Start() {
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      CAIRN_ASSIGN_OR_RETURN(auto w, Spawn());
      workers.push_back(std::move(w));
    }
    alive_ = static_cast<int>(workers.size());
    for (auto& w : workers) {
      threads_.emplace_back([this, w = std::move(w)]() mutable { Serve(std::move(w)); });
    }
    sweeper_ = std::thread([this] { Sweep(); });
    return Status::OK();
  }

  InvokeResponse Invoke(const InvokeRequest& req) override {
    std::promise<InvokeResponse> answer;
    auto future = answer.get_future();
    InvokeAsync(req, [&answer](InvokeResponse r) { answer.set_value(std::move(r)); });
    return future.get();
  }

  void InvokeAsync(const InvokeRequest& req, std::function<void(InvokeResponse)> done) override {
    bool full = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      full = queue_.size() >= kMaxQueued;  // the workers are far behind
      if (alive_ > 0 && !stopping_ && !full) {
        queue_.push_back(Job{req, std::move(done), std::chrono::steady_clock::now()});
        cv_.notify_one();
        return;
      }
    }
    done(Error(503, full ? "too many requests are waiting for the Python workers"
                         : "no Python worker is available (model_fn fails on restart)"));
  }

  std::string kind() const override { return "python"; }

  // Whether the calling thread is one of this model's worker threads (or its sweeper) (where the
  // model must not be destroyed: its destructor joins them).
  bool OnWorkerThread() const {
    for (const auto& t : threads_)
      if (t.get_id() == std::this_thread::get_id()) return true;
    return sweeper_.get_id() == std::this_thread::get_id();
  }

 private:
  struct Job {
    InvokeRequest req;
    std::function<void(InvokeResponse)> done;
    std::chrono::steady_clock::time_point queued;
  };

  static InvokeResponse Error(int status, const std::string& message) {
    InvokeResponse r;
    r.status = status;
    r.body = Json{{"error", message}}.dump();
    return r;
  }

  static constexpr size_t kMaxQueued = 4096;
  static constexpr auto kMaxWait = std::chrono::seconds(60);

  // Answers 503 to requests that waited a minute for a worker (every worker busy with slow
  // handlers, or restarting), as SageMaker's model server does; checks once a second.
  void Sweep() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_stop_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; })) {
      std::vector<Job> expired;
      const auto now = std::chrono::steady_clock::now();
      while (!queue_.empty() && now - queue_.front().queued > kMaxWait) {
        expired.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      for (auto& job : expired) job.done(Error(503, "no Python worker was free within 60 s"));
      expired.clear();
      lock.lock();
    }
  }

  // One worker's thread: oldest request first, until the model stops.
  void Serve(std::unique_ptr<Worker> w) {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      if (std::chrono::steady_clock::now() - job.queued > kMaxWait) {
        job.done(Error(503, "no Python worker was free within 60 s"));
        continue;
      }
      job.done(Run(w, job.req));
      if (!w && !Replace(w)) return;
    }
  }

  InvokeResponse Run(std::unique_ptr<Worker>& w, const InvokeRequest& req) {
    Json header = {{"content_type", req.content_type},
                   {"accept", req.accept},
                   {"custom_attributes", req.custom_attributes}};
    Status st = w->Send(header, req.body);
    Result<std::pair<Json, std::string>> reply =
        st.ok() ? w->Receive(options_.timeout_seconds * 1000) : st;
    if (reply.ok()) {
      InvokeResponse r;
      r.status = reply->first.value("status", 500);
      r.content_type = reply->first.value("content_type", std::string("application/json"));
      r.body = std::move(reply->second);
      return r;
    }
    // The worker died or hung: this request is answered, then the worker replaced.
    std::string how = w->ExitDescription();
    w.reset();
    return Error(500, "the Python worker failed while handling the request (" +
                          (how.empty() ? reply.status().message() : "it died: " + how) +
                          "); it has been restarted");
  }

  // A new worker for one that failed; false (this thread ends) when model_fn fails now. With no
  // worker left, every request waiting is answered 503.
  bool Replace(std::unique_ptr<Worker>& w) {
    auto fresh = Spawn();
    if (fresh.ok()) {
      w = std::move(*fresh);
      return true;
    }
    std::deque<Job> orphaned;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--alive_ == 0) orphaned.swap(queue_);
    }
    for (auto& job : orphaned)
      job.done(Error(503, "no Python worker is available (model_fn fails on restart: " +
                              fresh.status().message() + ")"));
    return false;
  }

  std::vector<std::string> argv_;
  ServeOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  int alive_ = 0;  // worker threads still serving
  std::vector<std::thread> threads_;
  std::condition_variable cv_stop_;  // wakes the sweeper when the model stops
  std::thread sweeper_;
};

}  // namespace

Result<std::shared_ptr<LoadedModel>> LoadPythonModel(const std::string& model_dir,
                                                     const std::string& code_dir,
                                                     const std::string& entry_point,
                                                     const ServeOptions& options) {
  auto m = std::make_unique<PythonModel>(
      std::vector<std::string>{options.python, "-c", serving::kPythonShim, model_dir, code_dir,
                               entry_point, options.default_accept},
      options);
  CAIRN_RETURN_IF_ERROR(m->Start());
  // A request answered on a worker thread may drop the model's last reference there (an old
  // version whose last request ends after a swap); the destructor joins those threads, so it
  // then runs on another one.
  return std::shared_ptr<LoadedModel>(m.release(), [](LoadedModel* lm) {
    auto* model = static_cast<PythonModel*>(lm);
    if (model->OnWorkerThread()) {
      std::thread([model] { delete model; }).detach();
    } else {
      delete model;
    }
  });
}

}  // namespace cairn
