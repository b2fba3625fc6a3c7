// Private to api: the operations' common ground: errors as SageMaker returns them, ARNs, times.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "cairn/api/server.h"
#include "cairn/registry/registry.h"

namespace cairn::api {

using Json = nlohmann::json;

// An error answered as {"__type": "...#<code>", "message": ...} with `status`.
struct ApiError {
  int status = 400;
  std::string code, message;
};

inline ApiError Validation(std::string m) { return {400, "ValidationException", std::move(m)}; }
inline ApiError NotFound(std::string m) { return {400, "ResourceNotFound", std::move(m)}; }
// Other errors of the library, as the nearest SageMaker code.
ApiError FromStatus(const Status& st);

class EndpointHosts;

// Training jobs the server is running: stopped (SIGTERM first) and waited for at shutdown.
struct JobsInFlight {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable done;
  int running = 0;
};

struct Context {
  const ApiServerOptions& options;
  Registry& registry;
  EndpointHosts* endpoints = nullptr;
  JobsInFlight* jobs = nullptr;
  std::string Arn(const std::string& kind, const std::string& name) const {
    return "arn:aws:sagemaker:" + options.region + ":" + options.account + ":" + kind + "/" + name;
  }
};

// A required string field (1..max characters), or a ValidationException.
std::string RequiredString(const Json& in, const char* field, size_t max = 63);
inline double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// Each returns the response body, or throws ApiError.
Json CreateModelPackageGroup(Context& c, const Json& in);
Json DescribeModelPackageGroup(Context& c, const Json& in);
Json ListModelPackageGroups(Context& c, const Json& in);
Json CreateModelPackage(Context& c, const Json& in);
Json DescribeModelPackage(Context& c, const Json& in);
Json ListModelPackages(Context& c, const Json& in);
Json UpdateModelPackage(Context& c, const Json& in);
Json CreateTrainingJob(Context& c, const Json& in);
// At start-up: jobs this server was running when its previous process ended are Failed.
void FailOrphanedTrainingJobs(Context& c);
Json DescribeTrainingJob(Context& c, const Json& in);
Json ListTrainingJobs(Context& c, const Json& in);
Json StopTrainingJob(Context& c, const Json& in);

// Fetches and unpacks a code archive (.tar.gz/.tgz: the SDK's sourcedir.tar.gz, checked as any
// untrusted archive) into `dir`, or copies the folder a URI names.
Status FetchSource(const std::string& uri, const std::string& dir);

// Paging over a sorted list: MaxResults (default 10, at most 100) and an opaque NextToken.
Json Page(const Json& items, const Json& in, const char* list_field);

}  // namespace cairn::api
