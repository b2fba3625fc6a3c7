// Private to api: what serves an endpoint. A Fleet is one endpoint configuration deployed: for
// each production variant, its model's cairn-serve instances (Instance: a Subprocess on a private
// port, its output pumped to the endpoint's log group) and its traffic weight. Fleets are built
// whole and never changed: a weight change or a deployment makes a new Fleet that shares the
// instances it keeps, and swaps it in (EndpointHosts). Requests hold a shared_ptr to what they
// use, so an instance retired meanwhile stops only once its requests are answered.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api.h"
#include "cairn/core/subprocess.h"
#include "load_balancer.h"
#include "log_pump.h"

namespace cairn::api {

// One ProductionVariant of an endpoint configuration (CreateEndpointConfig).
struct VariantSpec {
  std::string name;        // VariantName
  std::string model;       // ModelName
  int count = 1;           // InitialInstanceCount: cairn-serve processes
  double weight = 1;       // InitialVariantWeight
  int max_payload_mb = 6;  // the largest request body (a transform job's MaxPayloadInMB)
};
// The variants of a configuration's ProductionVariants, checked: 1..10 variants with distinct
// names, each with a ModelName, 1..kMaxLocalInstances instances and a weight >= 0.
// kInvalidArgument with SageMaker's wording otherwise.
constexpr int kMaxLocalInstances = 8;
Result<std::vector<VariantSpec>> ParseVariants(const Json& production_variants);

struct Instance {
  std::unique_ptr<Subprocess> process;  // cairn-serve, or srun running it on a Slurm node
  std::unique_ptr<LogPump> log;         // its output, to /aws/sagemaker/Endpoints/<name>
  std::string address = "127.0.0.1";    // where it listens
  std::string node;                     // the Slurm node it runs on ("" = this server)
  int port = 0;
  std::atomic<bool> dead{false};  // found dead: out of rotation, being replaced
  int64_t down_since_ms = 0;      // when its load balancer first saw it DOWN (0: up)
  std::string url() const { return "http://" + address + ":" + std::to_string(port); }
  std::string id;        // "i-<hex>": its log stream is "<variant>/<id>"
  std::string ref;       // the registry version it serves
  std::string code_dir;  // its copy of SAGEMAKER_SUBMIT_DIRECTORY ("" = none), its own
  // SIGTERM, then waits for its requests in flight (up to 90 s), then stores its last output
  // and removes its code folder.
  ~Instance();
};

struct Variant {
  VariantSpec spec;
  std::vector<std::shared_ptr<Instance>> instances;  // never empty
  std::shared_ptr<LoadBalancer> lb;  // in front of the instances (null: none configured)
  // The next instance not known dead, round robin (any instance if all are).
  std::shared_ptr<Instance> Next() const;
  // Where a request goes: the load balancer's URL, else the next instance's.
  std::string Url() const { return lb ? lb->url() : Next()->url(); }
  // The load balancer's servers: the instances not known dead.
  std::vector<Backend> Backends() const;
  mutable std::atomic<uint64_t> next{0};
};

struct Fleet {
  std::string config;  // EndpointConfigName
  std::vector<std::shared_ptr<const Variant>> variants;
  std::vector<double> weights;  // current weights, one per variant
  // The variant a request goes to: the one named `target` (nullptr if none has that name), else
  // one drawn by weight with `u` uniform in [0, 1) (nullptr if every weight is 0).
  const Variant* Pick(const std::string& target, double u) const;
  double TotalWeight() const;
};

// Where an instance's output goes: log pieces under `prefix` (layout.h), stream
// "<stream_prefix><instance id>", shown by CloudWatch Logs as group `group`.
struct InstanceLogs {
  std::string prefix, stream_prefix, group;
  static InstanceLogs ForEndpoint(const std::string& endpoint, const std::string& variant);
};

// Starts cairn-serve for `spec`'s model, with `environment` over the model's (a transform job's
// Environment), and waits until it answers /ping (at most 600 s, as SageMaker's start-up health
// check, or until `cancelled()` says the server is stopping). kInvalidArgument for a model that
// does not exist or whose code cannot be fetched; kInternal when the server exits or does not
// load in time (naming the log group that holds its output).
// With Slurm placing instances, `exclude_node` lists nodes not to use ("c1,c2"; "" = any), if
// another can take the instance within 10 s.
Result<std::shared_ptr<Instance>> LaunchInstance(Context& c, const VariantSpec& spec,
                                                 const InstanceLogs& logs, const Json& environment,
                                                 const std::function<bool()>& cancelled,
                                                 const std::string& exclude_node = "");

// LaunchInstance, with any exception it meets (a model's Environment of the wrong JSON shape, a
// filesystem error) returned as a Status: for the threads that launch instances.
Result<std::shared_ptr<Instance>> LaunchInstanceSafely(Context& c, const VariantSpec& spec,
                                                       const InstanceLogs& logs,
                                                       const Json& environment,
                                                       const std::function<bool()>& cancelled,
                                                       const std::string& exclude_node = "");

// Starts the load balancer of a variant of `endpoint` when one is configured (else null).
Result<std::shared_ptr<LoadBalancer>> StartLoadBalancer(Context& c, const std::string& endpoint,
                                                        const std::string& variant);

// The fleet for `config` with `spec`'s variants: instances of `reuse` whose variant keeps its
// name and model are kept (as many as wanted), the others launched, all at once. The first
// failure, after stopping what was launched.
Result<std::shared_ptr<const Fleet>> BuildFleet(Context& c, const std::string& endpoint,
                                                const std::string& config,
                                                const std::vector<VariantSpec>& specs,
                                                const Fleet* reuse,
                                                const std::function<bool()>& cancelled);

}  // namespace cairn::api
