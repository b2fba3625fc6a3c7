#include "endpoint_hosts.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/net/port.h"
#include "cairn/registry/layout.h"

namespace cairn::api {

namespace {

constexpr double kDrainSeconds = 90;        // an old instance's requests in flight (60 s each)
constexpr int kLoadTimeoutSeconds = 600;    // SageMaker's container start-up health check
constexpr size_t kMaxPayload = 6291456;     // InvokeEndpoint's 6 MB
constexpr long kInvokeTimeoutSeconds = 60;  // SageMaker's model response timeout
constexpr char kLogGroupPrefix[] = "/aws/sagemaker/Endpoints/";

std::string ConfigNotFound(Context& c, const std::string& name) {
  return "Could not find endpoint configuration \"" + c.Arn("endpoint-config", name) + "\".";
}

}  // namespace

EndpointHosts::Instance::~Instance() {
  if (process) process->Terminate(kDrainSeconds);  // cairn-serve finishes its requests first
  log.reset();  // its last lines reach the store; before `process` goes (the pump reads it)
}

EndpointHosts::~EndpointHosts() {
  deploys_.Close();  // deploys in flight see the gate closed and give up
  std::map<std::string, std::shared_ptr<Instance>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live.swap(live_);
  }
  live.clear();
}

Status EndpointHosts::StartDeploy(const std::string& endpoint, const std::string& config,
                                  bool update, int64_t generation) {
  if (!deploys_.Enter()) return Status::Internal("cairn server is stopping");
  std::thread([this, endpoint, config, update, generation] {
    Deploy(endpoint, config, update, generation);
    deploys_.Leave();
  }).detach();
  return Status::OK();
}

void EndpointHosts::Retire(std::shared_ptr<Instance> instance) {
  if (!instance) return;
  if (!deploys_.Enter()) return;  // stopping: the caller's reference stops it
  std::thread([this, instance = std::move(instance)]() mutable {
    instance.reset();  // SIGTERM, then wait for its requests in flight
    deploys_.Leave();
  }).detach();
}

