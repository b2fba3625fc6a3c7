// The HTTP front end of an endpoint, with SageMaker's container contract: GET /ping, POST
// /invocations (Content-Type and Accept honoured, 6 MB limit), plus GET /models (the loaded
// versions and their states) and GET /metrics (Prometheus text). Each response to an invocation
// names the version that answered in X-Cairn-Model-Version.
#pragma once

#include <memory>
#include <string>

#include "cairn/serving/endpoint.h"
#include "cairn/serving/model.h"

namespace cairn {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  double poll_seconds = 2.0;  // how often the endpoint looks for a moved alias / latest
  // The largest /invocations body, bytes: SageMaker's 6 MB for endpoints; a transform job's
  // MaxPayloadInMB (up to 100 MB) for its instances.
  size_t max_payload_bytes = kMaxPayloadBytes;
};

class InferenceServer {
 public:
  InferenceServer(Endpoint& endpoint, ServerOptions options);
  ~InferenceServer();
  // Listens and serves until Stop(); returns an error if it cannot listen.
  Status Run();
  // Stops accepting, lets requests in flight finish, and makes Run() return. Safe from any
  // thread (not from a signal handler: set a flag and call it from a thread).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
