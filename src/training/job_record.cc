#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cairn/core/enum_names.h"
#include "cairn/registry/layout.h"
#include "cairn/training/job.h"

namespace cairn {

namespace {

using Json = nlohmann::ordered_json;

Json SpecToJson(const TrainingJobSpec& s) {
  Json defs = Json::array();
  for (const auto& d : s.metric_definitions) defs.push_back({{"Name", d.name}, {"Regex", d.regex}});
  return {{"entry_point", s.entry_point},
          {"source_dir", s.source_dir},
          {"algorithm", s.algorithm},
          {"python", s.python},
          {"base_job_name", s.base_job_name},
          {"hyperparameters", s.hyperparameters},
          {"channels", s.channels},
          {"environment", s.environment},
          {"instance_count", s.instance_count},
          {"output_path", s.output_path},
          {"compress_output", s.compress_output},
          {"checkpoint_uri", s.checkpoint_uri},
          {"checkpoint_local_path", s.checkpoint_local_path},
          {"max_run_seconds", s.max_run_seconds},
          {"metric_definitions", defs},
          {"model_group", s.model_group},
          {"sagemaker_request", s.sagemaker_request}};
}

TrainingJobSpec SpecFromJson(const Json& j) {
  TrainingJobSpec s;
  s.entry_point = j.value("entry_point", "");
  s.source_dir = j.value("source_dir", "");
  s.algorithm = j.value("algorithm", "");
  s.python = j.value("python", s.python);
  s.base_job_name = j.value("base_job_name", "");
  s.hyperparameters = j.value("hyperparameters", std::map<std::string, std::string>{});
  s.channels = j.value("channels", std::map<std::string, std::string>{});
  s.environment = j.value("environment", std::map<std::string, std::string>{});
  s.instance_count = j.value("instance_count", 1);
  s.output_path = j.value("output_path", "");
  s.compress_output = j.value("compress_output", true);
  s.checkpoint_uri = j.value("checkpoint_uri", "");
  s.checkpoint_local_path = j.value("checkpoint_local_path", "");
  s.max_run_seconds = j.value("max_run_seconds", int64_t{86400});
  for (const auto& d : j.value("metric_definitions", Json::array()))
    s.metric_definitions.push_back({d.value("Name", ""), d.value("Regex", "")});
  s.model_group = j.value("model_group", "");
  s.sagemaker_request = j.value("sagemaker_request", "");
  return s;
}

}  // namespace

std::string TrainingJobToJson(const TrainingJob& job) {
  Json transitions = Json::array();
  for (const auto& t : job.transitions) {
    transitions.push_back({{"status", t.status},
                           {"message", t.message},
                           {"start_ms", t.start_ms},
                           {"end_ms", t.end_ms}});
  }
  Json metrics = Json::array();
  for (const auto& m : job.metrics)
    metrics.push_back({{"name", m.name}, {"value", m.value}, {"at_ms", m.at_ms}});
  Json j = {{"format", "cairn.training-job/1"},
            {"name", job.name},
            {"arn", job.arn},
            {"status", TrainingJobStatusName(job.status)},
            {"secondary_status", job.secondary_status},
            {"failure_reason", job.failure_reason},
            {"created_ms", job.created_ms},
            {"started_ms", job.started_ms},
            {"ended_ms", job.ended_ms},
            {"heartbeat_ms", job.heartbeat_ms},
            {"transitions", transitions},
            {"final_metrics", job.final_metrics},
            {"metrics", metrics},
            {"model_version", job.model_version},
            {"model_data", job.model_data},
            {"output_data", job.output_data},
            {"lineage", job.lineage},
            {"ran_on", job.ran_on},
            {"runner", job.runner},
            {"exit_code", job.exit_code},
            {"scheduler_job", job.scheduler_job},
            {"spec", SpecToJson(job.spec)}};
  return j.dump(2) + "\n";
}

int64_t SecondsSinceHeartbeat(const TrainingJob& job, const Clock& clock) {
  if (IsTerminal(job.status) || job.heartbeat_ms == 0) return 0;
  return std::max<int64_t>(0, (clock.NowMs() - job.heartbeat_ms) / 1000);
}

namespace {
constexpr EnumNames<TrainingJobStatus, 5> kStatusNames({{
    {TrainingJobStatus::kInProgress, "InProgress"},
    {TrainingJobStatus::kCompleted, "Completed"},
    {TrainingJobStatus::kFailed, "Failed"},
    {TrainingJobStatus::kStopping, "Stopping"},
    {TrainingJobStatus::kStopped, "Stopped"},
}});
}  // namespace

const char* TrainingJobStatusName(TrainingJobStatus s) { return kStatusNames.Name(s); }

Result<TrainingJobStatus> ParseTrainingJobStatus(const std::string& name) {
  return kStatusNames.Parse(name, "training job status");
}

Result<TrainingJob> TrainingJobFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "cairn.training-job/1")
    return Status::Corrupt("not a cairn training job record");
  try {
    TrainingJob job;
    job.name = j.value("name", "");
    job.arn = j.value("arn", "");
    auto status = ParseTrainingJobStatus(j.value("status", ""));
    if (!status.ok()) return Status::Corrupt("training job record: " + status.status().message());
    job.status = *status;
    job.secondary_status = j.value("secondary_status", "");
    job.failure_reason = j.value("failure_reason", "");
    job.created_ms = j.value("created_ms", int64_t{0});
    job.started_ms = j.value("started_ms", int64_t{0});
    job.ended_ms = j.value("ended_ms", int64_t{0});
    job.heartbeat_ms = j.value("heartbeat_ms", int64_t{0});
    for (const auto& t : j.value("transitions", Json::array())) {
      job.transitions.push_back({t.value("status", ""), t.value("message", ""),
                                 t.value("start_ms", int64_t{0}), t.value("end_ms", int64_t{0})});
    }
    job.final_metrics = j.value("final_metrics", std::map<std::string, double>{});
    for (const auto& m : j.value("metrics", Json::array()))
      job.metrics.push_back(
          {m.value("name", ""), m.value("value", 0.0), m.value("at_ms", int64_t{0})});
    job.model_version = j.value("model_version", "");
    job.model_data = j.value("model_data", "");
    job.output_data = j.value("output_data", "");
    job.lineage = j.value("lineage", std::map<std::string, std::string>{});
    job.ran_on = j.value("ran_on", "");
    job.runner = j.value("runner", "");
    job.exit_code = j.value("exit_code", -1);
    job.scheduler_job = j.value("scheduler_job", "");
    job.spec = SpecFromJson(j.value("spec", Json::object()));
    return job;
  } catch (const std::exception& e) {
    return Status::Corrupt(std::string("bad training job record: ") + e.what());
  }
}

