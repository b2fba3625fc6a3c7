// Private to api: the operations' common ground. Every operation is
//   Result<Json> Operation(Context&, const Json& request)
// and fails with a Status; ErrorFor (errors.cc) is the one place that turns a Status into
// SageMaker's JSON error:
//   kInvalidArgument, kUnsupported, kUnsafe, kCorrupt -> 400 ValidationException
//   kNotFound -> 400 ResourceNotFound          kAlreadyExists -> 400 ResourceInUse
//   kPreconditionFailed -> 400 ConflictException   anything else -> 500 InternalFailure
// Where SageMaker itself answers ValidationException for a missing or existing resource
// ("Could not find model", "Cannot create already existing model", which the SDK matches on),
// the operation returns kInvalidArgument with SageMaker's message.
#pragma once

#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/api/server.h"
#include "cairn/core/thread_pool.h"
#include "cairn/net/http_client.h"
#include "cairn/net/http_server.h"
#include "cairn/registry/registry.h"

namespace cairn::api {

using Json = nlohmann::json;

struct ApiError {
  int http_status = 400;
  std::string code, message;
};
// The SageMaker error for a Status (table above); for service "logs", CloudWatch Logs' codes
// (ResourceNotFoundException, InvalidParameterException, ServiceUnavailableException).
ApiError ErrorFor(const Status& st, std::string_view service = "sagemaker");

class EndpointHosts;
class EndpointMetrics;
class Alarms;
class TransformJobs;
class Leases;
class UiSessions;

struct Context {
  const ApiServerOptions& options;
  Registry& registry;
  net::Client& http;  // to the endpoints' cairn-serve instances
  EndpointHosts* endpoints = nullptr;
  EndpointMetrics* metrics = nullptr;   // SageMaker's endpoint metrics (metrics.h)
  Alarms* alarms = nullptr;             // CloudWatch alarms over them (alarms.h)
  TransformJobs* transforms = nullptr;  // batch transform jobs (transform_jobs.h)
  // Training jobs this server runs enter here; at shutdown `stop_jobs` is set (their scripts get
  // SIGTERM, as on StopTrainingJob) and the gate closed, which waits for them.
  Gate* training_jobs = nullptr;
  std::atomic<bool>* stop_jobs = nullptr;
  Leases* leases = nullptr;  // who runs what among the servers sharing the store (leases.h)
  UiSessions* ui = nullptr;  // the dashboard's logins (ui.h); null: no dashboard
  // Per Slurm training job this server watches: set to let go of it (its lease was lost, or the
  // server stops); the job keeps running on the cluster for whoever takes it over.
  struct Watchers {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<std::atomic<bool>>> flags;
  };
  Watchers* watchers = nullptr;
  std::string Arn(const std::string& kind, const std::string& name) const {
    return "arn:aws:sagemaker:" + options.region + ":" + options.account + ":" + kind + "/" + name;
  }
};

using Operation = Result<Json> (*)(Context&, const Json&);

// SIGTERM and SIGINT blocked in this thread (and the threads it starts after), for one thread to
// sigwait on and stop the server (api_server.cc). Call before any thread starts.
sigset_t BlockStopSignals();

// One HTTP request to cairn server (dispatch.cc): the SigV4 check, then either the runtime API
// (POST /endpoints/<name>/invocations) or an operation (POST / with X-Amz-Target:
// SageMaker.<Operation>), answered as SageMaker answers.
net::HttpResponse HandleRequest(Context& c, const net::HttpRequest& req);
// STS and IAM over the query protocol (query_ops.cc): sts:GetCallerIdentity, iam:GetRole.
net::HttpResponse HandleQuery(Context& c, const std::string& service, const std::string& access_key,
                              const net::HttpRequest& req);
// The role ARN GetCallerIdentity answers (ApiServerOptions::role_arn, or a default).
std::string CallerRoleArn(const Context& c);

// A required string field of 1..max characters; kInvalidArgument with SageMaker's message.
Result<std::string> RequiredString(const Json& in, const char* field, size_t max = 63);
inline double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }
// A container's or job's Environment: a map of strings (SageMaker's EnvironmentMap), at most
// 100 entries; kInvalidArgument otherwise.
Status CheckEnvironment(const Json& env);
// Paging over a sorted list: MaxResults (default 10, at most 100) and an opaque NextToken.
Result<Json> Page(const Json& items, const Json& in, const char* list_field);
// Page() after sorting by SortBy (Name: `name_key`, Status: `status_key`, else CreationTime) in
// SortOrder (default `default_order`, "Ascending" or "Descending", as the operation's API says).
Result<Json> SortedPage(Json items, const Json& in, const char* list_field, const char* name_key,
                        const char* status_key, const char* default_order);

