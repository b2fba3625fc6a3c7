#include "endpoints.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/registry/artifacts.h"
#include "cairn/storage/transfer.h"
#include "training/process.h"

extern char** environ;

namespace cairn::api {

namespace fs = std::filesystem;

namespace {

size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

struct HttpResult {
  long status = 0;
  std::string body, headers, error;
  bool ok = false;
};

HttpResult Http(const std::string& url, const std::string* body,
                const std::vector<std::string>& headers, long timeout_s) {
  HttpResult r;
  CURL* curl = curl_easy_init();
  if (!curl) return r;
  curl_slist* h = nullptr;
  for (const auto& x : headers) h = curl_slist_append(h, x.c_str());
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  const CURLcode rc = curl_easy_perform(curl);
  r.ok = rc == CURLE_OK;
  if (!r.ok) r.error = curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  curl_easy_cleanup(curl);
  return r;
}

std::string HeaderOf(const std::string& headers, const std::string& name) {
  std::string lower = headers;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t p = lower.find("\n" + name + ":");
  if (p == std::string::npos) return "";
  p += name.size() + 2;
  size_t end = headers.find('\r', p);
  std::string v = headers.substr(p, end - p);
  v.erase(0, v.find_first_not_of(' '));
  return v;
}

}  // namespace

struct EndpointHosts::Process {
  pid_t pid = -1;
  int port = 0;
  std::string config;
  ~Process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);  // cairn-serve finishes its requests in flight first
      int st;
      ::waitpid(pid, &st, 0);
    }
  }
};

EndpointHosts::~EndpointHosts() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    idle_.wait(lock, [&] { return deploying_ == 0; });
    live_.clear();
  }
  fork_cv_.notify_all();
  forker_.join();
}

pid_t EndpointHosts::Fork(std::vector<std::string> argv) {
  ForkRequest req{std::move(argv), {}};
  auto pid = req.pid.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    forks_.push_back(std::move(req));
  }
  fork_cv_.notify_all();
  return pid.get();
}

void EndpointHosts::ForkLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    fork_cv_.wait(lock, [&] { return stopping_ || !forks_.empty(); });
    if (forks_.empty()) return;
    ForkRequest req = std::move(forks_.front());
    forks_.pop_front();
    std::vector<char*> cargv;
    for (auto& a : req.argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the server died: stop serving too
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM in its threads
      ::signal(SIGPIPE, SIG_DFL);
      ::execve(cargv[0], cargv.data(), environ);
      ::_exit(127);
    }
    req.pid.set_value(pid);
  }
}

void EndpointHosts::Spawn(const std::string& endpoint, const std::string& config, bool update) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++deploying_;
  }
  std::thread([this, endpoint, config, update] {
    Deploy(endpoint, config, update);
    std::lock_guard<std::mutex> lock(mu_);
    --deploying_;
    idle_.notify_all();
  }).detach();
}

Json EndpointHosts::Record(const std::string& kind, const std::string& name) {
  auto text = GetString(c_.registry.store(), "api/" + kind + "/" + name + ".json");
  if (!text.ok()) {
    const std::string what = kind == "models"      ? "model"
                             : kind == "endpoints" ? "endpoint"
                                                   : "endpoint configuration";
    throw Validation("Could not find " + what + " \"" +
                     c_.Arn(kind == "models"      ? "model"
                            : kind == "endpoints" ? "endpoint"
                                                  : "endpoint-config",
                            name) +
                     "\".");
  }
  return Json::parse(*text);
}

void EndpointHosts::SaveEndpoint(const Json& record) {
  (void)PutString(c_.registry.store(),
                  "api/endpoints/" + record["name"].get<std::string>() + ".json", record.dump());
}

