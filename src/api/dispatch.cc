// The API's edge: requests to operations, Status to SageMaker's JSON errors, and the fields
// every operation reads the same way.
#include <algorithm>
#include <ctime>
#include <map>

#include "api.h"
#include "auth.h"
#include "endpoint_hosts.h"

namespace cairn::api {

ApiError ErrorFor(const Status& st) {
  switch (st.code()) {
    case Status::Code::kNotFound:
      return {400, "ResourceNotFound", st.message()};
    case Status::Code::kInvalidArgument:
    case Status::Code::kUnsupported:
    case Status::Code::kUnsafe:
    case Status::Code::kCorrupt:
      return {400, "ValidationException", st.message()};
    case Status::Code::kAlreadyExists:
      return {400, "ResourceInUse", st.message()};
    case Status::Code::kPreconditionFailed:
      return {400, "ConflictException", st.message()};
    default:
      return {500, "InternalFailure", st.message()};
  }
}

Result<std::string> RequiredString(const Json& in, const char* field, size_t max) {
  auto it = in.find(field);
  if (it == in.end() || !it->is_string() || it->get<std::string>().empty())
    return Status::InvalidArgument(std::string("1 validation error detected: Value null at '") +
                                   field +
                                   "' failed to satisfy constraint: Member must not be null");
  std::string v = it->get<std::string>();
  if (v.size() > max)
    return Status::InvalidArgument(
        std::string("Value at '") + field +
        "' failed to satisfy constraint: Member must have length less than or equal to " +
        std::to_string(max));
  return v;
}

Result<Json> Page(const Json& items, const Json& in, const char* list_field) {
  const int64_t max = std::clamp<int64_t>(in.value("MaxResults", int64_t{10}), 1, 100);
  size_t start = 0;
  if (in.contains("NextToken")) {
    const std::string token = in["NextToken"].is_string() ? in["NextToken"].get<std::string>() : "";
    if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos ||
        token.size() > 18)
      return Status::InvalidArgument("Invalid NextToken");
    start = std::stoull(token);
  }
  Json out = {{list_field, Json::array()}};
  for (size_t i = start; i < items.size() && i < start + static_cast<size_t>(max); ++i)
    out[list_field].push_back(items[i]);
  if (start + static_cast<size_t>(max) < items.size())
    out["NextToken"] = std::to_string(start + max);
  return out;
}

namespace {

const std::map<std::string, Operation>& Operations() {
  static const std::map<std::string, Operation> ops = {
      {"CreateModelPackageGroup", CreateModelPackageGroup},
      {"DescribeModelPackageGroup", DescribeModelPackageGroup},
      {"ListModelPackageGroups", ListModelPackageGroups},
      {"CreateModelPackage", CreateModelPackage},
      {"DescribeModelPackage", DescribeModelPackage},
      {"ListModelPackages", ListModelPackages},
      {"UpdateModelPackage", UpdateModelPackage},
      {"CreateModel", CreateModel},
      {"DescribeModel", DescribeModel},
      {"DeleteModel", DeleteModel},
      {"CreateEndpointConfig", CreateEndpointConfig},
      {"DescribeEndpointConfig", DescribeEndpointConfig},
      {"DeleteEndpointConfig", DeleteEndpointConfig},
      {"CreateEndpoint", CreateEndpoint},
      {"UpdateEndpoint", UpdateEndpoint},
      {"DescribeEndpoint", DescribeEndpoint},
      {"ListEndpoints", ListEndpoints},
      {"DeleteEndpoint", DeleteEndpoint},
      {"CreateTrainingJob", CreateTrainingJob},
      {"DescribeTrainingJob", DescribeTrainingJob},
      {"ListTrainingJobs", ListTrainingJobs},
      {"StopTrainingJob", StopTrainingJob},
  };
  return ops;
}

net::HttpResponse Error(const ApiError& e) {
  net::HttpResponse r;
  r.status = e.http_status;
  r.content_type = "application/x-amz-json-1.1";
  r.headers.emplace_back("x-amzn-ErrorType", e.code);
  r.body = Json{{"__type", "com.amazonaws.sagemaker#" + e.code}, {"message", e.message}}.dump();
  return r;
}

}  // namespace

net::HttpResponse HandleRequest(Context& c, const net::HttpRequest& req) {
  const AuthError auth = VerifySigV4(req, c.options.credentials, c.options.region, {"sagemaker"},
                                     std::time(nullptr));
  if (!auth.code.empty()) return Error({auth.http_status, auth.code, auth.message});
  // The runtime API: POST /endpoints/<name>/invocations.
  if (req.method == "POST" && req.target.rfind("/endpoints/", 0) == 0) {
    const std::string rest = req.target.substr(11);
    const size_t slash = rest.find('/');
    if (slash != std::string::npos && rest.substr(slash) == "/invocations")
      return c.endpoints->Invoke(rest.substr(0, slash), req);
  }
  const std::string target = req.Header("x-amz-target");
  if (req.method != "POST" || req.target != "/" || target.rfind("SageMaker.", 0) != 0)
    return Error({400, "UnknownOperationException",
                  "the request is not a SageMaker API call (POST / with X-Amz-Target: "
                  "SageMaker.<Operation>)"});
  const std::string op = target.substr(10);
  auto it = Operations().find(op);
  if (it == Operations().end())
    return Error(
        {400, "UnknownOperationException", "cairn server does not implement the operation " + op});
  Json in = Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (in.is_discarded() || !in.is_object())
    return Error({400, "SerializationException", "the request body is not a JSON object"});
  Result<Json> out = Status::Internal("not run");
  try {
    out = it->second(c, in);
  } catch (const Json::exception& e) {  // a field of the wrong JSON type, read with get<>()
    out = Status::InvalidArgument(std::string("invalid request: ") + e.what());
  }
  if (!out.ok()) return Error(ErrorFor(out.status()));
  net::HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = out->dump();
  return r;
}

}  // namespace cairn::api