// Model package groups and packages (registry_ops.cc).
Result<Json> CreateModelPackageGroup(Context& c, const Json& in);
Result<Json> DescribeModelPackageGroup(Context& c, const Json& in);
Result<Json> ListModelPackageGroups(Context& c, const Json& in);
Result<Json> CreateModelPackage(Context& c, const Json& in);
Result<Json> DescribeModelPackage(Context& c, const Json& in);
Result<Json> ListModelPackages(Context& c, const Json& in);
Result<Json> UpdateModelPackage(Context& c, const Json& in);
// Training jobs (create_training.cc, training_ops.cc).
Result<Json> CreateTrainingJob(Context& c, const Json& in);
Result<Json> DescribeTrainingJob(Context& c, const Json& in);
Result<Json> ListTrainingJobs(Context& c, const Json& in);
Result<Json> StopTrainingJob(Context& c, const Json& in);
// At start-up: jobs this server was running when its previous process ended are Failed.
// Training jobs of servers gone (create_training.cc): a Slurm job is watched again here; a local
// job died with its server and is marked Failed, saying so.
void ResumeTrainingJob(Context& c, const std::string& name);
Status FailOrphanedTrainingJob(Context& c, const std::string& name);
// Whether this process runs (or watches) the job now.
bool RunsTrainingJob(Context& c, const std::string& name);
// Takes over what has no live owner (ownership.cc): endpoints and running training jobs whose
// lease is free, expired or this server's; renews this server's leases and lets go of those
// lost. Run at start and every third of the lease time.
void TakeOverOrphans(Context& c);
void RenewLeases(Context& c);
// The request, passed on to the server holding `endpoint`'s lease when another live one does;
// nullopt when this server should answer it (it holds the lease, or took it over now).
std::optional<net::HttpResponse> ForwardToOwner(Context& c, const std::string& endpoint,
                                                const net::HttpRequest& req);
// Models, endpoint configurations, endpoints (endpoint_ops.cc).
Result<Json> CreateModel(Context& c, const Json& in);
Result<Json> DescribeModel(Context& c, const Json& in);
Result<Json> DeleteModel(Context& c, const Json& in);
Result<Json> CreateEndpointConfig(Context& c, const Json& in);
Result<Json> DescribeEndpointConfig(Context& c, const Json& in);
Result<Json> DeleteEndpointConfig(Context& c, const Json& in);
Result<Json> CreateEndpoint(Context& c, const Json& in);
Result<Json> UpdateEndpoint(Context& c, const Json& in);
Result<Json> DescribeEndpoint(Context& c, const Json& in);
Result<Json> ListEndpoints(Context& c, const Json& in);
Result<Json> DeleteEndpoint(Context& c, const Json& in);
Result<Json> UpdateEndpointWeightsAndCapacities(Context& c, const Json& in);

// Batch transform (transform_ops.cc).
Result<Json> CreateTransformJob(Context& c, const Json& in);
Result<Json> DescribeTransformJob(Context& c, const Json& in);
Result<Json> ListTransformJobs(Context& c, const Json& in);
Result<Json> StopTransformJob(Context& c, const Json& in);

// Tags on any resource with an ARN (tags_ops.cc); SaveTags merges a Create*'s Tags in.
Result<Json> AddTags(Context& c, const Json& in);
Result<Json> ListTags(Context& c, const Json& in);
Result<Json> DeleteTags(Context& c, const Json& in);
Status SaveTags(Context& c, const std::string& arn, const Json& tags);

// CloudWatch Logs over the training jobs' logs (logs_ops.cc).
Result<Json> DescribeLogStreams(Context& c, const Json& in);
Result<Json> GetLogEvents(Context& c, const Json& in);
Result<Json> FilterLogEvents(Context& c, const Json& in);

// Fetches and unpacks a code archive (.tar.gz/.tgz: the SDK's sourcedir.tar.gz, checked as any
// untrusted archive) into `dir`, or copies the folder a URI names.
Status FetchSource(const std::string& uri, const std::string& dir);

}  // namespace cairn::api