Json EndpointHosts::CreateModel(const Json& in) {
  const std::string name = RequiredString(in, "ModelName");
  if (Status st = ValidateName("model name", name); !st.ok()) throw Validation(st.message());
  if (GetString(c_.registry.store(), "api/models/" + name + ".json").ok())
    throw Validation("Cannot create already existing model \"" + c_.Arn("model", name) + "\".");
  Json container = in.value("PrimaryContainer", Json::object());
  if (container.empty() && in.contains("Containers") && !in["Containers"].empty())
    container = in["Containers"][0];
  std::string ref;
  if (container.contains("ModelPackageName")) {
    std::string p = container["ModelPackageName"].get<std::string>();
    if (size_t mp = p.find(":model-package/"); mp != std::string::npos) p = p.substr(mp + 15);
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos)
      throw Validation("ModelPackageName must name a version: <group>/<n>");
    ref = p.substr(0, slash) + ":" + p.substr(slash + 1);
    if (!c_.registry.Resolve(ref).ok()) throw Validation("ModelPackage " + p + " does not exist.");
  } else {
    std::string url = container.value("ModelDataUrl", "");
    if (url.empty() && container.contains("ModelDataSource"))
      url = container["ModelDataSource"].value("S3DataSource", Json::object()).value("S3Uri", "");
    if (url.empty())
      throw Validation("the container needs ModelDataUrl, ModelDataSource or ModelPackageName");
    PublishOptions opts;
    opts.description = "SageMaker model " + name;
    auto v = ImportVersion(c_.registry, name, url, opts);
    if (!v.ok()) throw Validation("ModelDataUrl " + url + ": " + v.status().message());
    ref = v->ref();
  }
  Json record = {{"name", name},
                 {"ref", ref},
                 {"image", container.value("Image", "")},
                 {"environment", container.value("Environment", Json::object())},
                 {"created_ms", NowMs()},
                 {"role", in.value("ExecutionRoleArn", "")}};
  (void)PutString(c_.registry.store(), "api/models/" + name + ".json", record.dump());
  return {{"ModelArn", c_.Arn("model", name)}};
}

Json EndpointHosts::DescribeModel(const Json& in) {
  const Json r = Record("models", RequiredString(in, "ModelName"));
  return {{"ModelName", r["name"]},
          {"ModelArn", c_.Arn("model", r["name"].get<std::string>())},
          {"PrimaryContainer",
           {{"Image", r["image"]},
            {"Environment", r["environment"]},
            {"ModelDataUrl", "cairn://" + r["ref"].get<std::string>()}}},
          {"ExecutionRoleArn", r["role"]},
          {"CreationTime", Seconds(r["created_ms"].get<int64_t>())}};
}

Json EndpointHosts::DeleteModel(const Json& in) {
  const std::string name = RequiredString(in, "ModelName");
  Record("models", name);
  (void)c_.registry.store().Delete("api/models/" + name + ".json");
  return Json::object();
}

Json EndpointHosts::CreateEndpointConfig(const Json& in) {
  const std::string name = RequiredString(in, "EndpointConfigName");
  if (GetString(c_.registry.store(), "api/endpoint-configs/" + name + ".json").ok())
    throw Validation("Cannot create already existing endpoint configuration \"" +
                     c_.Arn("endpoint-config", name) + "\".");
  const Json variants = in.value("ProductionVariants", Json::array());
  if (!variants.is_array() || variants.size() != 1)
    throw Validation("cairn serves one ProductionVariant per endpoint configuration");
  const std::string model = RequiredString(variants[0], "ModelName");
  Record("models", model);
  Json record = {{"name", name}, {"variants", variants}, {"created_ms", NowMs()}};
  (void)PutString(c_.registry.store(), "api/endpoint-configs/" + name + ".json", record.dump());
  return {{"EndpointConfigArn", c_.Arn("endpoint-config", name)}};
}

Json EndpointHosts::DescribeEndpointConfig(const Json& in) {
  const Json r = Record("endpoint-configs", RequiredString(in, "EndpointConfigName"));
  return {{"EndpointConfigName", r["name"]},
          {"EndpointConfigArn", c_.Arn("endpoint-config", r["name"].get<std::string>())},
          {"ProductionVariants", r["variants"]},
          {"CreationTime", Seconds(r["created_ms"].get<int64_t>())}};
}

Json EndpointHosts::DeleteEndpointConfig(const Json& in) {
  const std::string name = RequiredString(in, "EndpointConfigName");
  Record("endpoint-configs", name);
  (void)c_.registry.store().Delete("api/endpoint-configs/" + name + ".json");
  return Json::object();
}

