#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "api.h"
#include "auth.h"
#include "endpoints.h"
#include "serving/http_server.h"

namespace cairn::api {

ApiError FromStatus(const Status& st) {
  switch (st.code()) {
    case Status::Code::kNotFound:
      return NotFound(st.message());
    case Status::Code::kInvalidArgument:
    case Status::Code::kUnsupported:
    case Status::Code::kUnsafe:
    case Status::Code::kCorrupt:
      return Validation(st.message());
    case Status::Code::kAlreadyExists:
      return {400, "ResourceInUse", st.message()};
    case Status::Code::kPreconditionFailed:
      return {400, "ConflictException", st.message()};
    default:
      return {500, "InternalFailure", st.message()};
  }
}

std::string RequiredString(const Json& in, const char* field, size_t max) {
  auto it = in.find(field);
  if (it == in.end() || !it->is_string() || it->get<std::string>().empty())
    throw Validation(std::string("1 validation error detected: Value null at '") + field +
                     "' failed to satisfy constraint: Member must not be null");
  const std::string v = it->get<std::string>();
  if (v.size() > max)
    throw Validation(
        std::string("Value at '") + field +
        "' failed to satisfy constraint: Member must have length less than or equal to " +
        std::to_string(max));
  return v;
}

Json Page(const Json& items, const Json& in, const char* list_field) {
  const int64_t max = std::clamp<int64_t>(in.value("MaxResults", int64_t{10}), 1, 100);
  size_t start = 0;
  if (in.contains("NextToken")) {
    try {
      start = std::stoull(in["NextToken"].get<std::string>());
    } catch (const std::exception&) {
      throw Validation("Invalid NextToken");
    }
  }
  Json out = {{list_field, Json::array()}};
  for (size_t i = start; i < items.size() && i < start + static_cast<size_t>(max); ++i)
    out[list_field].push_back(items[i]);
  if (start + static_cast<size_t>(max) < items.size())
    out["NextToken"] = std::to_string(start + max);
  return out;
}

namespace {

using Operation = Json (*)(Context&, const Json&);

const std::map<std::string, Operation>& Operations() {
  static const std::map<std::string, Operation> ops = {
      {"CreateModelPackageGroup", CreateModelPackageGroup},
      {"DescribeModelPackageGroup", DescribeModelPackageGroup},
      {"ListModelPackageGroups", ListModelPackageGroups},
      {"CreateModelPackage", CreateModelPackage},
      {"DescribeModelPackage", DescribeModelPackage},
      {"ListModelPackages", ListModelPackages},
      {"UpdateModelPackage", UpdateModelPackage},
      {"CreateModel", [](Context& c, const Json& in) { return c.endpoints->CreateModel(in); }},
      {"DescribeModel", [](Context& c, const Json& in) { return c.endpoints->DescribeModel(in); }},
      {"DeleteModel", [](Context& c, const Json& in) { return c.endpoints->DeleteModel(in); }},
      {"CreateEndpointConfig",
       [](Context& c, const Json& in) { return c.endpoints->CreateEndpointConfig(in); }},
      {"DescribeEndpointConfig",
       [](Context& c, const Json& in) { return c.endpoints->DescribeEndpointConfig(in); }},
      {"DeleteEndpointConfig",
       [](Context& c, const Json& in) { return c.endpoints->DeleteEndpointConfig(in); }},
      {"CreateEndpoint",
       [](Context& c, const Json& in) { return c.endpoints->CreateEndpoint(in); }},
      {"UpdateEndpoint",
       [](Context& c, const Json& in) { return c.endpoints->UpdateEndpoint(in); }},
      {"DescribeEndpoint",
       [](Context& c, const Json& in) { return c.endpoints->DescribeEndpoint(in); }},
      {"ListEndpoints", [](Context& c, const Json& in) { return c.endpoints->ListEndpoints(in); }},
      {"DeleteEndpoint",
       [](Context& c, const Json& in) { return c.endpoints->DeleteEndpoint(in); }},
      {"CreateTrainingJob", CreateTrainingJob},
      {"DescribeTrainingJob", DescribeTrainingJob},
      {"ListTrainingJobs", ListTrainingJobs},
      {"StopTrainingJob", StopTrainingJob},
  };
  return ops;
}

serving::HttpResponse Error(const ApiError& e) {
  serving::HttpResponse r;
  r.status = e.status;
  r.content_type = "application/x-amz-json-1.1";
  r.headers.emplace_back("x-amzn-ErrorType", e.code);
  r.body = Json{{"__type", "com.amazonaws.sagemaker#" + e.code}, {"message", e.message}}.dump();
  return r;
}

serving::HttpResponse Handle(Context& c, const serving::HttpRequest& req) {
  const AuthError auth = VerifySigV4(req, c.options.credentials, std::time(nullptr));
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
  try {
    serving::HttpResponse r;
    r.content_type = "application/x-amz-json-1.1";
    r.body = it->second(c, in).dump();
    return r;
  } catch (const ApiError& e) {
    return Error(e);
  } catch (const std::exception& e) {  // e.g. a field of the wrong JSON type
    return Error(Validation(std::string("invalid request: ") + e.what()));
  }
}

}  // namespace

}  // namespace cairn::api

namespace cairn {

Status RunApiServer(const ApiServerOptions& options) {
  if (options.credentials.empty())
    return Status::InvalidArgument("cairn server needs at least one access key");
  // SIGTERM / SIGINT go to one thread that stops the server: blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(options.store));
  std::error_code ec;
  std::filesystem::create_directories(options.work_root, ec);
  if (ec) return Status::FromErrno("create " + options.work_root, ec.value());
  Registry registry(std::move(store));
  api::JobsInFlight jobs_in_flight;
  api::Context context{options, registry};
  context.jobs = &jobs_in_flight;
  api::EndpointHosts endpoints(context);
  context.endpoints = &endpoints;
  api::FailOrphanedTrainingJobs(context);
  endpoints.Restore();
  serving::HttpServer::Options ho;
  ho.host = options.host;
  ho.port = options.port;
  ho.max_body = 16 << 20;
  // Operations touch the store (and may publish): they run on a pool, off the event loops.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  auto http =
      serving::HttpServer::Listen(ho, [&](serving::HttpRequest& req, serving::Respond respond) {
        {
          std::lock_guard<std::mutex> lock(mu);
          jobs.push_back([&context, req = std::move(req), respond = std::move(respond)] {
            respond(api::Handle(context, req));
          });
        }
        cv.notify_one();
      });
  if (!http.ok()) return http.status();
  std::vector<std::thread> pool;
  for (int i = 0; i < 8; ++i) {
    pool.emplace_back([&] {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        cv.wait(lock, [&] { return stopping || !jobs.empty(); });
        if (jobs.empty()) return;
        auto job = std::move(jobs.front());
        jobs.pop_front();
        lock.unlock();
        job();
        lock.lock();
      }
    });
  }
  std::fprintf(stderr, "cairn server: SageMaker API on http://%s:%d (store %s)\n",
               options.host.c_str(), options.port, options.store.c_str());
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    (*http)->Stop();
  });
  (*http)->Run();
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  // Training jobs this server runs are stopped as StopTrainingJob would (their scripts get
  // SIGTERM and may save), and waited for: their threads use the registry.
  jobs_in_flight.stop = true;
  {
    std::unique_lock<std::mutex> lock(jobs_in_flight.mu);
    jobs_in_flight.done.wait(lock, [&] { return jobs_in_flight.running == 0; });
  }
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return Status::OK();
}

}  // namespace cairn
