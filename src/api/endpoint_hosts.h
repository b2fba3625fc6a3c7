// Private to api: the processes behind endpoints, and the endpoint records they change. Each
// endpoint runs as a cairn-serve process on a private port (a Subprocess, SIGTERM'd if the server
// dies). A deploy starts the new process beside the old one, switches once it answers /ping, then
// stops the old one with SIGTERM (its requests in flight finish), so no request fails.
// InvokeEndpoint is passed to the live process with the pooled HTTP client. Every change of an
// endpoint record is made here, under one mutex, so a deploy finishing and a delete cannot
// interleave.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api.h"
#include "cairn/core/subprocess.h"
#include "cairn/core/thread_pool.h"
#include "log_pump.h"
#include "records.h"

namespace cairn::api {

class EndpointHosts {
 public:
  explicit EndpointHosts(Context& c) : c_(c) {}
  // Closes the deploy gate (deploys in flight give up), waits for them, then stops every
  // process (each finishes its requests in flight).
  ~EndpointHosts();

  // Writes the new record (create-if-absent: kAlreadyExists when the name is taken) and deploys
  // its configuration in the background.
  Status Create(const EndpointRecord& record);
  // Moves an InService endpoint to `config` in the background. kInvalidArgument unless it is
  // InService; kNotFound without a record.
  Status Update(const std::string& endpoint, const std::string& config);
  // Stops the endpoint's process and deletes its record. kNotFound without a record.
  Status Remove(const std::string& endpoint);
  // Deploys every endpoint recorded as not Failed (after a restart).
  Status Restore();
  // The variant the endpoint serves, "" when it has no live process.
  std::string Variant(const std::string& endpoint);

  // POST /endpoints/<name>/invocations (the runtime API), answered as SageMaker's runtime does.
  net::HttpResponse Invoke(const std::string& name, const net::HttpRequest& req);

 private:
  struct Instance {
    std::unique_ptr<Subprocess> process;  // cairn-serve
    std::unique_ptr<LogPump> log;         // its output, to /aws/sagemaker/Endpoints/<name>
    int port = 0;
    std::string config, variant;
    std::string id;  // "i-<hex>": the instance's log stream is "<variant>/<id>"
    ~Instance();
  };
  // Deploys on a thread of its own, entered in `deploys_`. `generation` is the record's
  // created_ms: a deploy whose endpoint was deleted and created again meanwhile is dropped.
  Status StartDeploy(const std::string& endpoint, const std::string& config, bool update,
                     int64_t generation);
  // Starts cairn-serve for the configuration and waits for /ping; the instance, or why not.
  Result<std::shared_ptr<Instance>> Launch(const std::string& endpoint, const std::string& config);
  void Deploy(const std::string& endpoint, const std::string& config, bool update,
              int64_t generation);
  // Stops an instance off the request's thread (its requests in flight may take a while).
  void Retire(std::shared_ptr<Instance> instance);
  RecordStore<EndpointRecord> records() { return RecordStore<EndpointRecord>(c_.registry.store()); }

  Context& c_;
  Gate deploys_;           // deploy threads in flight
  std::mutex records_mu_;  // held while an endpoint record is read, changed and written
  std::mutex mu_;          // guards live_
  std::map<std::string, std::shared_ptr<Instance>> live_;  // endpoint -> its process
};

}  // namespace cairn::api