// Starts cairn-serve for `config` (its one variant's model), waits for /ping, and swaps it in.
void EndpointHosts::Deploy(const std::string& endpoint, const std::string& config, bool update) {
  std::string failure;
  auto proc = std::make_shared<Process>();
  proc->config = config;
  std::string variant;
  try {
    const Json cfg = Record("endpoint-configs", config);
    variant = cfg["variants"][0].value("VariantName", "AllTraffic");
    const Json model = Record("models", cfg["variants"][0]["ModelName"].get<std::string>());
    proc->port = training::FreeLocalPort();
    std::vector<std::string> argv = {c_.options.serve_program,
                                     model["ref"].get<std::string>(),
                                     "--store",
                                     c_.options.store,
                                     "--port",
                                     std::to_string(proc->port),
                                     "--poll",
                                     "3600"};
    const Json env = model["environment"];
    if (env.contains("SAGEMAKER_PROGRAM")) {
      argv.push_back("--entry-point");
      argv.push_back(env["SAGEMAKER_PROGRAM"].get<std::string>());
      const std::string submit = env.value("SAGEMAKER_SUBMIT_DIRECTORY", "");
      if (!submit.empty() && submit.rfind("/opt/ml/model", 0) != 0) {
        const std::string dir =
            c_.options.work_root + "/endpoint-code/" + endpoint + "-" + std::to_string(proc->port);
        Status st = FetchSource(submit, dir);
        if (!st.ok()) throw Validation("SAGEMAKER_SUBMIT_DIRECTORY: " + st.message());
        argv.push_back("--source-dir");
        argv.push_back(dir);
      }
    }
    proc->pid = Fork(argv);
    if (proc->pid < 0) throw Validation("cannot start " + c_.options.serve_program);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(600);
    for (;;) {
      int st;
      if (::waitpid(proc->pid, &st, WNOHANG) == proc->pid) {
        proc->pid = -1;
        throw Validation("the model server exited while loading " +
                         model["ref"].get<std::string>());
      }
      if (Http("http://127.0.0.1:" + std::to_string(proc->port) + "/ping", nullptr, {}, 2).status ==
          200)
        break;
      if (std::chrono::steady_clock::now() > deadline)
        throw Validation("the model did not load within 600 s");
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) throw Validation("the server is stopping");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const ApiError& e) {
    failure = e.message;
  }
  Json record = Record("endpoints", endpoint);
  record["modified_ms"] = NowMs();
  std::shared_ptr<Process> old;
  if (failure.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      old = live_[endpoint];
      live_[endpoint] = proc;
      variant_[endpoint] = variant;
    }
    record["status"] = "InService";
    record["config"] = config;
    record["failure"] = "";
  } else {
    record["status"] =
        update ? "InService" : "Failed";  // a failed update leaves the old config serving
    record["failure"] = failure;
  }
  record.erase("pending_config");
  SaveEndpoint(record);
  old.reset();  // SIGTERM: the old server finishes its requests in flight, then exits
}

Json EndpointHosts::CreateEndpoint(const Json& in) {
  const std::string name = RequiredString(in, "EndpointName");
  const std::string config = RequiredString(in, "EndpointConfigName");
  if (GetString(c_.registry.store(), "api/endpoints/" + name + ".json").ok())
    throw Validation("Cannot create already existing endpoint \"" + c_.Arn("endpoint", name) +
                     "\".");
  Record("endpoint-configs", config);
  Json record = {{"name", name},  {"config", config},      {"status", "Creating"},
                 {"failure", ""}, {"created_ms", NowMs()}, {"modified_ms", NowMs()}};
  SaveEndpoint(record);
  Spawn(name, config, false);
  return {{"EndpointArn", c_.Arn("endpoint", name)}};
}

Json EndpointHosts::UpdateEndpoint(const Json& in) {
  const std::string name = RequiredString(in, "EndpointName");
  const std::string config = RequiredString(in, "EndpointConfigName");
  Json record = Record("endpoints", name);
  Record("endpoint-configs", config);
  if (record["status"] != "InService")
    throw Validation("Cannot update in-progress endpoint \"" + c_.Arn("endpoint", name) + "\".");
  record["status"] = "Updating";
  record["pending_config"] = config;
  SaveEndpoint(record);
  Spawn(name, config, true);
  return {{"EndpointArn", c_.Arn("endpoint", name)}};
}

Json EndpointHosts::DescribeEndpoint(const Json& in) {
  const Json r = Record("endpoints", RequiredString(in, "EndpointName"));
  Json out = {{"EndpointName", r["name"]},
              {"EndpointArn", c_.Arn("endpoint", r["name"].get<std::string>())},
              {"EndpointConfigName", r["config"]},
              {"EndpointStatus", r["status"]},
              {"CreationTime", Seconds(r["created_ms"].get<int64_t>())},
              {"LastModifiedTime", Seconds(r["modified_ms"].get<int64_t>())}};
  if (!r.value("failure", "").empty()) out["FailureReason"] = r["failure"];
  std::lock_guard<std::mutex> lock(mu_);
  if (variant_.count(r["name"])) {
    out["ProductionVariants"] = Json::array({{{"VariantName", variant_[r["name"]]},
                                              {"CurrentWeight", 1.0},
                                              {"DesiredWeight", 1.0},
                                              {"CurrentInstanceCount", 1},
                                              {"DesiredInstanceCount", 1}}});
  }
  return out;
}

