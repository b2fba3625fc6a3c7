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
  if (ro.scheduler == "slurm") {  // Slurm jobs outlive the server: it only lets go of them
    ro.interrupt = nullptr;
    ro.abandon = c.stop_jobs;
  }
  return ro;
}

// Watches a Slurm job again (its runner, a thread of a server now gone, left it running).
void ResumeTrainingJob(Context& c, const std::string& name) {
  Registry* registry = &c.registry;
  Gate* gate = c.training_jobs;
  if (!gate->Enter()) return;
  RunnerOptions ro = TrainingRunnerOptions(c);
  std::thread([registry, gate, name, ro] {
    auto job = ResumeSlurmTrainingJob(*registry, name, ro);
    if (!job.ok())
      std::fprintf(stderr, "cairn server: cannot take training job %s over: %s\n", name.c_str(),
                   job.status().ToString().c_str());
    gate->Leave();
  }).detach();
}

Status FailOrphanedTrainingJobs(Context& c) {
  JobStore jobs(c.registry.store());
  CAIRN_ASSIGN_OR_RETURN(const auto names, jobs.ListNames());
  const std::string me = "cairn-server:" + c.options.work_root;
  for (const auto& n : names) {
    auto j = jobs.Load(n);
    if (!j.ok() || j->runner != me || IsTerminal(j->status)) continue;
    if (j->scheduler_job.rfind("slurm:", 0) == 0) {  // still running on the cluster
      ResumeTrainingJob(c, n);
      continue;
    }
    // Its runner was a thread of this server's previous process, which is gone.
    const int64_t now = NowMs();
    if (!j->transitions.empty() && j->transitions.back().end_ms == 0)
      j->transitions.back().end_ms = now;
    j->transitions.push_back({"Failed", "the server restarted while the job ran", now, now});
    j->status = TrainingJobStatus::kFailed;
    j->secondary_status = "Failed";
    j->failure_reason =
        "InternalServerError: cairn server restarted while the job ran; start it again (with the "
        "same checkpoint URI it resumes)";
    j->ended_ms = now;
    if (Status st = jobs.Save(*j); !st.ok())  // the others are still looked at
      std::fprintf(stderr, "cairn server: cannot mark training job %s Failed: %s\n", n.c_str(),
                   st.ToString().c_str());
  }
  return Status::OK();
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
  RunnerOptions ro = TrainingRunnerOptions(c);
  ro.on_status = [created, told](const TrainingJob&) {
    if (!told->exchange(true)) created->set_value(Status::OK());
  };
  Registry* registry = &c.registry;
  Gate* gate = c.training_jobs;
  if (!gate->Enter()) return Status::Internal("cairn server is stopping");
  std::thread([registry, gate, spec, ro, created, told] {
    auto job = RunTrainingJob(*registry, spec, ro);
    if (!job.ok() && !told->exchange(true)) created->set_value(job.status());
    gate->Leave();
  }).detach();
  CAIRN_RETURN_IF_ERROR(created->get_future().get());  // kAlreadyExists: ResourceInUse
  return Json{{"TrainingJobArn", c.Arn("training-job", spec.job_name)}};
}

}  // namespace cairn::api
