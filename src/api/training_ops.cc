// Training jobs through SageMaker's API: the records `cairn train` keeps in the store.
#include <algorithm>

#include "api.h"
#include "cairn/training/job.h"

namespace cairn::api {

namespace {

// SageMaker answers a missing job with a ValidationException.
Result<TrainingJob> LoadJob(Context& c, const std::string& name) {
  auto job = JobStore(c.registry.store()).Load(name);
  if (job.status().code() == Status::Code::kNotFound ||
      job.status().code() == Status::Code::kInvalidArgument)
    return Status::InvalidArgument("Requested resource not found: training job " + name +
                                   " does not exist.");
  return job;
}

int64_t LastModified(const TrainingJob& j) {
  return std::max({j.created_ms, j.heartbeat_ms, j.ended_ms});
}

Json Summary(Context& c, const TrainingJob& j) {
  Json s = {{"TrainingJobName", j.name},
            {"TrainingJobArn", c.Arn("training-job", j.name)},
            {"CreationTime", Seconds(j.created_ms)},
            {"TrainingJobStatus", TrainingJobStatusName(j.status)},
            {"SecondaryStatus", j.secondary_status},
            {"LastModifiedTime", Seconds(LastModified(j))}};
  if (j.ended_ms) s["TrainingEndTime"] = Seconds(j.ended_ms);
  return s;
}

}  // namespace

Result<Json> DescribeTrainingJob(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "TrainingJobName"));
  CAIRN_ASSIGN_OR_RETURN(const TrainingJob j, LoadJob(c, name));
  Json out = Summary(c, j);
  const TrainingJobSpec& s = j.spec;
  out["ModelArtifacts"] = {{"S3ModelArtifacts", j.model_data}};
  out["HyperParameters"] = s.hyperparameters;
  Json defs = Json::array();
  for (const auto& d : s.metric_definitions) defs.push_back({{"Name", d.name}, {"Regex", d.regex}});
  out["AlgorithmSpecification"] = {
      {"TrainingImage",
       s.algorithm.empty() ? "cairn/script:" + s.entry_point : "cairn/" + s.algorithm},
      {"TrainingInputMode", "File"},
      {"MetricDefinitions", defs}};
  out["StoppingCondition"] = {{"MaxRuntimeInSeconds", s.max_run_seconds}};
  out["ResourceConfig"] = {
      {"InstanceType", "local"}, {"InstanceCount", s.instance_count}, {"VolumeSizeInGB", 0}};
  out["OutputDataConfig"] = {{"S3OutputPath", s.output_path},
                             {"CompressionType", s.compress_output ? "GZIP" : "NONE"}};
  Json channels = Json::array();
  for (const auto& [name, uri] : s.channels) {
    Json source = {
        {"S3DataType", "S3Prefix"}, {"S3Uri", uri}, {"S3DataDistributionType", "FullyReplicated"}};
    Json channel = {{"ChannelName", name}, {"InputMode", "File"}};
    channel["DataSource"] = {{"S3DataSource", source}};
    channels.push_back(channel);
  }
  out["InputDataConfig"] = channels;
  if (!s.checkpoint_uri.empty())
    out["CheckpointConfig"] = {{"S3Uri", s.checkpoint_uri}, {"LocalPath", s.checkpoint_local_path}};
  if (!j.failure_reason.empty()) out["FailureReason"] = j.failure_reason;
  if (j.started_ms) out["TrainingStartTime"] = Seconds(j.started_ms);
  Json transitions = Json::array();
  for (const auto& t : j.transitions) {
    Json x = {
        {"Status", t.status}, {"StartTime", Seconds(t.start_ms)}, {"StatusMessage", t.message}};
    if (t.end_ms) x["EndTime"] = Seconds(t.end_ms);
    transitions.push_back(x);
  }
  out["SecondaryStatusTransitions"] = transitions;
  Json finals = Json::array();
  for (const auto& [name, value] : j.final_metrics) {
    int64_t at = j.ended_ms;
    for (const auto& p : j.metrics)
      if (p.name == name) at = p.at_ms;
    finals.push_back({{"MetricName", name}, {"Value", value}, {"Timestamp", Seconds(at)}});
  }
  out["FinalMetricDataList"] = finals;
  if (j.started_ms && j.ended_ms) {
    const int64_t secs = (j.ended_ms - j.started_ms + 999) / 1000;
    out["TrainingTimeInSeconds"] = secs;
    out["BillableTimeInSeconds"] = secs;
  }
  if (!j.model_version.empty()) out["CairnModelVersion"] = j.model_version;
  // What CreateTrainingJob was given, echoed as SageMaker does (PyTorch.attach rebuilds the
  // estimator from it: role, image, instance type and count, output path, KMS key).
  const Json given =
      Json::parse(s.sagemaker_request.empty() ? "{}" : s.sagemaker_request, nullptr, false);
  if (given.is_object()) {
    for (const char* field :
         {"RoleArn", "OutputDataConfig", "ResourceConfig", "Environment", "VpcConfig",
          "DebugHookConfig", "DebugRuleConfigurations", "ProfilerConfig",
          "ProfilerRuleConfigurations", "EnableSageMakerMetricsTimeSeries",
          "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
          "EnableManagedSpotTraining", "RetryStrategy", "TensorBoardOutputConfig",
          "InputDataConfig", "StoppingCondition", "CheckpointConfig", "ExperimentConfig"})
      if (given.contains(field)) out[field] = given[field];
    const Json algo = given.value("AlgorithmSpecification", Json::object());
    for (const auto& [k, v] : algo.items()) out["AlgorithmSpecification"][k] = v;
  }
  // Fields SageMaker always returns (the SDK reads them without a default).
  if (!out["OutputDataConfig"].contains("KmsKeyId")) out["OutputDataConfig"]["KmsKeyId"] = "";
  if (!out["ResourceConfig"].contains("VolumeSizeInGB"))
    out["ResourceConfig"]["VolumeSizeInGB"] = 0;
  return out;
}

Result<Json> ListTrainingJobs(Context& c, const Json& in) {
  JobStore jobs(c.registry.store());
  CAIRN_ASSIGN_OR_RETURN(const auto names, jobs.ListNames());
  const std::string contains = in.value("NameContains", ""), status = in.value("StatusEquals", "");
  const double after = in.value("CreationTimeAfter", -1.0),
               before = in.value("CreationTimeBefore", 1e18);
  Json items = Json::array();
  for (const auto& n : names) {
    if (n.find(contains) == std::string::npos) continue;
    auto j = jobs.Load(n);
    if (!j.ok()) continue;  // a record being rewritten: it shows up next time
    const double created = Seconds(j->created_ms);
    if ((!status.empty() && TrainingJobStatusName(j->status) != status) || created <= after ||
        created >= before)
      continue;
    items.push_back(Summary(c, *j));
  }
  return SortedPage(std::move(items), in, "TrainingJobSummaries", "TrainingJobName",
                    "TrainingJobStatus", "Ascending");
}

Result<Json> StopTrainingJob(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "TrainingJobName"));
  CAIRN_ASSIGN_OR_RETURN(const TrainingJob j, LoadJob(c, name));
  if (IsTerminal(j.status))
    return Status::InvalidArgument("The training job " + j.name + " is " +
                                   TrainingJobStatusName(j.status) + " and cannot be stopped.");
  CAIRN_RETURN_IF_ERROR(JobStore(c.registry.store()).RequestStop(j.name));
  return Json::object();
}

}  // namespace cairn::api
