// The HTTP client every layer uses (S3, the endpoint proxy of cairn server, cairn predict):
// libcurl easy handles kept in a pool, so connections (and TLS sessions) are reused between
// requests. Bodies are sent from memory (a retry can send them again) and received into a
// ByteSink or a string.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cairn/core/byte_sink.h"
#include "cairn/core/status.h"

namespace cairn::net {

using Headers = std::vector<std::pair<std::string, std::string>>;
// Reads up to `size` body bytes from `offset` into `buf`; returns how many (0: none left).
using BodyReader = std::function<Result<size_t>(uint64_t offset, uint8_t* buf, size_t size)>;

struct Request {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string url;
  Headers headers;
  // The body, held in memory so that a retry can send it again.
  const uint8_t* body = nullptr;
  size_t body_size = 0;
  // Or, with body == nullptr: body_size bytes read on demand through this (offset from the
  // body's start; called again from 0 if the request is resent), so a large body need not be in
  // memory. An error it returns (or fewer bytes than body_size) fails the request with it.
  const BodyReader* body_reader = nullptr;
  // For 2xx responses the body is streamed here; otherwise it is kept in Response::body.
  const ByteSink* sink = nullptr;
  long timeout_s = 300;  // the whole exchange, seconds
  // Response::body keeps at most this many bytes (the rest is dropped): error bodies are small.
  size_t max_body = 1u << 20;
};

struct Response {
  long status = 0;
  Headers headers;   // names lower-cased
  std::string body;  // when no sink took it (at most Request::max_body bytes)
  std::string Header(const std::string& lower_name) const;
};

// Sends requests; safe from many threads. Keeps a pool of curl handles so that connections
// (and TLS sessions) are reused between requests.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A transport failure is kTransient when retrying may help (refused or reset connection,
  // timeout), kIOError otherwise; any HTTP status is a successful Response. If the sink fails,
  // its Status is returned.
  Result<Response> Perform(const Request& request);

  // A request with `body` (empty: none) and "Name: value" `headers`, the response kept whole.
  Result<Response> Send(const std::string& method, const std::string& url,
                        const std::string& body = "", const Headers& headers = {},
                        long timeout_s = 60, size_t max_body = 64u << 20);

 private:
  void* Acquire();
  void Release(void* handle);
  std::mutex mu_;
  std::vector<void*> idle_;
};

}  // namespace cairn::net
