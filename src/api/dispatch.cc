// The API's edge: requests to operations, Status to SageMaker's JSON errors, and the fields
// every operation reads the same way.
#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "api.h"
#include "auth.h"
#include "endpoint_hosts.h"
#include "metrics.h"
#include "ui.h"

namespace cairn::api {

ApiError ErrorFor(const Status& st, std::string_view service) {
  if (service == "logs") {  // CloudWatch Logs' own codes
    switch (st.code()) {
      case Status::Code::kNotFound:
        return {400, "ResourceNotFoundException", st.message()};
      case Status::Code::kInvalidArgument:
        return {400, "InvalidParameterException", st.message()};
      case Status::Code::kAlreadyExists:
        return {400, "ResourceAlreadyExistsException", st.message()};
      default:
        return {500, "ServiceUnavailableException", st.message()};
    }
  }
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

Status CheckEnvironment(const Json& env) {
  if (!env.is_object() || env.size() > 100)
    return Status::InvalidArgument("Environment must be a map of at most 100 strings");
  for (const auto& [k, v] : env.items())
    if (!v.is_string() || k.empty() || k.size() > 1024 || v.get<std::string>().size() > 1024)
      return Status::InvalidArgument("Environment " + k +
                                     " must be a string of at most 1024 characters");
  return Status::OK();
}

Result<Json> SortedPage(Json items, const Json& in, const char* list_field, const char* name_key,
                        const char* status_key, const char* default_order) {
  const std::string sort_by = in.value("SortBy", "CreationTime");
  const char* key = sort_by == "Name"     ? name_key
                    : sort_by == "Status" ? status_key
                                          : "CreationTime";
  const bool asc = in.value("SortOrder", default_order) == std::string("Ascending");
  std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
    return asc ? a[key] < b[key] : b[key] < a[key];
  });
  return Page(items, in, list_field);
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
      {"UpdateEndpointWeightsAndCapacities", UpdateEndpointWeightsAndCapacities},
      {"CreateTransformJob", CreateTransformJob},
      {"DescribeTransformJob", DescribeTransformJob},
      {"ListTransformJobs", ListTransformJobs},
      {"StopTransformJob", StopTransformJob},
      {"DescribeEndpoint", DescribeEndpoint},
      {"ListEndpoints", ListEndpoints},
      {"DeleteEndpoint", DeleteEndpoint},
      {"CreateTrainingJob", CreateTrainingJob},
      {"DescribeTrainingJob", DescribeTrainingJob},
      {"ListTrainingJobs", ListTrainingJobs},
      {"StopTrainingJob", StopTrainingJob},
      {"AddTags", AddTags},
      {"ListTags", ListTags},
      {"DeleteTags", DeleteTags},
  };
  return ops;
}

const std::map<std::string, Operation>& LogsOperations() {
  static const std::map<std::string, Operation> ops = {
      {"DescribeLogStreams", DescribeLogStreams},
      {"GetLogEvents", GetLogEvents},
      {"FilterLogEvents", FilterLogEvents},
  };
  return ops;
}

net::HttpResponse Error(const ApiError& e, std::string_view service = "sagemaker") {
  net::HttpResponse r;
  r.status = e.http_status;
  r.content_type = "application/x-amz-json-1.1";
  r.headers.emplace_back("x-amzn-ErrorType", e.code);
  const std::string type = service == "sagemaker" ? "com.amazonaws.sagemaker#" + e.code : e.code;
  r.body = Json{{"__type", type}, {"message", e.message}}.dump(-1, ' ', false,
                                                               Json::error_handler_t::replace);
  return r;
}

