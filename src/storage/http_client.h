// Private to the storage layer: HTTP requests through libcurl, with reused connections.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cairn/storage/object_store.h"

namespace cairn::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string url;
  Headers headers;
  // The body, held in memory so that a retry can send it again.
  const uint8_t* body = nullptr;
  size_t body_size = 0;
  // For 2xx responses the body is streamed here; otherwise it is kept in Response::body.
  const ByteSink* sink = nullptr;
  long timeout_s = 300;
};

struct Response {
  long status = 0;
  Headers headers;   // names lower-cased
  std::string body;  // when no sink took it (capped at 1 MiB)
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

 private:
  void* Acquire();
  void Release(void* handle);
  std::mutex mu_;
  std::vector<void*> idle_;
};

}  // namespace cairn::http
