// Private to api: the fleets behind endpoints (endpoint_fleet.h), and the endpoint records they
// change. A deploy builds the new fleet beside the one serving, switches once every instance
// answers /ping, then retires the old one (its instances finish their requests in flight), so no
// request fails. InvokeEndpoint picks a variant (TargetVariant, else by weight) and one of its
// instances (round robin), passes the request with the pooled HTTP client and records SageMaker's
// endpoint metrics (metrics.h). Every change of an endpoint record is made here, under one mutex,
// so a deploy finishing and a delete cannot interleave.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "api.h"
#include "cairn/core/thread_pool.h"
#include "deployment.h"
#include "endpoint_fleet.h"
#include "records.h"

namespace cairn::api {

class EndpointHosts {
 public:
  explicit EndpointHosts(Context& c) : c_(c) {}
  // Closes the deploy gate (deploys in flight give up), waits for them, then stops every
  // instance (each finishes its requests in flight).
  ~EndpointHosts();

  // Writes the new record (create-if-absent: kAlreadyExists when the name is taken) and deploys
  // its configuration in the background.
  Status Create(const EndpointRecord& record);
  // Moves an InService endpoint to `config` in the background, shifting traffic as
  // `deployment_config` (UpdateEndpoint's DeploymentConfig, deployment.h) says. kInvalidArgument
  // unless it is InService, or for a bad DeploymentConfig; kNotFound without a record.
  Status Update(const std::string& endpoint, const std::string& config,
                const Json& deployment_config);
  // UpdateEndpointWeightsAndCapacities: `desired` is its DesiredWeightsAndCapacities
  // ([{VariantName, DesiredWeight?, DesiredInstanceCount?}]). Weights change at once; instances
  // are added or retired in the background. kInvalidArgument for an endpoint not InService, an
  // unknown variant or a bad value.
  Status UpdateWeights(const std::string& endpoint, const Json& desired);
  // Stops the endpoint's instances and deletes its record. kNotFound without a record.
  Status Remove(const std::string& endpoint);
  // Deploys the endpoint from its record, unless it is Failed or already served here: after a
  // restart, or when this server takes it over from one that died. An update the previous
  // owner did not finish is rolled back (the record's configuration is the one served before).
  Status Adopt(const std::string& endpoint);
  // Stops serving the endpoint here without touching its record (its lease went to another
  // server, which serves it now).
  void Drop(const std::string& endpoint);
  bool Serves(const std::string& endpoint);
  // Starts looking at every instance once a second: one whose process ended, or that its load
  // balancer has seen DOWN for kDownSeconds, is taken out of rotation and replaced (on another
  // node, with Slurm), and the endpoint's InstanceEvents say so (endpoint_health.cc).
  void StartHealthChecks();
  // Adds to a DescribeEndpoint answer: ProductionVariants (VariantName, CurrentWeight,
  // DesiredWeight, CurrentInstanceCount, DesiredInstanceCount, DeployedImages; weights scaled by
  // the old fleet's share while a deployment runs) and, during a deployment,
  // PendingDeploymentSummary (the new fleet's variants, their share and VariantStatus).
  void Describe(const std::string& endpoint, Json& out);

  // POST /endpoints/<name>/invocations (the runtime API), answered as SageMaker's runtime does.
  net::HttpResponse Invoke(const std::string& name, const net::HttpRequest& req);

 private:
  // Deploys on a thread of its own, entered in `deploys_`. `generation` is the record's
  // created_ms: a deploy whose endpoint was deleted and created again meanwhile is dropped.
  Status StartDeploy(const std::string& endpoint, const std::string& config, bool update,
                     int64_t generation);
  void Deploy(const std::string& endpoint, const std::string& config, bool update,
              int64_t generation);
  // The variants of `config` with the record's desired weights and counts over them.
  Result<std::vector<VariantSpec>> Specs(const std::string& config, const EndpointRecord& record);
  // Shifts traffic from the fleet serving to `green` by `plan`'s steps, baking each and watching
  // its alarms. "" once green has every request; else why it rolled back (every request back on
  // the old fleet by then).
  std::string ShiftTraffic(const std::string& endpoint, const std::shared_ptr<const Fleet>& green,
                           const DeploymentPlan& plan);
  // Sets the endpoint's routing if `blue` still serves it; false if not (deleted meanwhile).
  bool Route(const std::string& endpoint, const std::shared_ptr<const Fleet>& blue,
             const std::shared_ptr<const Fleet>& green, double green_share, Json progress);
  // The health check's tick, and the replacement of one dead instance (its own thread).
  void CheckHealth();
  void Replace(const std::string& endpoint, std::shared_ptr<const Variant> variant,
               std::shared_ptr<Instance> dead, const std::string& why);
  void Event(const std::string& endpoint, const std::string& message);
  // Stops a fleet's instances that no live fleet shares, off the caller's thread.
  void Retire(std::shared_ptr<const Fleet> fleet);
  // The fleet serving the endpoint (the old one while a deployment runs), or null.
  std::shared_ptr<const Fleet> Live(const std::string& endpoint);

  // What serves an endpoint: one fleet, or during a deployment the old (blue) and the new
  // (green) with the share of requests green takes.
  struct Routing {
    std::shared_ptr<const Fleet> blue, green;
    double green_share = 0;
    Json progress;  // the deployment's step, for DescribeEndpoint
  };
  // Drops a routing (and the fleets only it holds) on a thread of its own.
  void RetireRouting(std::shared_ptr<const Routing> routing);
  RecordStore<EndpointRecord> records() { return RecordStore<EndpointRecord>(c_.registry.store()); }

  Context& c_;
  Gate deploys_;           // deploy threads in flight
  std::mutex records_mu_;  // held while an endpoint record is read, changed and written
  std::mutex mu_;          // guards live_
  std::map<std::string, std::shared_ptr<const Routing>> live_;  // endpoint -> what serves it
  std::map<std::string, std::vector<Json>> events_;  // endpoint -> its last instance events
  std::unique_ptr<Periodic> health_;                 // last member: stopped first
};

}  // namespace cairn::api