Result<std::shared_ptr<EndpointHosts::Instance>> EndpointHosts::Launch(const std::string& endpoint,
                                                                       const std::string& config) {
  auto cfg = RecordStore<EndpointConfigRecord>(c_.registry.store()).Get(config);
  if (cfg.status().code() == Status::Code::kNotFound)
    return Status::InvalidArgument(ConfigNotFound(c_, config));
  if (!cfg.ok()) return cfg.status();
  const Json& variant = cfg->variants.at(0);
  const std::string model_name = variant.at("ModelName").get<std::string>();
  auto model = RecordStore<ModelRecord>(c_.registry.store()).Get(model_name);
  if (!model.ok()) return model.status().WithContext("model " + model_name);
  auto inst = std::make_shared<Instance>();
  inst->config = config;
  inst->variant = variant.value("VariantName", "AllTraffic");
  inst->port = net::FreeLocalPort();
  char id[40];
  std::snprintf(id, sizeof(id), "i-%011llx%05x", static_cast<unsigned long long>(NowMs()),
                static_cast<unsigned>(inst->port));
  inst->id = id;
  SubprocessOptions o;
  o.argv = {c_.options.serve_program,   model->ref, "--store", c_.options.store, "--port",
            std::to_string(inst->port), "--poll",   "3600"};
  const Json& env = model->environment;
  if (env.contains("SAGEMAKER_PROGRAM")) {
    o.argv.push_back("--entry-point");
    o.argv.push_back(env["SAGEMAKER_PROGRAM"].get<std::string>());
    const std::string submit = env.value("SAGEMAKER_SUBMIT_DIRECTORY", "");
    if (!submit.empty() && submit.rfind("/opt/ml/model", 0) != 0) {
      const std::string dir =
          c_.options.work_root + "/endpoint-code/" + endpoint + "-" + std::to_string(inst->port);
      if (Status st = FetchSource(submit, dir); !st.ok())
        return Status::InvalidArgument("SAGEMAKER_SUBMIT_DIRECTORY: " + st.message());
      o.argv.push_back("--source-dir");
      o.argv.push_back(dir);
    }
  }
  // CreateModel's Environment is the serving process's environment, as in a SageMaker container
  // (the toolkit's SAGEMAKER_* variables included; cairn-serve and its workers read them).
  for (const auto& [k, v] : env.items()) o.env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  // cairn-serve's Python workers share its process group: SIGTERM goes to cairn-serve alone,
  // which finishes its requests with them before it exits.
  o.new_process_group = false;
  o.death_signal = SIGTERM;
  o.stdout_mode = SubprocessOptions::Stdio::kPipe;
  o.stderr_to_stdout = true;
  CAIRN_ASSIGN_OR_RETURN(inst->process, Subprocess::Start(o));
  inst->log = std::make_unique<LogPump>(c_.registry.store(), layout::EndpointLogsPrefix(endpoint),
                                        inst->variant + "/" + inst->id, *inst->process);
  const std::string ping = "http://127.0.0.1:" + std::to_string(inst->port) + "/ping";
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kLoadTimeoutSeconds);
  for (;;) {
    if (inst->process->Poll())
      return Status::Internal("the model server exited while loading " + model->ref + " (" +
                              inst->process->Describe() + "); its output is in log group " +
                              kLogGroupPrefix + endpoint);
    auto r = c_.http.Send("GET", ping, "", {}, 2);
    if (r.ok() && r->status == 200) return inst;
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Internal("the model did not load within " +
                              std::to_string(kLoadTimeoutSeconds) +
                              " s; its output is in log group " + kLogGroupPrefix + endpoint);
    if (deploys_.closed()) return Status::Internal("the server is stopping");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void EndpointHosts::Deploy(const std::string& endpoint, const std::string& config, bool update,
                           int64_t generation) {
  Result<std::shared_ptr<Instance>> inst = Status::Internal("not started");
  try {
    inst = Launch(endpoint, config);
  } catch (const Json::exception& e) {  // a configuration record of the wrong shape
    inst = Status::Corrupt(std::string("endpoint configuration ") + config + ": " + e.what());
  } catch (const std::exception& e) {  // std::filesystem and the like
    inst = Status::Internal(std::string("deploying ") + config + ": " + e.what());
  }
  // The server is stopping: the record keeps its state, so a restart deploys it again.
  if (deploys_.closed()) return;
  std::shared_ptr<Instance> old;  // stopped last, outside the locks
  std::lock_guard<std::mutex> records_lock(records_mu_);
  auto record = records().Get(endpoint);
  if (!record.ok() || record->created_ms != generation) {
    // Deleted (and maybe created again) while it deployed: the new process goes too.
    std::fprintf(stderr, "cairn server: endpoint %s changed while it deployed; dropped\n",
                 endpoint.c_str());
    return;
  }
  record->modified_ms = NowMs();
  record->pending_config.clear();
  if (inst.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    old = live_[endpoint];
    live_[endpoint] = *inst;
    record->status = EndpointStatus::kInService;
    record->config = config;
    record->failure.clear();
  } else {
    // A failed update leaves the old configuration serving.
    record->status = update ? EndpointStatus::kInService : EndpointStatus::kFailed;
    record->failure = inst.status().message();
  }
  if (Status st = records().Put(*record); !st.ok())
    std::fprintf(stderr, "cairn server: endpoint %s: cannot save its record: %s\n",
                 endpoint.c_str(), st.ToString().c_str());
}

Status EndpointHosts::Create(const EndpointRecord& record) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  CAIRN_RETURN_IF_ERROR(records().Create(record));
  return StartDeploy(record.name, record.config, false, record.created_ms);
}

Status EndpointHosts::Update(const std::string& endpoint, const std::string& config) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  CAIRN_ASSIGN_OR_RETURN(EndpointRecord record, records().Get(endpoint));
  if (record.status != EndpointStatus::kInService)
    return Status::InvalidArgument("Cannot update in-progress endpoint \"" +
                                   c_.Arn("endpoint", endpoint) + "\".");
  record.status = EndpointStatus::kUpdating;
  record.pending_config = config;
  record.modified_ms = NowMs();
  CAIRN_RETURN_IF_ERROR(records().Put(record));
  return StartDeploy(endpoint, config, true, record.created_ms);
}

