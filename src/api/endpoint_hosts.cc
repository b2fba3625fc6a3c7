#include "endpoint_hosts.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "alarms.h"
#include "cairn/core/clock.h"
#include "leases.h"
#include "metrics.h"

namespace cairn::api {

namespace {

constexpr size_t kMaxPayload = 6291456;     // InvokeEndpoint's 6 MB
constexpr long kInvokeTimeoutSeconds = 60;  // SageMaker's model response timeout

std::string ConfigNotFound(Context& c, const std::string& name) {
  return "Could not find endpoint configuration \"" + c.Arn("endpoint-config", name) + "\".";
}

double Uniform() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

EndpointHosts::~EndpointHosts() {
  health_.reset();   // no health check runs from here on
  deploys_.Close();  // deploys in flight see the gate closed and give up
  std::map<std::string, std::shared_ptr<const Routing>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live.swap(live_);
  }
  live.clear();
}

std::shared_ptr<const Fleet> EndpointHosts::Live(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(endpoint);
  return it == live_.end() ? nullptr : it->second->blue;
}

bool EndpointHosts::Route(const std::string& endpoint, const std::shared_ptr<const Fleet>& blue,
                          const std::shared_ptr<const Fleet>& green, double green_share,
                          Json progress) {
  auto next = std::make_shared<Routing>();
  next->blue = blue;
  next->green = green;
  next->green_share = green_share;
  next->progress = std::move(progress);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(endpoint);
  if (it == live_.end() || it->second->blue != blue) return false;
  it->second = std::move(next);
  return true;
}

std::string EndpointHosts::ShiftTraffic(const std::string& endpoint,
                                        const std::shared_ptr<const Fleet>& green,
                                        const DeploymentPlan& plan) {
  const std::shared_ptr<const Fleet> blue = Live(endpoint);
  if (!blue) return "the endpoint has no fleet serving";
  const int64_t started = NowMs();
  auto rollback = [&](const std::string& why) {
    Route(endpoint, blue, nullptr, 0, Json());  // every request back on the old fleet
    return why;
  };
  for (size_t i = 0; i < plan.shares.size(); ++i) {
    const bool last = i + 1 == plan.shares.size();
    const int64_t bake = plan.wait_ms + (last ? plan.termination_wait_ms : 0);
    Json progress = {{"Type", plan.type},
                     {"Step", i + 1},
                     {"Steps", plan.shares.size()},
                     {"Share", plan.shares[i]},
                     {"StartTime", Seconds(started)},
                     {"StepTime", Seconds(NowMs())},
                     {"BakeSeconds", bake / 1000}};
    if (!Route(endpoint, blue, green, plan.shares[i], progress))
      return "the endpoint was deleted or changed during the deployment";
    std::fprintf(stderr, "cairn server: endpoint %s: step %zu of %zu, %.0f%% of requests to %s\n",
                 endpoint.c_str(), i + 1, plan.shares.size(), plan.shares[i] * 100,
                 green->config.c_str());
    const int64_t until = NowMs() + bake;
    for (;;) {
      if (deploys_.closed()) return rollback("cairn server stopped during the deployment");
      if (Live(endpoint) != blue) return "the endpoint was deleted during the deployment";
      if (!plan.alarms.empty() && c_.alarms) {
        const auto firing = c_.alarms->InAlarm(plan.alarms);
        if (!firing.empty()) {
          std::string why =
              rollback("alarm " + firing[0].name + " went into ALARM at step " +
                       std::to_string(i + 1) + " of " + std::to_string(plan.shares.size()) + " (" +
                       std::to_string(static_cast<int>(plan.shares[i] * 100)) +
                       "% of requests on the new fleet)");
          char after[64];
          std::snprintf(after, sizeof(after),
                        "; every request was back on the old fleet %.3f s later",
                        static_cast<double>(NowMs() - firing[0].state_updated_ms) / 1000.0);
          return why + after + " (" + firing[0].state_reason + ")";
        }
      }
      if (plan.max_ms > 0 && NowMs() - started > plan.max_ms)
        return rollback("the deployment took longer than MaximumExecutionTimeoutInSeconds (" +
                        std::to_string(plan.max_ms / 1000) + " s)");
      if (NowMs() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return "";
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

void EndpointHosts::RetireRouting(std::shared_ptr<const Routing> routing) {
  if (!deploys_.Enter()) return;  // stopping: the caller's reference stops it
  std::thread([this, routing = std::move(routing)]() mutable {
    routing.reset();
    deploys_.Leave();
  }).detach();
}

void EndpointHosts::Retire(std::shared_ptr<const Fleet> fleet) {
  if (!fleet) return;
  if (!deploys_.Enter()) return;  // stopping: the caller's reference stops it
  std::thread([this, fleet = std::move(fleet)]() mutable {
    fleet.reset();  // instances no other fleet holds: SIGTERM, then their requests in flight
    deploys_.Leave();
  }).detach();
}

Result<std::vector<VariantSpec>> EndpointHosts::Specs(const std::string& config,
                                                      const EndpointRecord& record) {
  auto cfg = RecordStore<EndpointConfigRecord>(c_.registry.store()).Get(config);
  if (cfg.status().code() == Status::Code::kNotFound)
    return Status::InvalidArgument(ConfigNotFound(c_, config));
  if (!cfg.ok()) return cfg.status();
  CAIRN_ASSIGN_OR_RETURN(auto specs, ParseVariants(cfg->variants));
  if (config == record.config) {
    for (auto& s : specs) {
      if (!record.desired.contains(s.name)) continue;
      const Json& d = record.desired[s.name];
      s.weight = d.value("weight", s.weight);
      s.count = d.value("count", s.count);
    }
  }
  return specs;
}

void EndpointHosts::Deploy(const std::string& endpoint, const std::string& config, bool update,
                           int64_t generation) {
  Result<std::shared_ptr<const Fleet>> fleet = Status::Internal("not started");
  Json deployment;  // UpdateEndpoint's DeploymentConfig
  try {
    Result<std::vector<VariantSpec>> specs = Status::Internal("no record");
    {
      std::lock_guard<std::mutex> records_lock(records_mu_);
      auto record = records().Get(endpoint);
      specs = record.ok() ? Specs(config, *record) : record.status();
      if (record.ok()) deployment = record->deployment;
    }
    if (specs.ok()) {
      // The instances of the fleet serving the same configuration are kept (a capacity change).
      std::shared_ptr<const Fleet> reuse = Live(endpoint);
      if (reuse && reuse->config != config) reuse.reset();
      fleet = BuildFleet(c_, endpoint, config, *specs, reuse.get(),
                         [this] { return deploys_.closed(); });
    } else {
      fleet = specs.status();
    }
  } catch (const Json::exception& e) {  // a configuration record of the wrong shape
    fleet = Status::Corrupt(std::string("endpoint configuration ") + config + ": " + e.what());
  } catch (const std::exception& e) {  // std::filesystem and the like
    fleet = Status::Internal(std::string("deploying ") + config + ": " + e.what());
  }
  // A new configuration takes traffic by the deployment's plan (a capacity change at once).
  std::string rolled_back;
  const std::shared_ptr<const Fleet> serving = Live(endpoint);
  if (fleet.ok() && update && serving && serving->config != config) {
    int instances = 0;
    for (const auto& v : (*fleet)->variants) instances += static_cast<int>(v->instances.size());
    auto plan = PlanDeployment(deployment, instances);
    if (plan.ok()) {
      rolled_back = ShiftTraffic(endpoint, *fleet, *plan);
    } else {
      fleet = plan.status();
    }
  }
  // The server is stopping: the record keeps its state, so a restart rolls the update back.
  if (deploys_.closed()) return;
  std::shared_ptr<const Fleet> old;  // retired last, outside the locks
  std::lock_guard<std::mutex> records_lock(records_mu_);
  auto record = records().Get(endpoint);
  if (c_.leases && !c_.leases->Holds("endpoint", endpoint)) {
    // Its lease went to another server while it deployed: that one serves it now.
    std::fprintf(stderr, "cairn server: endpoint %s: lease lost while it deployed; dropped\n",
                 endpoint.c_str());
    return;
  }
  if (!record.ok() || record->created_ms != generation) {
    // Deleted (and maybe created again) while it deployed: the new fleet goes too.
    std::fprintf(stderr, "cairn server: endpoint %s changed while it deployed; dropped\n",
                 endpoint.c_str());
    return;
  }
  record->modified_ms = NowMs();
  record->pending_config.clear();
  if (fleet.ok() && !rolled_back.empty()) {
    old = *fleet;  // the new fleet goes; the old one serves as before
    record->status = EndpointStatus::kInService;
    record->failure = "Rolled back to " + record->config + ": " + rolled_back;
    std::fprintf(stderr, "cairn server: endpoint %s: %s\n", endpoint.c_str(),
                 record->failure.c_str());
  } else if (fleet.ok()) {
    {
      auto routing = std::make_shared<Routing>();
      routing->blue = *fleet;
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = live_.find(endpoint); it != live_.end()) old = it->second->blue;
      live_[endpoint] = std::move(routing);
    }
    record->status = EndpointStatus::kInService;
    if (record->config != config) {
      record->desired = Json::object();
      record->previous_config = record->config;
    }
    record->config = config;
    if (update) record->failure.clear();  // a restore keeps why it rolled back
  } else {
    // A failed update leaves the old configuration serving.
    record->status = update ? EndpointStatus::kInService : EndpointStatus::kFailed;
    record->failure = fleet.status().message();
  }
  if (Status st = records().Put(*record); !st.ok())
    std::fprintf(stderr, "cairn server: endpoint %s: cannot save its record: %s\n",
                 endpoint.c_str(), st.ToString().c_str());
  Retire(std::move(old));
}

Status EndpointHosts::Create(const EndpointRecord& record) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  // A lease held already is an endpoint of that name this server runs: never released here.
  const bool held_before = c_.leases && c_.leases->Holds("endpoint", record.name);
  if (c_.leases && !held_before) {  // this server will run it: its lease first, then its record
    CAIRN_ASSIGN_OR_RETURN(const bool mine, c_.leases->Acquire("endpoint", record.name));
    if (!mine)
      return Status::AlreadyExists("endpoint/" + record.name + " is held by another server");
  }
  if (Status st = records().Create(record); !st.ok()) {
    if (c_.leases && !held_before && st.code() == Status::Code::kAlreadyExists)
      c_.leases->Release("endpoint", record.name);
    return st;
  }
  return StartDeploy(record.name, record.config, false, record.created_ms);
}

Status EndpointHosts::Update(const std::string& endpoint, const std::string& config,
                             const Json& deployment_config) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  CAIRN_ASSIGN_OR_RETURN(EndpointRecord record, records().Get(endpoint));
  if (record.status != EndpointStatus::kInService)
    return Status::InvalidArgument("Cannot update in-progress endpoint \"" +
                                   c_.Arn("endpoint", endpoint) + "\".");
  // The plan is checked now, so a bad one is refused here rather than found later.
  CAIRN_ASSIGN_OR_RETURN(auto specs, Specs(config, EndpointRecord{}));
  int instances = 0;
  for (const auto& s : specs) instances += s.count;
  CAIRN_RETURN_IF_ERROR(PlanDeployment(deployment_config, instances).status());
  record.deployment = deployment_config;
  record.status = EndpointStatus::kUpdating;
  // FailureReason tells of the last update: an earlier one's failure no longer (so a caller that
  // waits for this update reads its outcome: `cairn endpoints update --wait`).
  record.failure.clear();
  record.pending_config = config;
  record.modified_ms = NowMs();
  CAIRN_RETURN_IF_ERROR(records().Put(record));
  return StartDeploy(endpoint, config, true, record.created_ms);
}

Status EndpointHosts::UpdateWeights(const std::string& endpoint, const Json& desired) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  CAIRN_ASSIGN_OR_RETURN(EndpointRecord record, records().Get(endpoint));
  std::shared_ptr<const Fleet> fleet = Live(endpoint);
  if (record.status != EndpointStatus::kInService || !fleet)
    return Status::InvalidArgument("Cannot update in-progress endpoint \"" +
                                   c_.Arn("endpoint", endpoint) + "\".");
  if (!desired.is_array() || desired.empty())
    return Status::InvalidArgument("DesiredWeightsAndCapacities must name at least one variant");
  auto next = std::make_shared<Fleet>(*fleet);
  bool capacity = false;
  for (const Json& d : desired) {
    const std::string name = d.is_object() ? d.value("VariantName", "") : "";
    size_t i = 0;
    while (i < next->variants.size() && next->variants[i]->spec.name != name) ++i;
    if (i == next->variants.size())
      return Status::InvalidArgument("The variant \"" + name + "\" does not exist in endpoint \"" +
                                     c_.Arn("endpoint", endpoint) + "\".");
    Json& r = record.desired[name];
    if (d.contains("DesiredWeight")) {
      if (!d["DesiredWeight"].is_number() || d["DesiredWeight"].get<double>() < 0)
        return Status::InvalidArgument("DesiredWeight of " + name + " must be a number >= 0");
      next->weights[i] = d["DesiredWeight"].get<double>();
      r["weight"] = next->weights[i];
    }
    if (d.contains("DesiredInstanceCount")) {
      const Json& n = d["DesiredInstanceCount"];
      if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > kMaxLocalInstances)
        return Status::InvalidArgument("DesiredInstanceCount of " + name + " must be 1.." +
                                       std::to_string(kMaxLocalInstances));
      r["count"] = n.get<int>();
      capacity = capacity || n.get<size_t>() != next->variants[i]->instances.size();
    }
  }
  record.modified_ms = NowMs();
  record.failure.clear();  // as in Update
  if (capacity) record.status = EndpointStatus::kUpdating;
  CAIRN_RETURN_IF_ERROR(records().Put(record));
  {
    auto routing = std::make_shared<Routing>();
    routing->blue = next;
    std::lock_guard<std::mutex> lock(mu_);
    live_[endpoint] = std::move(routing);  // the new weights take the next request
  }
  if (capacity) return StartDeploy(endpoint, record.config, true, record.created_ms);
  return Status::OK();
}