// A JSON 1.1 call: POST / with X-Amz-Target: <prefix><Operation>.
net::HttpResponse HandleJson(Context& c, const net::HttpRequest& req, const std::string& prefix,
                             const std::map<std::string, Operation>& ops,
                             std::string_view service) {
  const std::string target = req.Header("x-amz-target");
  if (req.method != "POST" || req.target != "/" || target.rfind(prefix, 0) != 0)
    return Error({400, "UnknownOperationException",
                  "the request is not a call of this API (POST / with X-Amz-Target: " + prefix +
                      "<Operation>)"},
                 service);
  const std::string op = target.substr(prefix.size());
  auto it = ops.find(op);
  if (it == ops.end())
    return Error(
        {400, "UnknownOperationException", "cairn server does not implement the operation " + op},
        service);
  Json in = Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (in.is_discarded() || !in.is_object())
    return Error({400, "SerializationException", "the request body is not a JSON object"}, service);
  Result<Json> out = Status::Internal("not run");
  try {
    out = it->second(c, in);
  } catch (const Json::exception& e) {  // a field of the wrong JSON type, read with get<>()
    out = Status::InvalidArgument(std::string("invalid request: ") + e.what());
  } catch (const std::exception& e) {  // a library's exception (std::filesystem, ...)
    out = Status::Internal(op + ": " + e.what());
  }
  // Tags given to a Create* are kept with the new resource's ARN (what the answer names).
  if (out.ok() && service == "sagemaker" && op.rfind("Create", 0) == 0 && in.contains("Tags")) {
    for (const auto& [k, v] : out->items()) {
      if (k.size() > 3 && k.compare(k.size() - 3, 3, "Arn") == 0 && v.is_string()) {
        if (Status st = SaveTags(c, v.get<std::string>(), in["Tags"]); !st.ok()) out = st;
        break;
      }
    }
  }
  if (!out.ok()) return Error(ErrorFor(out.status(), service), service);
  net::HttpResponse r;
  r.content_type = "application/x-amz-json-1.1";
  r.body = out->dump(-1, ' ', false, Json::error_handler_t::replace);  // bad UTF-8 -> U+FFFD
  return r;
}

}  // namespace

net::HttpResponse HandleRequest(Context& c, const net::HttpRequest& req) {
  // Unsigned, as Prometheus and load balancers ask: the endpoints' counters, and liveness.
  if (req.method == "GET" && req.target == "/metrics" && c.metrics) {
    net::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = c.metrics->Prometheus();
    return r;
  }
  // The dashboard: sessions of its own (a login form, a cookie), not SigV4.
  if (c.ui &&
      (req.target == "/ui" || req.target.rfind("/ui/", 0) == 0 || req.target.rfind("/ui?", 0) == 0))
    return HandleUi(c, *c.ui, req, false);
  if (c.ui && req.method == "GET" && req.target == "/") {  // a browser at the server's address
    net::HttpResponse r;
    r.status = 303;
    r.content_type = "text/plain";
    r.headers.emplace_back("Location", "/ui/");
    return r;
  }
  if (req.method == "GET" && req.target == "/ping") {
    net::HttpResponse r;
    r.body = "ok\n";
    return r;
  }
  const AuthError auth =
      VerifySigV4(req, c.options.credentials, c.options.region,
                  {"sagemaker", "logs", "sts", "iam", "monitoring"}, std::time(nullptr));
  if (!auth.code.empty()) return Error({auth.http_status, auth.code, auth.message});
  if (auth.service == "sts" || auth.service == "iam" || auth.service == "monitoring")
    return HandleQuery(c, auth.service, auth.access_key, req);
  if (auth.service == "logs") return HandleJson(c, req, "Logs_20140328.", LogsOperations(), "logs");
  // The runtime API: POST /endpoints/<name>/invocations.
  if (req.method == "POST" && req.target.rfind("/endpoints/", 0) == 0) {
    const std::string rest = req.target.substr(11);
    const size_t slash = rest.find('/');
    if (slash != std::string::npos && rest.substr(slash) == "/invocations") {
      const std::string name = rest.substr(0, slash);
      if (auto forwarded = ForwardToOwner(c, name, req)) return std::move(*forwarded);
      return c.endpoints->Invoke(name, req);
    }
  }
  // What needs an endpoint's instances is answered by the server that runs them.
  static const std::set<std::string> kOwnerOps = {
      "SageMaker.DescribeEndpoint", "SageMaker.UpdateEndpoint", "SageMaker.DeleteEndpoint",
      "SageMaker.UpdateEndpointWeightsAndCapacities"};
  if (kOwnerOps.count(req.Header("x-amz-target"))) {
    const Json in = Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    if (in.is_object() && in.contains("EndpointName") && in["EndpointName"].is_string())
      if (auto forwarded = ForwardToOwner(c, in["EndpointName"].get<std::string>(), req))
        return std::move(*forwarded);
  }
  return HandleJson(c, req, "SageMaker.", Operations(), "sagemaker");
}

}  // namespace cairn::api
