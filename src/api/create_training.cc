// CreateTrainingJob: a SageMaker training request run by cairn's training runner in the server.
// A PyTorch image runs the `sagemaker_program` script from the `sagemaker_submit_directory`
// archive (as the SageMaker SDK uploads it); a linear-learner image runs the built-in estimator.
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "api.h"
#include "cairn/core/clock.h"
#include "cairn/registry/artifacts.h"
#include "cairn/storage/transfer.h"
#include "cairn/training/runner.h"
#include "leases.h"

namespace cairn::api {

namespace fs = std::filesystem;

namespace {

// The SDK JSON-encodes hyperparameter values: "\"train.py\"" -> "train.py".
std::string Unquote(const std::string& v) {
  Json j = Json::parse(v, nullptr, false);
  return j.is_string() ? j.get<std::string>() : v;
}

}  // namespace

Status FetchSource(const std::string& uri, const std::string& dir) {
  const bool archive = uri.size() > 7 && (uri.compare(uri.size() - 7, 7, ".tar.gz") == 0 ||
                                          uri.compare(uri.size() - 4, 4, ".tgz") == 0);
  if (!archive) return DownloadTree(uri, dir).status();
  CAIRN_ASSIGN_OR_RETURN(auto files, DownloadTree(uri, dir + ".archive"));
  if (files.size() != 1) return Status::NotFound("no source archive at " + uri);
  Status st = ExtractTar(dir + ".archive/" + files.front(), dir);
  std::error_code ec;
  fs::remove_all(dir + ".archive", ec);
  return st;
}

RunnerOptions TrainingRunnerOptions(const Context& c) {
  RunnerOptions ro;
  ro.work_root = c.options.work_root + "/jobs";
  ro.builtin_program = c.options.builtin_program;
  ro.runner = "cairn-server:" + c.options.work_root;
  ro.interrupt = c.stop_jobs;  // a server shutdown stops a local job (SIGTERM, then SIGKILL)
  ro.scheduler = c.options.scheduler;
  ro.slurm.store_uri = c.registry.store().uri();
  ro.slurm.cairn_program = c.options.cairn_program;
  ro.slurm.partition = c.options.slurm_partition;
  ro.slurm.node_work_root = c.options.node_work_root;
  return ro;
}

namespace {

// Registers the job as run by this process; its flag, set to let go of it (Slurm jobs only).
// Null when this process already runs a job of that name.
std::shared_ptr<std::atomic<bool>> Watch(Context& c, const std::string& name) {
  auto flag = std::make_shared<std::atomic<bool>>(false);
  if (!c.watchers) return flag;
  std::lock_guard<std::mutex> lock(c.watchers->mu);
  if (!c.watchers->flags.emplace(name, flag).second) return nullptr;
  return flag;
}

// The job's runner has returned: this server no longer runs it. Its lease is released unless it
// was let go of (another server holds it, or it must expire for one to take over).
void Unwatch(Context* c, const std::string& name, const std::shared_ptr<std::atomic<bool>>& flag) {
  if (c->watchers) {
    std::lock_guard<std::mutex> lock(c->watchers->mu);
    auto it = c->watchers->flags.find(name);
    if (it != c->watchers->flags.end() && it->second == flag) c->watchers->flags.erase(it);
  }
  if (c->leases && !flag->load()) c->leases->Release("training-job", name);
}

}  // namespace

bool RunsTrainingJob(Context& c, const std::string& name) {
  if (!c.watchers) return false;
  std::lock_guard<std::mutex> lock(c.watchers->mu);
  return c.watchers->flags.count(name) > 0;
}

void ResumeTrainingJob(Context& c, const std::string& name) {
  Gate* gate = c.training_jobs;
  if (!gate->Enter()) return;
  RunnerOptions ro = TrainingRunnerOptions(c);
  auto flag = Watch(c, name);
  if (!flag) {
    gate->Leave();
    return;
  }
  ro.interrupt = nullptr;  // a Slurm job outlives the server: a shutdown only lets go of it
  ro.abandon = flag.get();
  Context* ctx = &c;
  std::thread([ctx, gate, name, ro, flag] {
    auto job = ResumeSlurmTrainingJob(ctx->registry, name, ro);
    if (!job.ok())
      std::fprintf(stderr, "cairn server: cannot take training job %s over: %s\n", name.c_str(),
                   job.status().ToString().c_str());
    Unwatch(ctx, name, flag);
    gate->Leave();
  }).detach();
}

Status FailOrphanedTrainingJob(Context& c, const std::string& name) {
  JobStore jobs(c.registry.store());
  CAIRN_ASSIGN_OR_RETURN(TrainingJob j, jobs.Load(name));
  if (IsTerminal(j.status)) return Status::OK();
  // Its runner was a thread of a server process that is gone, and its processes with it.
  const int64_t now = NowMs();
  if (!j.transitions.empty() && j.transitions.back().end_ms == 0) j.transitions.back().end_ms = now;
  j.transitions.push_back({"Failed", "the server running it stopped", now, now});
  j.status = TrainingJobStatus::kFailed;
  j.secondary_status = "Failed";
  j.failure_reason =
      "InternalServerError: the cairn server running the job (" + j.runner +
      ") stopped or restarted while it ran; start it again (with the same checkpoint URI it "
      "resumes)";
  j.ended_ms = now;
  return jobs.Save(j);
}

Result<Json> CreateTrainingJob(Context& c, const Json& in) {
  TrainingJobSpec spec;
  CAIRN_ASSIGN_OR_RETURN(spec.job_name, RequiredString(in, "TrainingJobName"));
  CAIRN_RETURN_IF_ERROR(RequiredString(in, "RoleArn", 2048).status());
  const Json output = in.value("OutputDataConfig", Json::object());
  CAIRN_ASSIGN_OR_RETURN(spec.output_path, RequiredString(output, "S3OutputPath", 1024));
  spec.compress_output = output.value("CompressionType", "GZIP") != "NONE";
  const Json algo = in.value("AlgorithmSpecification", Json::object());
  const std::string image = algo.value("TrainingImage", algo.value("AlgorithmName", ""));
  std::string runtime;
  for (const auto& [key, how] : c.options.images)
    if (image.find(key) != std::string::npos) runtime = how;
  if (runtime.empty())
    return Status::InvalidArgument(
        "TrainingImage '" + image +
        "' maps to no cairn runtime (configured: images containing pytorch or linear-learner)");
  const Json defs = algo.value("MetricDefinitions", Json::array());
  for (const auto& d : defs)
    spec.metric_definitions.push_back({d.value("Name", ""), d.value("Regex", "")});
  const Json hps = in.value("HyperParameters", Json::object());
  for (const auto& [k, v] : hps.items()) spec.hyperparameters[k] = v.get<std::string>();
  const Json env = in.value("Environment", Json::object());
  for (const auto& [k, v] : env.items()) spec.environment[k] = v.get<std::string>();
  const Json inputs = in.value("InputDataConfig", Json::array());
  for (const auto& ch : inputs) {
    CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(ch, "ChannelName", 64));
    CAIRN_ASSIGN_OR_RETURN(
        spec.channels[name],
        RequiredString(ch.value("DataSource", Json::object()).value("S3DataSource", Json::object()),
                       "S3Uri", 1024));
  }
  const Json ckpt = in.value("CheckpointConfig", Json::object());
  spec.checkpoint_uri = ckpt.value("S3Uri", "");
  spec.checkpoint_local_path = ckpt.value("LocalPath", "");
  if (spec.checkpoint_local_path == "/opt/ml/checkpoints" ||
      spec.checkpoint_local_path == "/opt/ml/checkpoints/")
    spec.checkpoint_local_path.clear();  // the workspace's own checkpoints/
  spec.max_run_seconds =
      in.value("StoppingCondition", Json::object()).value("MaxRuntimeInSeconds", int64_t{86400});
  spec.instance_count = in.value("ResourceConfig", Json::object()).value("InstanceCount", 1);
  spec.base_job_name = spec.job_name;
  spec.model_group = in.value("Environment", Json::object()).value("CAIRN_MODEL_GROUP", "");
  {
    Json echo = in;
    echo.erase("HyperParameters");  // kept in the spec already
    echo.erase("Tags");             // kept with the tags
    spec.sagemaker_request = echo.dump();
  }
  const std::string code_dir = c.options.work_root + "/code/" + spec.job_name;
  if (runtime == "script") {
    auto program = spec.hyperparameters.find("sagemaker_program");
    auto submit = spec.hyperparameters.find("sagemaker_submit_directory");
    if (program == spec.hyperparameters.end() || submit == spec.hyperparameters.end())
      return Status::InvalidArgument(
          "a script image needs the sagemaker_program and sagemaker_submit_directory "
          "hyperparameters");
    spec.entry_point = Unquote(program->second);
    spec.source_dir = code_dir;
    if (spec.model_group.empty()) spec.model_group = fs::path(spec.entry_point).stem().string();
  } else {
    spec.algorithm = runtime;
  }
  if (Status st = ValidateTrainingJobSpec(spec); !st.ok())
    return Status::InvalidArgument(st.message());
  // A cheap early answer; the runner's create-if-absent write is what decides a race.
  if (JobStore(c.registry.store()).Load(spec.job_name).ok())
    return Status::AlreadyExists(
        "Training job names must be unique within an AWS account and region, and a training job "
        "with this name already exists (" +
        c.Arn("training-job", spec.job_name) + ")");
  if (runtime == "script") {
    std::error_code ec;
    fs::remove_all(code_dir, ec);
    if (Status st =
            FetchSource(Unquote(spec.hyperparameters["sagemaker_submit_directory"]), code_dir);
        !st.ok())
      return Status::InvalidArgument("sagemaker_submit_directory: " + st.message());
  }
  // The runner takes the name (create-if-absent) before anything else; answer once it has.
  auto created = std::make_shared<std::promise<Status>>();
  auto told = std::make_shared<std::atomic<bool>>(false);
  auto flag = Watch(c, spec.job_name);
  if (!flag) return Status::AlreadyExists("a training job named " + spec.job_name + " is running");
  if (c.leases) {  // this server runs it: its lease first
    auto mine = c.leases->Acquire("training-job", spec.job_name);
    if (!mine.ok() || !*mine) {
      Unwatch(&c, spec.job_name, flag);
      if (!mine.ok()) return mine.status();
      return Status::AlreadyExists("a training job named " + spec.job_name +
                                   " is run by another server");
    }
  }
  RunnerOptions ro = TrainingRunnerOptions(c);
  if (ro.scheduler == "slurm") {  // Slurm jobs outlive the server: it only lets go of them
    ro.interrupt = nullptr;
    ro.abandon = flag.get();
  }
  ro.on_status = [created, told](const TrainingJob&) {
    if (!told->exchange(true)) created->set_value(Status::OK());
  };
  Gate* gate = c.training_jobs;
  if (!gate->Enter()) {
    Unwatch(&c, spec.job_name, flag);
    return Status::Internal("cairn server is stopping");
  }
  Context* ctx = &c;
  std::thread([ctx, gate, spec, ro, created, told, flag] {
    auto job = RunTrainingJob(ctx->registry, spec, ro);
    if (!job.ok() && !told->exchange(true)) created->set_value(job.status());
    Unwatch(ctx, spec.job_name, flag);
    gate->Leave();
  }).detach();
  CAIRN_RETURN_IF_ERROR(created->get_future().get());  // kAlreadyExists: ResourceInUse
  return Json{{"TrainingJobArn", c.Arn("training-job", spec.job_name)}};
}

}  // namespace cairn::api