Status EndpointHosts::Remove(const std::string& endpoint) {
  std::shared_ptr<const Routing> old;
  {
    std::lock_guard<std::mutex> records_lock(records_mu_);
    CAIRN_RETURN_IF_ERROR(records().Get(endpoint).status());
    CAIRN_RETURN_IF_ERROR(records().Delete(endpoint));
    if (c_.leases) c_.leases->Release("endpoint", endpoint);
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(endpoint); it != live_.end()) {
      old = std::move(it->second);
      live_.erase(it);
    }
  }
  if (old) {  // a deployment in flight notices the endpoint is gone and drops its fleet
    Retire(old->blue);
    Retire(old->green);
  }  // DeleteEndpoint answers now; the instances drain in the background
  return Status::OK();
}

Status EndpointHosts::Adopt(const std::string& name) {
  std::lock_guard<std::mutex> records_lock(records_mu_);
  if (Serves(name)) return Status::OK();
  CAIRN_ASSIGN_OR_RETURN(EndpointRecord r, records().Get(name));
  if (r.status == EndpointStatus::kFailed) return Status::OK();
  // An update the previous process did not finish is rolled back: the configuration it
  // served before the update is what the record names.
  if (!r.pending_config.empty())
    r.failure = "Rolled back to " + r.config + ": cairn server restarted while updating to " +
                r.pending_config;
  r.status = EndpointStatus::kCreating;
  r.pending_config.clear();
  CAIRN_RETURN_IF_ERROR(records().Put(r));
  return StartDeploy(r.name, r.config, false, r.created_ms);
}

