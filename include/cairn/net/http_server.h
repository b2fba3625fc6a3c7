// The HTTP server of endpoints (cairn-serve) and cairn server: a small HTTP/1.1 server on epoll,
// one event loop per core (SO_REUSEPORT spreads connections over them), for /invocations' many
// small keep-alive requests: a few threads multiplex every connection, so none waits behind dozens
// of threads for a CPU (cpp-httplib's thread per connection gave p99s of a second at 64 connections
// on 2 cores). Handlers answer through a Respond callback, at once on the loop's thread (fast
// handlers) or later from any thread (Python workers). Request bodies need Content-Length;
// pipelined requests are answered in order; Expect: 100-continue is honoured.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cairn/core/status.h"

namespace cairn::net {

struct HttpRequest {
  std::string method, target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string Header(const std::string& lowercase_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request's head (request line and headers) parsed from the start of `in`: a pure function,
// fuzzed by fuzz/http_fuzz.cc. kIncomplete: more bytes are needed; kError: answer `status` with
// `message` and close.
struct ParsedHead {
  HttpRequest request;   // without its body
  size_t head_size = 0;  // bytes up to and including the blank line
  size_t body_size = 0;  // from Content-Length
  bool keep_alive = true;
  bool expect_continue = false;
};
struct ParseOutcome {
  enum Kind { kIncomplete, kHead, kError } kind = kIncomplete;
  int status = 0;
  std::string message;
};
ParseOutcome ParseHead(std::string_view in, size_t max_body, ParsedHead* out);

// Call exactly once, from any thread.
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest& request, Respond respond)>;

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    int loops = 0;                      // 0: one per core
    size_t max_body = 6 * 1000 * 1000;  // larger bodies get 413
    int idle_timeout_seconds = 60;
  };
  // Binds (every loop its own listening socket on the same port).
  static Result<std::unique_ptr<HttpServer>> Listen(const Options& options, HttpHandler handler);
  ~HttpServer();
  // Serves until Stop(): then stops accepting, finishes requests in flight, returns.
  void Run();
  void Stop();  // from any thread

 private:
  HttpServer() = default;
  struct Loop;
  std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace cairn::net