Status ValidateJobName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
  if (ok) return Status::OK();
  return Status::InvalidArgument("job name '" + name +
                                 "' must be 1-63 letters, digits and hyphens, starting with a "
                                 "letter or digit");
}

std::string JobNameFromBase(const std::string& base, int64_t now_ms) {
  std::time_t t = now_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[80];
  std::snprintf(stamp, sizeof(stamp), "-%04d-%02d-%02d-%02d-%02d-%02d-%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(now_ms % 1000));
  std::string b;
  for (char c : base) b += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  while (!b.empty() && b.front() == '-') b.erase(b.begin());
  if (b.empty()) b = "job";
  const size_t room = 63 - std::string(stamp).size();
  if (b.size() > room) b.resize(room);
  return b + stamp;
}

Status JobStore::Create(const TrainingJob& job) {
  CAIRN_RETURN_IF_ERROR(ValidateJobName(job.name));
  auto put =
      PutString(store_, layout::JobKey(job.name), TrainingJobToJson(job), PutOptions::IfAbsent());
  if (put.status().code() == Status::Code::kPreconditionFailed ||
      put.status().code() == Status::Code::kAlreadyExists) {
    return Status::AlreadyExists("training job name " + job.name +
                                 " is already used; job names are never reused");
  }
  return put.status();
}

Status JobStore::Save(const TrainingJob& job) {
  return PutString(store_, layout::JobKey(job.name), TrainingJobToJson(job)).status();
}

Result<TrainingJob> JobStore::Load(const std::string& name) {
  CAIRN_RETURN_IF_ERROR(ValidateJobName(name));
  auto text = GetString(store_, layout::JobKey(name));
  if (text.status().code() == Status::Code::kNotFound)
    return Status::NotFound("no training job named " + name);
  if (!text.ok()) return text.status();
  return TrainingJobFromJson(*text);
}

Result<std::vector<std::string>> JobStore::ListNames() {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_.List(layout::JobsPrefix()));
  std::vector<std::string> names;
  for (const auto& o : objects)
    if (auto name = layout::JsonNameAfter(o.key, layout::JobsPrefix())) names.push_back(*name);
  return names;
}

Status JobStore::AppendLog(const std::string& name, const std::string& host, int64_t seq,
                           const std::string& bytes) {
  return AppendLogPiece(store_, layout::JobLogsPrefix(name), host, seq, bytes);
}

Result<std::vector<LogPiece>> JobStore::ReadLogs(const std::string& name,
                                                 const std::map<std::string, int64_t>& after) {
  return ReadLogPieces(store_, layout::JobLogsPrefix(name), after);
}

Status JobStore::RequestStop(const std::string& name) {
  CAIRN_RETURN_IF_ERROR(Load(name).status());
  return PutString(store_, layout::JobStopKey(name), "stop\n").status();
}

Result<bool> JobStore::StopRequested(const std::string& name) {
  auto h = store_.Head(layout::JobStopKey(name));
  if (h.ok()) return true;
  if (h.status().code() == Status::Code::kNotFound) return false;
  return h.status();
}

}  // namespace cairn
