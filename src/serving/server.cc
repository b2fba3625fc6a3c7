#include "cairn/serving/server.h"

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace cairn {

namespace {

// Request counts and latency histograms by status, for /metrics.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  void Observe(int status, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    Series& s = by_status_[status];
    ++s.count;
    s.sum += seconds;
    for (size_t i = 0; i < kBuckets.size(); ++i)
      if (seconds <= kBuckets[i]) ++s.buckets[i];
  }
  std::string Text(const Endpoint& endpoint) const {
    std::string out;
    out += "# HELP cairn_requests_total Invocations answered, by HTTP status.\n";
    out += "# TYPE cairn_requests_total counter\n";
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [status, s] : by_status_)
      out += "cairn_requests_total{status=\"" + std::to_string(status) + "\"} " +
             std::to_string(s.count) + "\n";
    out += "# HELP cairn_request_duration_seconds Time to answer an invocation.\n";
    out += "# TYPE cairn_request_duration_seconds histogram\n";
    for (const auto& [status, s] : by_status_) {
      const std::string st = "status=\"" + std::to_string(status) + "\"";
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        char le[32];
        std::snprintf(le, sizeof(le), "%g", kBuckets[i]);
        out += "cairn_request_duration_seconds_bucket{" + st + ",le=\"" + le + "\"} " +
               std::to_string(s.buckets[i]) + "\n";
      }
      out += "cairn_request_duration_seconds_bucket{" + st + ",le=\"+Inf\"} " +
             std::to_string(s.count) + "\n";
      char sum[64];
      std::snprintf(sum, sizeof(sum), "%.9f", s.sum);
      out += "cairn_request_duration_seconds_sum{" + st + "} " + sum + "\n";
      out += "cairn_request_duration_seconds_count{" + st + "} " + std::to_string(s.count) + "\n";
    }
    char load[64];
    std::snprintf(load, sizeof(load), "%.6f", endpoint.last_load_seconds());
    out += "# HELP cairn_model_load_seconds How long the last version took to restore and load.\n";
    out += "# TYPE cairn_model_load_seconds gauge\ncairn_model_load_seconds " + std::string(load) +
           "\n";
    out += "# HELP cairn_model_swaps_total Versions swapped in after the first.\n";
    out += "# TYPE cairn_model_swaps_total counter\ncairn_model_swaps_total " +
           std::to_string(endpoint.swaps()) + "\n";
    out += "# HELP cairn_model_version_info The version being served.\n";
    out += "# TYPE cairn_model_version_info gauge\n";
    if (auto cur = endpoint.current())
      out += "cairn_model_version_info{ref=\"" + endpoint.ref() + "\",version=\"" + cur->ref +
             "\"} 1\n";
    return out;
  }

 private:
  struct Series {
    uint64_t count = 0;
    double sum = 0;
    std::array<uint64_t, kBuckets.size()> buckets{};
  };
  mutable std::mutex mu_;
  std::map<int, Series> by_status_;
};

std::string ErrorJson(const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return "{\"error\": \"" + escaped + "\"}";
}

}  // namespace

struct InferenceServer::Impl {
  Endpoint& endpoint;
  ServerOptions options;
  httplib::Server http;
  Metrics metrics;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread poller;

  Impl(Endpoint& e, ServerOptions o) : endpoint(e), options(std::move(o)) {}

  void Invocations(const httplib::Request& req, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    auto version = endpoint.current();  // held until the answer is sent
    InvokeResponse out;
    if (!version) {
      out.status = 503;
      out.body = ErrorJson("no model is loaded yet");
    } else {
      InvokeRequest in;
      in.body = req.body;
      in.content_type = req.get_header_value("Content-Type");
      if (auto semi = in.content_type.find(';'); semi != std::string::npos)
        in.content_type.resize(semi);
      in.accept = req.get_header_value("Accept");
      in.custom_attributes = req.get_header_value("X-Amzn-SageMaker-Custom-Attributes");
      out = version->model->Invoke(in);
      res.set_header("X-Cairn-Model-Version", version->ref);
    }
    res.status = out.status;
    res.set_content(std::move(out.body), out.content_type.c_str());
    metrics.Observe(
        out.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
};

InferenceServer::InferenceServer(Endpoint& endpoint, ServerOptions options)
    : impl_(std::make_unique<Impl>(endpoint, std::move(options))) {}

InferenceServer::~InferenceServer() { Stop(); }

Status InferenceServer::Run() {
  Impl& s = *impl_;
  const int threads = std::max(4, s.options.threads);
  s.http.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  s.http.set_payload_max_length(kMaxPayloadBytes);  // bigger bodies get 413 from httplib
  s.http.set_keep_alive_max_count(1000000);
  s.http.set_keep_alive_timeout(60);
  s.http.set_read_timeout(60);
  s.http.set_write_timeout(60);
  s.http.Get("/ping", [&s](const httplib::Request&, httplib::Response& res) {
    res.status = s.endpoint.current() ? 200 : 503;
    res.set_content("", "text/plain");
  });
  s.http.Post("/invocations", [&s](const httplib::Request& req, httplib::Response& res) {
    s.Invocations(req, res);
  });
  s.http.Get("/models", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.endpoint.ModelsJson(), "application/json");
  });
  s.http.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.metrics.Text(s.endpoint), "text/plain; version=0.0.4");
  });
  s.http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) {
      res.set_content(ErrorJson("the request body is larger than 6 MB (SageMaker's limit)"),
                      "application/json");
    } else if (res.body.empty()) {
      res.set_content(ErrorJson("no such route"), "application/json");
    }
  });
  if (!s.http.bind_to_port(s.options.host.c_str(), s.options.port))
    return Status::IOError("cannot listen on " + s.options.host + ":" +
                           std::to_string(s.options.port));
  s.poller = std::thread([&s] {
    std::unique_lock<std::mutex> lock(s.mu);
    const auto period =
        std::chrono::milliseconds(static_cast<int64_t>(s.options.poll_seconds * 1000));
    while (!s.cv.wait_for(lock, period, [&s] { return s.stopping; })) {
      lock.unlock();
      if (s.endpoint.Refresh()) {
        std::fprintf(stderr, "cairn-serve: now serving %s\n", s.endpoint.current()->ref.c_str());
      }
      lock.lock();
    }
  });
  const bool ok = s.http.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.poller.joinable()) s.poller.join();
  return ok ? Status::OK() : Status::IOError("the server stopped with an error");
}

void InferenceServer::Stop() {
  if (impl_) impl_->http.stop();
}

}  // namespace cairn
