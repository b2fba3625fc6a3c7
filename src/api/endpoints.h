// Private to api: SageMaker models, endpoint configurations and endpoints. Each endpoint runs as a
// cairn-serve process on a private port; InvokeEndpoint is passed to it. UpdateEndpoint starts the
// new configuration beside the old one, switches once it answers /ping, then stops the old one
// (SIGTERM: its requests in flight finish), so no request fails. Records live in the store
// (api/models/, api/endpoint-configs/, api/endpoints/); a restarted server brings endpoints back.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api.h"
#include "serving/http_server.h"

namespace cairn::api {

class EndpointHosts {
 public:
  explicit EndpointHosts(Context& c) : c_(c) {}
  ~EndpointHosts();
  // Starts every endpoint recorded as in service (after a restart).
  void Restore();
  Json CreateModel(const Json& in);
  Json DescribeModel(const Json& in);
  Json DeleteModel(const Json& in);
  Json CreateEndpointConfig(const Json& in);
  Json DescribeEndpointConfig(const Json& in);
  Json DeleteEndpointConfig(const Json& in);
  Json CreateEndpoint(const Json& in);
  Json UpdateEndpoint(const Json& in);
  Json DescribeEndpoint(const Json& in);
  Json ListEndpoints(const Json& in);
  Json DeleteEndpoint(const Json& in);
  // POST /endpoints/<name>/invocations (the runtime API).
  serving::HttpResponse Invoke(const std::string& name, const serving::HttpRequest& req);

 private:
  struct Process;  // a running cairn-serve
  // Starts cairn-serve for the endpoint's configuration; on success it replaces the old process.
  void Deploy(const std::string& endpoint, const std::string& config, bool update);
  Json Record(const std::string& kind, const std::string& name);  // throws when missing
  void SaveEndpoint(const Json& record);

  // Deploys run on their own threads; the destructor stops and waits for them.
  void Spawn(const std::string& endpoint, const std::string& config, bool update);
  // Forks cairn-serve from one long-lived thread: PR_SET_PDEATHSIG fires when the forking
  // *thread* ends, so a deploy thread cannot be the parent.
  pid_t Fork(std::vector<std::string> argv);
  void ForkLoop();

  Context& c_;
  std::mutex mu_;
  std::condition_variable idle_;
  int deploying_ = 0;
  bool stopping_ = false;
  struct ForkRequest {
    std::vector<std::string> argv;
    std::promise<pid_t> pid;
  };
  std::deque<ForkRequest> forks_;
  std::condition_variable fork_cv_;
  std::thread forker_{[this] { ForkLoop(); }};
  std::map<std::string, std::shared_ptr<Process>> live_;  // endpoint -> process serving it
  std::map<std::string, std::string> variant_;            // endpoint -> variant name
};

}  // namespace cairn::api