Status EndpointHosts::Remove(const std::string& endpoint) {
  std::shared_ptr<Instance> old;
  {
    std::lock_guard<std::mutex> records_lock(records_mu_);
    CAIRN_RETURN_IF_ERROR(records().Get(endpoint).status());
    CAIRN_RETURN_IF_ERROR(records().Delete(endpoint));
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(endpoint); it != live_.end()) {
      old = std::move(it->second);
      live_.erase(it);
    }
  }
  Retire(std::move(old));  // DeleteEndpoint answers now; the process drains in the background
  return Status::OK();
}

Status EndpointHosts::Restore() {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  CAIRN_ASSIGN_OR_RETURN(auto names, records().ListNames());
  for (const auto& name : names) {
    auto r = records().Get(name);
    if (!r.ok()) {  // one damaged record does not keep the others down
      std::fprintf(stderr, "cairn server: endpoint %s not restored: %s\n", name.c_str(),
                   r.status().ToString().c_str());
      continue;
    }
    if (r->status == EndpointStatus::kFailed) continue;
    r->status = EndpointStatus::kCreating;
    r->pending_config.clear();
    CAIRN_RETURN_IF_ERROR(records().Put(*r));
    CAIRN_RETURN_IF_ERROR(StartDeploy(r->name, r->config, false, r->created_ms));
  }
  return Status::OK();
}

std::string EndpointHosts::Variant(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(endpoint);
  return it == live_.end() ? "" : it->second->variant;
}

net::HttpResponse EndpointHosts::Invoke(const std::string& name, const net::HttpRequest& req) {
  auto error = [](int status, const std::string& code, const std::string& message,
                  Json extra = Json::object()) {
    net::HttpResponse r;
    r.status = status;
    r.headers.emplace_back("x-amzn-ErrorType", code);
    extra["message"] = message;
    r.body = extra.dump(-1, ' ', false, Json::error_handler_t::replace);
    return r;
  };
  std::shared_ptr<Instance> inst;  // held until the answer is back, even across a swap
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(name); it != live_.end()) inst = it->second;
  }
  if (!inst)
    return error(400, "ValidationError",
                 "Endpoint " + name + " of account " + c_.options.account + " not found.");
  if (req.body.size() > kMaxPayload)
    return error(413, "ValidationError", "the request body is larger than 6 MB");
  const std::string content_type = req.Header("content-type");
  net::Headers headers = {
      {"Content-Type", content_type.empty() ? "application/json" : content_type}};
  if (!req.Header("accept").empty()) headers.emplace_back("Accept", req.Header("accept"));
  if (const std::string attrs = req.Header("x-amzn-sagemaker-custom-attributes"); !attrs.empty())
    headers.emplace_back("X-Amzn-SageMaker-Custom-Attributes", attrs);
  auto res = c_.http.Send("POST", "http://127.0.0.1:" + std::to_string(inst->port) + "/invocations",
                          req.body, headers, kInvokeTimeoutSeconds);
  if (!res.ok())
    return error(500, "InternalFailure",
                 "the model server did not answer: " + res.status().message());
  if (res->status >= 400) {
    return error(424, "ModelError",
                 "Received client error (" + std::to_string(res->status) +
                     ") from model with message \"" + res->body + "\".",
                 {{"OriginalStatusCode", res->status}, {"OriginalMessage", res->body}});
  }
  net::HttpResponse r;
  r.content_type = res->Header("content-type");
  r.body = std::move(res->body);
  r.headers.emplace_back("x-Amzn-Invoked-Production-Variant", inst->variant);
  if (const std::string version = res->Header("x-cairn-model-version"); !version.empty())
    r.headers.emplace_back("X-Cairn-Model-Version", version);
  return r;
}

}  // namespace cairn::api