bool EndpointHosts::Serves(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.count(endpoint) > 0;
}

void EndpointHosts::Drop(const std::string& endpoint) {
  std::shared_ptr<const Routing> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(endpoint); it != live_.end()) {
      old = std::move(it->second);
      live_.erase(it);
    }
  }
  if (old) {
    Event(endpoint, "its lease went to another server; stopped serving it here");
    Retire(old->blue);
    Retire(old->green);
  }
}

namespace {

// DescribeEndpoint's ProductionVariants for a fleet taking `share` of the requests.
Json VariantsJson(const Fleet& fleet, double share, const Json& desired, const char* status) {
  Json out = Json::array();
  for (size_t i = 0; i < fleet.variants.size(); ++i) {
    const Variant& v = *fleet.variants[i];
    const Json d = desired.contains(v.spec.name) ? desired[v.spec.name] : Json::object();
    const int current = static_cast<int>(v.instances.size());
    Json j = {{"VariantName", v.spec.name},
              {"CurrentWeight", fleet.weights[i] * share},
              {"DesiredWeight", d.value("weight", fleet.weights[i])},
              {"CurrentInstanceCount", current},
              {"DesiredInstanceCount", d.value("count", current)},
              {"DeployedImages", Json::array({{{"SpecifiedImage", "cairn-serve"},
                                               {"ResolvedImage", v.instances[0]->ref}}})}};
    if (status) j["VariantStatus"] = Json::array({{{"Status", status}}});
    // cairn's addition (boto3 ignores fields it does not know): each instance and its health.
    std::vector<BackendState> states;
    if (v.lb) {
      auto s = v.lb->States();
      if (s.ok()) states = std::move(*s);
    }
    Json instances = Json::array();
    for (const auto& inst : v.instances) {
      std::string health = inst->dead.load() ? "Replacing" : "Healthy";
      for (const auto& st : states)
        if (st.name == inst->id && !st.up() && !inst->dead.load()) health = "Unhealthy";
      instances.push_back({{"InstanceId", inst->id},
                           {"Address", inst->url()},
                           {"Node", inst->node.empty() ? "local" : inst->node},
                           {"Health", health}});
    }
    j["Instances"] = std::move(instances);
    if (v.lb) j["LoadBalancerUrl"] = v.lb->url();
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

void EndpointHosts::Describe(const std::string& endpoint, Json& out) {
  std::shared_ptr<const Routing> routing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(endpoint); it != live_.end()) routing = it->second;
  }
  if (!routing) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = events_.find(endpoint); it != events_.end()) out["InstanceEvents"] = it->second;
  }
  auto record = records().Get(endpoint);
  const Json desired = record.ok() ? record->desired : Json::object();
  if (record.ok() && !record->deployment.is_null())
    out["LastDeploymentConfig"] = record->deployment;
  if (!routing->green) {
    out["ProductionVariants"] = VariantsJson(*routing->blue, 1.0, desired, nullptr);
    return;
  }
  const double share = routing->green_share;
  out["ProductionVariants"] = VariantsJson(*routing->blue, 1.0 - share, desired, nullptr);
  const Json& p = routing->progress;
  const bool baking = share > 0;
  Json green =
      VariantsJson(*routing->green, share, Json::object(), baking ? "Baking" : "ActivatingTraffic");
  for (auto& v : green)
    v["VariantStatus"][0]["StatusMessage"] =
        "step " + std::to_string(p.value("Step", 0)) + " of " +
        std::to_string(p.value("Steps", 0)) + " (" + p.value("Type", std::string()) +
        "): " + std::to_string(static_cast<int>(share * 100 + 0.5)) + "% of requests";
  out["PendingDeploymentSummary"] = {{"EndpointConfigName", routing->green->config},
                                     {"ProductionVariants", std::move(green)},
                                     {"StartTime", p.value("StartTime", 0.0)}};
}

