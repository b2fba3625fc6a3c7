#include "cairn/serving/server.h"

#include <deque>
#include <functional>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "cairn/net/http_server.h"

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
  Metrics metrics;
  std::unique_ptr<net::HttpServer> http;
  std::mutex mu;
  std::condition_variable cv;  // the poller's
  bool stopping = false;
  std::thread poller;
  // Blocking models (Python workers) run here, off the event loops.

  Impl(Endpoint& e, ServerOptions o) : endpoint(e), options(std::move(o)) {}

  void Invocations(net::HttpRequest& req, net::Respond respond) {
    const auto start = std::chrono::steady_clock::now();
    auto version = endpoint.current();  // held until the answer is sent
    if (!version) {
      net::HttpResponse r;
      r.status = 503;
      r.body = ErrorJson("no model is loaded yet");
      return respond(std::move(r));
    }
    InvokeRequest in;
    in.body = std::move(req.body);
    in.content_type = req.Header("content-type");
    if (auto semi = in.content_type.find(';'); semi != std::string::npos)
      in.content_type.resize(semi);
    in.accept = req.Header("accept");
    in.custom_attributes = req.Header("x-amzn-sagemaker-custom-attributes");
    auto answer = [this, version, respond, start](InvokeResponse out) {
      net::HttpResponse r;
      r.status = out.status;
      r.content_type = out.content_type;
      r.body = std::move(out.body);
      r.headers.emplace_back("X-Cairn-Model-Version", version->ref);
      metrics.Observe(
          r.status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      respond(std::move(r));
    };
    // Native models decode here and batch off the event loop; Python models queue the request
    // for their workers' threads. Neither blocks the loop.
    version->model->InvokeAsync(in, std::move(answer));
  }

  void Handle(net::HttpRequest& req, net::Respond respond) {
    std::string path = req.target.substr(0, req.target.find('?'));
    net::HttpResponse r;
    auto method = [&](const char* want) {
      if (req.method == want) return true;
      r.status = 405;
      r.body = ErrorJson(path + " takes " + want);
      return false;
    };
    if (path == "/invocations") {
      if (method("POST")) return Invocations(req, std::move(respond));
    } else if (path == "/ping") {
      if (method("GET")) {
        r.status = endpoint.current() ? 200 : 503;
        r.content_type = "text/plain";
      }
    } else if (path == "/models") {
      if (method("GET")) r.body = endpoint.ModelsJson();
    } else if (path == "/metrics") {
      if (method("GET")) {
        r.content_type = "text/plain; version=0.0.4";
        r.body = metrics.Text(endpoint);
      }
    } else {
      r.status = 404;
      r.body =
          ErrorJson("no route " + path + " (there are /ping, /invocations, /models, /metrics)");
    }
    respond(std::move(r));
  }
};

InferenceServer::InferenceServer(Endpoint& endpoint, ServerOptions options)
    : impl_(std::make_unique<Impl>(endpoint, std::move(options))) {}

InferenceServer::~InferenceServer() { Stop(); }

Status InferenceServer::Run() {
  Impl& s = *impl_;
  net::HttpServer::Options ho;
  ho.host = s.options.host;
  ho.port = s.options.port;
  ho.max_body = s.options.max_payload_bytes;
  auto http = net::HttpServer::Listen(
      ho, [&s](net::HttpRequest& req, net::Respond respond) { s.Handle(req, std::move(respond)); });
  if (!http.ok()) return http.status();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.http = std::move(*http);
    if (s.stopping) return Status::OK();
  }
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
  s.http->Run();  // until Stop(); requests in flight are answered before it returns
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.poller.joinable()) s.poller.join();
  return Status::OK();
}

void InferenceServer::Stop() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->http) {
    impl_->http->Stop();
  } else {
    impl_->stopping = true;
  }
}

}  // namespace cairn
