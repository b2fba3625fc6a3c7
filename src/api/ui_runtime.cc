// The dashboard's runtime pages: training jobs (status, transitions, metric series, log tail) and
// endpoints (variants, instances, the deployment in progress, request and latency series).
#include <algorithm>

#include "alarms.h"
#include "cairn/core/clock.h"
#include "cairn/training/job.h"
#include "endpoint_hosts.h"
#include "leases.h"
#include "metrics.h"
#include "records.h"
#include "ui.h"

namespace cairn::api {
namespace {

// The last `n` lines of every host's log, each with its host, in the order they reached the store.
Json LogTail(Context& c, const std::string& job, size_t n) {
  Json lines = Json::array();
  if (n == 0) return lines;
  auto pieces = JobStore(c.registry.store()).ReadLogs(job, {});
  if (!pieces.ok()) return lines;
  std::stable_sort(pieces->begin(), pieces->end(),
                   [](const LogPiece& a, const LogPiece& b) { return a.at_ms < b.at_ms; });
  std::vector<Json> all;
  for (const auto& p : *pieces) {
    size_t pos = 0;
    while (pos < p.bytes.size()) {
      size_t end = p.bytes.find('\n', pos);
      if (end == std::string::npos) end = p.bytes.size();
      all.push_back(
          {{"host", p.host}, {"at_ms", p.at_ms}, {"line", p.bytes.substr(pos, end - pos)}});
      pos = end + 1;
    }
  }
  for (size_t i = all.size() > n ? all.size() - n : 0; i < all.size(); ++i)
    lines.push_back(std::move(all[i]));
  return lines;
}

}  // namespace

Result<Json> UiJobs(Context& c) {
  JobStore jobs(c.registry.store());
  CAIRN_ASSIGN_OR_RETURN(auto names, jobs.ListNames());
  std::vector<TrainingJob> loaded;
  for (const auto& n : names)
    if (auto j = jobs.Load(n); j.ok()) loaded.push_back(std::move(*j));
  std::sort(loaded.begin(), loaded.end(),
            [](const TrainingJob& a, const TrainingJob& b) { return a.created_ms > b.created_ms; });
  Json out = Json::array();
  for (const auto& j : loaded) {
    std::map<std::string, size_t> points;
    for (const auto& p : j.metrics) ++points[p.name];
    out.push_back({{"name", j.name},
                   {"status", TrainingJobStatusName(j.status)},
                   {"secondary_status", j.secondary_status},
                   {"created_ms", j.created_ms},
                   {"ended_ms", j.ended_ms},
                   {"model_version", j.model_version},
                   {"instances", j.spec.instance_count},
                   {"final_metrics", j.final_metrics},
                   {"series", points}});
  }
  return Json{{"jobs", out}};
}

Result<Json> UiJob(Context& c, const std::string& name, size_t log_lines) {
  CAIRN_RETURN_IF_ERROR(ValidateJobName(name));
  CAIRN_ASSIGN_OR_RETURN(const TrainingJob j, JobStore(c.registry.store()).Load(name));
  Json transitions = Json::array();
  for (const auto& t : j.transitions)
    transitions.push_back({{"status", t.status},
                           {"message", t.message},
                           {"start_ms", t.start_ms},
                           {"end_ms", t.end_ms}});
  Json series = Json::object();  // name -> [[ms, value], ...] in time order
  for (const auto& p : j.metrics) series[p.name].push_back(Json::array({p.at_ms, p.value}));
  Json definitions = Json::array();
  for (const auto& d : j.spec.metric_definitions)
    definitions.push_back({{"name", d.name}, {"regex", d.regex}});
  return Json{{"name", j.name},
              {"status", TrainingJobStatusName(j.status)},
              {"secondary_status", j.secondary_status},
              {"failure_reason", j.failure_reason},
              {"created_ms", j.created_ms},
              {"started_ms", j.started_ms},
              {"ended_ms", j.ended_ms},
              {"transitions", transitions},
              {"series", series},
              {"metric_definitions", definitions},
              {"final_metrics", j.final_metrics},
              {"hyperparameters", j.spec.hyperparameters},
              {"instances", j.spec.instance_count},
              {"model_version", j.model_version},
              {"model_data", j.model_data},
              {"scheduler_job", j.scheduler_job},
              {"ran_on", j.ran_on},
              {"log", LogTail(c, j.name, log_lines)}};
}

Result<Json> UiEndpoints(Context& c) {
  CAIRN_ASSIGN_OR_RETURN(auto records, RecordStore<EndpointRecord>(c.registry.store()).List());
  Json out = Json::array();
  for (const auto& r : records)
    out.push_back({{"name", r.name},
                   {"status", EndpointStatusName(r.status)},
                   {"config", r.config},
                   {"created_ms", r.created_ms},
                   {"modified_ms", r.modified_ms}});
  return Json{{"endpoints", out}};
}

Result<Json> UiEndpoint(Context& c, const std::string& name, int minutes) {
  CAIRN_ASSIGN_OR_RETURN(const EndpointRecord r,
                         RecordStore<EndpointRecord>(c.registry.store()).Get(name));
  Json describe;
  std::string owner_url;  // another live server runs the endpoint: its view is the live one
  if (c.leases && !c.leases->Holds("endpoint", name))
    if (auto lease = c.leases->Read("endpoint", name);
        lease.ok() && lease->owner != c.leases->id() && !c.leases->Expired(*lease))
      owner_url = lease->url;
  if (c.endpoints && owner_url.empty()) {  // its live view (instances, health, deployment step)
    CAIRN_ASSIGN_OR_RETURN(describe, DescribeEndpoint(c, Json{{"EndpointName", name}}));
  } else {  // cairn ui, or another server runs it: the records only
    describe = {{"EndpointName", r.name},
                {"EndpointStatus", EndpointStatusName(r.status)},
                {"EndpointConfigName", r.config}};
    if (!r.failure.empty()) describe["FailureReason"] = r.failure;
    if (!r.deployment.is_null()) describe["LastDeploymentConfig"] = r.deployment;
    if (!owner_url.empty()) describe["CairnOwnerUrl"] = owner_url;
  }
  // The models each variant serves, from the configuration in service.
  Json models = Json::object();
  if (auto config = RecordStore<EndpointConfigRecord>(c.registry.store()).Get(r.config);
      config.ok()) {
    if (!describe.contains("ProductionVariants")) describe["ProductionVariants"] = config->variants;
    for (const auto& v : config->variants) {
      if (!v.is_object() || !v.contains("ModelName") || !v["ModelName"].is_string() ||
          !v.contains("VariantName") || !v["VariantName"].is_string())
        continue;  // a damaged record: shown as stored, without its model
      const std::string model = v["ModelName"].get<std::string>();
      if (auto m = RecordStore<ModelRecord>(c.registry.store()).Get(model); m.ok())
        models[v["VariantName"].get<std::string>()] = {{"model", model}, {"ref", m->ref}};
    }
  }
  // Alarms the deployment watches, with their state now.
  Json alarms = Json::array();
  const Json& dc =
      describe.contains("LastDeploymentConfig") ? describe["LastDeploymentConfig"] : r.deployment;
  if (dc.is_object() && dc.contains("AutoRollbackConfiguration"))
    for (const auto& a : dc["AutoRollbackConfiguration"].value("Alarms", Json::array())) {
      if (!a.is_object() || !a.contains("AlarmName") || !a["AlarmName"].is_string()) continue;
      const std::string alarm = a["AlarmName"].get<std::string>();
      auto rec = RecordStore<AlarmRecord>(c.registry.store()).Get(alarm);
      alarms.push_back({{"name", alarm},
                        {"state", rec.ok() ? rec->state : "missing"},
                        {"reason", rec.ok() ? rec->state_reason : rec.status().message()}});
    }
  // Series over the last minutes, 10 s apart: requests/s, errors, latency percentiles (ms).
  Json series = Json::object();
  if (c.metrics) {
    // Whole buckets only: the one still filling would read as a dip in requests/s.
    const int64_t end = NowMs() / EndpointMetrics::kBucketMs * EndpointMetrics::kBucketMs;
    const int64_t start = end - int64_t{minutes} * 60'000;
    const int64_t period_s = EndpointMetrics::kBucketMs / 1000;
    auto query = [&](const char* metric) {
      return c.metrics->Query(name, "", metric, start, end, period_s);
    };
    CAIRN_ASSIGN_OR_RETURN(auto inv, query("Invocations"));
    CAIRN_ASSIGN_OR_RETURN(auto e4, query("Invocation4XXErrors"));
    CAIRN_ASSIGN_OR_RETURN(auto e5, query("Invocation5XXErrors"));
    CAIRN_ASSIGN_OR_RETURN(auto lat, query("ModelLatency"));
    Json t = Json::array(), rps = Json::array(), err4 = Json::array(), err5 = Json::array(),
         p50 = Json::array(), p99 = Json::array();
    for (int64_t at = start; at < end; at += EndpointMetrics::kBucketMs) {
      t.push_back(at);
      rps.push_back(inv.count(at) ? inv[at].sum / static_cast<double>(period_s) : 0.0);
      err4.push_back(e4.count(at) ? e4[at].sum : 0.0);
      err5.push_back(e5.count(at) ? e5[at].sum : 0.0);
      auto ms = [&](double p) {
        auto v = lat.count(at) ? lat[at].Percentile(p) : std::nullopt;
        return v ? Json(*v / 1000.0) : Json(nullptr);
      };
      p50.push_back(ms(50));
      p99.push_back(ms(99));
    }
    series = {{"t_ms", t},          {"requests_per_s", rps}, {"errors_4xx", err4},
              {"errors_5xx", err5}, {"p50_ms", p50},         {"p99_ms", p99}};
  }
  return Json{{"endpoint", describe}, {"models", models}, {"alarms", alarms}, {"series", series}};
}

}  // namespace cairn::api