net::HttpResponse EndpointHosts::Invoke(const std::string& name, const net::HttpRequest& req) {
  const auto started = std::chrono::steady_clock::now();
  auto error = [](int status, const std::string& code, const std::string& message,
                  Json extra = Json::object()) {
    net::HttpResponse r;
    r.status = status;
    r.headers.emplace_back("x-amzn-ErrorType", code);
    extra["message"] = message;
    r.body = extra.dump(-1, ' ', false, Json::error_handler_t::replace);
    return r;
  };
  std::shared_ptr<const Routing> routing;  // held until the answer is back
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = live_.find(name); it != live_.end()) routing = it->second;
  }
  if (!routing)
    return error(400, "ValidationError",
                 "Endpoint " + name + " of account " + c_.options.account + " not found.");
  const std::string target = req.Header("x-amzn-sagemaker-target-variant");
  // During a deployment the new fleet takes its share of requests.
  const Fleet& fleet =
      routing->green && Uniform() < routing->green_share ? *routing->green : *routing->blue;
  const Variant* variant = fleet.Pick(target, Uniform());
  if (!variant)
    return error(400, "ValidationError",
                 target.empty() ? "Endpoint " + name + " has no variant with a weight above 0."
                                : "The variant \"" + target + "\" is not valid for endpoint \"" +
                                      name + "\".");
  if (req.body.size() > kMaxPayload)
    return error(413, "ValidationError", "the request body is larger than 6 MB");
  const std::string content_type = req.Header("content-type");
  net::Headers headers = {
      {"Content-Type", content_type.empty() ? "application/json" : content_type}};
  if (!req.Header("accept").empty()) headers.emplace_back("Accept", req.Header("accept"));
  if (const std::string attrs = req.Header("x-amzn-sagemaker-custom-attributes"); !attrs.empty())
    headers.emplace_back("X-Amzn-SageMaker-Custom-Attributes", attrs);
  const auto sent = std::chrono::steady_clock::now();
  auto res = c_.http.Send("POST", variant->Url() + "/invocations", req.body, headers,
                          kInvokeTimeoutSeconds);
  const auto answered = std::chrono::steady_clock::now();
  auto us = [](auto d) {
    return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  const double model_us = us(answered - sent);
  auto record = [&](int status) {
    if (c_.metrics)
      c_.metrics->Record(name, variant->spec.name, status, model_us,
                         us(std::chrono::steady_clock::now() - started) - model_us);
  };
  if (!res.ok()) {
    record(0);
    return error(500, "InternalFailure",
                 "the model server did not answer: " + res.status().message());
  }
  record(static_cast<int>(res->status));
  if (res->status >= 400) {
    return error(
        424, "ModelError",
        std::string(res->status >= 500 ? "Received server error (" : "Received client error (") +
            std::to_string(res->status) + ") from model with message \"" + res->body + "\".",
        {{"OriginalStatusCode", res->status}, {"OriginalMessage", res->body}});
  }
  net::HttpResponse r;
  r.content_type = res->Header("content-type");
  r.body = std::move(res->body);
  r.headers.emplace_back("x-Amzn-Invoked-Production-Variant", variant->spec.name);
  // Retired while this request was in flight: the fleet's instances stop off this thread, so the
  // client does not wait for their shutdown.
  if (routing.use_count() == 1) RetireRouting(std::move(routing));
  if (const std::string version = res->Header("x-cairn-model-version"); !version.empty())
    r.headers.emplace_back("X-Cairn-Model-Version", version);
  return r;
}

}  // namespace cairn::api