Json EndpointHosts::ListEndpoints(const Json& in) {
  auto objects = c_.registry.store().List("api/endpoints/");
  if (!objects.ok()) throw FromStatus(objects.status());
  Json items = Json::array();
  for (const auto& o : *objects) {
    auto text = GetString(c_.registry.store(), o.key);
    if (!text.ok()) continue;
    const Json r = Json::parse(*text, nullptr, false);
    if (r.is_discarded()) continue;
    items.push_back({{"EndpointName", r["name"]},
                     {"EndpointArn", c_.Arn("endpoint", r["name"].get<std::string>())},
                     {"CreationTime", Seconds(r["created_ms"].get<int64_t>())},
                     {"LastModifiedTime", Seconds(r["modified_ms"].get<int64_t>())},
                     {"EndpointStatus", r["status"]}});
  }
  return Page(items, in, "Endpoints");
}

Json EndpointHosts::DeleteEndpoint(const Json& in) {
  const std::string name = RequiredString(in, "EndpointName");
  Record("endpoints", name);
  std::shared_ptr<Process> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = live_[name];
    live_.erase(name);
    variant_.erase(name);
  }
  (void)c_.registry.store().Delete("api/endpoints/" + name + ".json");
  return Json::object();
}

void EndpointHosts::Restore() {
  auto objects = c_.registry.store().List("api/endpoints/");
  if (!objects.ok()) return;
  for (const auto& o : *objects) {
    auto text = GetString(c_.registry.store(), o.key);
    if (!text.ok()) continue;
    Json r = Json::parse(*text, nullptr, false);
    if (r.is_discarded() || r.value("status", "") == "Failed") continue;
    const std::string name = r["name"], config = r["config"];
    r["status"] = "Creating";
    SaveEndpoint(r);
    Spawn(name, config, false);
  }
}

serving::HttpResponse EndpointHosts::Invoke(const std::string& name,
                                            const serving::HttpRequest& req) {
  auto error = [](int status, const std::string& code, const std::string& message,
                  Json extra = Json::object()) {
    serving::HttpResponse r;
    r.status = status;
    r.headers.emplace_back("x-amzn-ErrorType", code);
    extra["message"] = message;
    r.body = extra.dump();
    return r;
  };
  std::shared_ptr<Process> proc;
  std::string variant;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(name);
    if (it != live_.end()) {
      proc = it->second;
      variant = variant_[name];
    }
  }
  if (!proc) {
    return error(400, "ValidationError",
                 "Endpoint " + name + " of account " + c_.options.account + " not found.");
  }
  if (req.body.size() > 6291456)
    return error(413, "ValidationError", "the request body is larger than 6 MB");
  std::vector<std::string> headers = {"Content-Type: " + (req.Header("content-type").empty()
                                                              ? std::string("application/json")
                                                              : req.Header("content-type"))};
  if (!req.Header("accept").empty()) headers.push_back("Accept: " + req.Header("accept"));
  if (!req.Header("x-amzn-sagemaker-custom-attributes").empty())
    headers.push_back("X-Amzn-SageMaker-Custom-Attributes: " +
                      req.Header("x-amzn-sagemaker-custom-attributes"));
  HttpResult res = Http("http://127.0.0.1:" + std::to_string(proc->port) + "/invocations",
                        &req.body, headers, 60);
  if (!res.ok)
    return error(500, "InternalFailure", "the model server did not answer: " + res.error);
  if (res.status >= 400) {
    return error(424, "ModelError",
                 "Received client error (" + std::to_string(res.status) +
                     ") from model with message \"" + res.body + "\".",
                 {{"OriginalStatusCode", res.status}, {"OriginalMessage", res.body}});
  }
  serving::HttpResponse r;
  r.content_type = HeaderOf(res.headers, "content-type");
  r.body = std::move(res.body);
  r.headers.emplace_back("x-Amzn-Invoked-Production-Variant", variant);
  const std::string version = HeaderOf(res.headers, "x-cairn-model-version");
  if (!version.empty()) r.headers.emplace_back("X-Cairn-Model-Version", version);
  return r;
}

}  // namespace cairn::api
