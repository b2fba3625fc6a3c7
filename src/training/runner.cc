#include "cairn/training/runner.h"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "cairn/net/port.h"
#include "cairn/storage/transfer.h"
#include "run_state.h"

namespace cairn {

namespace fs = std::filesystem;
using namespace training;

namespace training {

void JobRun::Save() {
  job.heartbeat_ms = options.clock->NowMs();
  Status st = jobs.Save(job);
  if (!st.ok() && options.on_log)
    options.on_log("cairn", "cannot save the job record: " + st.ToString());
}

void JobRun::Transition(const std::string& status, const std::string& message) {
  const int64_t now = NowMs();
  if (!job.transitions.empty() && job.transitions.back().end_ms == 0)
    job.transitions.back().end_ms = now;
  job.transitions.push_back(StatusTransition{status, message, now, 0});
  job.secondary_status = status;
  Save();
  if (options.on_status) options.on_status(job);
}

void JobRun::Fail(const std::string& reason) {
  job.status = TrainingJobStatus::kFailed;
  job.failure_reason = reason.substr(0, 1024);
}

}  // namespace training

namespace {

bool ValidChannelName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

std::string HostName() {
  char h[256] = {};
  ::gethostname(h, sizeof(h) - 1);
  const passwd* pw = ::getpwuid(::getuid());
  return std::string(pw ? pw->pw_name : "unknown") + "@" + h;
}

}  // namespace

Status ValidateTrainingJobSpec(const TrainingJobSpec& spec) {
  if (spec.entry_point.empty() == spec.algorithm.empty())
    return Status::InvalidArgument("give either an entry point or a built-in --algorithm");
  if (!spec.algorithm.empty() && spec.algorithm != "linear-learner")
    return Status::InvalidArgument("unknown built-in algorithm '" + spec.algorithm +
                                   "' (there is: linear-learner)");
  if (!spec.job_name.empty()) CAIRN_RETURN_IF_ERROR(ValidateJobName(spec.job_name));
  if (spec.instance_count < 1 || spec.instance_count > 64)
    return Status::InvalidArgument("--instance-count must be 1..64");
  if (spec.max_run_seconds < 1)
    return Status::InvalidArgument("--max-run must be at least 1 second");
  for (const auto& [name, uri] : spec.channels) {
    if (!ValidChannelName(name))
      return Status::InvalidArgument("channel name '" + name + "' must be 1-64 of [A-Za-z0-9._-]");
    if (uri.empty()) return Status::InvalidArgument("channel " + name + " has no URI");
  }
  if (spec.hyperparameters.size() > 100)
    return Status::InvalidArgument("at most 100 hyperparameters (SageMaker's limit)");
  for (const auto& [k, v] : spec.hyperparameters) {
    if (k.empty() || k.size() > 256 || v.size() > 2500)
      return Status::InvalidArgument("hyperparameter '" + k.substr(0, 40) +
                                     "': keys are 1-256 characters and values at most 2500");
  }
  if (!spec.model_group.empty())
    CAIRN_RETURN_IF_ERROR(ValidateName("model group", spec.model_group));
  return MetricParser::Create(spec.metric_definitions).status();
}

namespace training {

Status PrepareWorkspaces(JobRun& run) {
  const TrainingJobSpec& spec = run.job.spec;
  run.Transition("Downloading", "Downloading input data and code");
  std::vector<std::string> hosts;
  for (int i = 1; i <= spec.instance_count; ++i) hosts.push_back("algo-" + std::to_string(i));
  const int port = net::FreeLocalPort();
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  // The program: a built-in algorithm, or the entry point inside the source folder (or alone).
  const std::string entry_name = EntryName(spec);
  if (spec.algorithm.empty()) {
    const std::string code_src = spec.source_dir.empty() ? spec.entry_point : spec.source_dir;
    if (!fs::exists(code_src))
      return Status::NotFound("entry point " + code_src + " does not exist");
  }
  for (const auto& host : hosts) {
    HostRun h;
    HostContract& c = h.contract;
    c.job_name = run.job.name;
    c.root = run.job_dir + "/" + host;
    c.host = host;
    c.hosts = hosts;
    c.hyperparameters = spec.hyperparameters;
    for (const auto& [name, uri] : spec.channels) c.channels.push_back(name);
    c.entry_point = entry_name;
    c.num_cpus = static_cast<int>(cpus);
    c.master_port = port;
    if (!spec.checkpoint_uri.empty()) {
      c.checkpoint_dir = spec.checkpoint_local_path.empty() ? c.Path("checkpoints")
                         : hosts.size() == 1                ? spec.checkpoint_local_path
                                             : spec.checkpoint_local_path + "/" + host;
    }
    for (const char* d :
         {"input/config", "model", "output/data", "output/intermediate", "code", "checkpoints"}) {
      std::error_code ec;
      fs::create_directories(c.Path(d), ec);
      if (ec) return Status::FromErrno("create " + c.Path(d), ec.value());
    }
    CAIRN_RETURN_IF_ERROR(WriteConfigFiles(c));
    // Code: the source folder (or the lone entry point) copied into code/.
    if (spec.algorithm.empty()) {
      const std::string code_src = spec.source_dir.empty() ? spec.entry_point : spec.source_dir;
      CAIRN_RETURN_IF_ERROR(DownloadTree(code_src, c.Path("code")).status().WithContext("code"));
      if (!fs::is_regular_file(c.Path("code/" + entry_name)))
        return Status::NotFound("entry point " + entry_name + " is not in " + code_src);
    }
    // Channels: fetched once, then copied to the other hosts.
    for (const auto& [name, uri] : spec.channels) {
      const std::string from =
          host == hosts.front() ? uri : run.hosts.front().contract.Path("input/data/" + name);
      auto files = DownloadTree(from, c.Path("input/data/" + name));
      if (!files.ok()) return files.status().WithContext("channel " + name);
      if (files->empty() && host == hosts.front())
        return Status::NotFound("channel " + name + ": nothing at " + uri);
    }
    // Checkpoints left by an earlier run come down before the program starts.
    if (!spec.checkpoint_uri.empty()) {
      auto restored = DownloadTree(spec.checkpoint_uri, c.checkpoint_dir);
      if (!restored.ok() && restored.status().code() != Status::Code::kNotFound)
        return restored.status().WithContext("checkpoints");
      CAIRN_ASSIGN_OR_RETURN(h.mirror,
                             CheckpointMirror::Start(c.checkpoint_dir, spec.checkpoint_uri));
    }
    run.hosts.push_back(std::move(h));
  }
  // Lineage: what went in.
  const HostContract& first = run.hosts.front().contract;
  if (spec.algorithm.empty()) {
    CAIRN_ASSIGN_OR_RETURN(run.job.lineage["code_sha256"], TreeDigest(first.Path("code")));
    run.job.lineage["entry_point"] = entry_name;
  } else {
    run.job.lineage["algorithm"] = spec.algorithm;
  }
  for (const auto& [name, uri] : spec.channels) {
    run.job.lineage["channel." + name] = uri;
    CAIRN_ASSIGN_OR_RETURN(run.job.lineage["channel." + name + ".sha256"],
                           TreeDigest(first.Path("input/data/" + name)));
  }
  return Status::OK();
}

}  // namespace training

Result<TrainingJob> RunTrainingJob(Registry& registry, const TrainingJobSpec& spec_in,
                                   const RunnerOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateTrainingJobSpec(spec_in));
  if (options.scheduler != "local" && options.scheduler != "slurm")
    return Status::InvalidArgument("unknown scheduler '" + options.scheduler +
                                   "' (there are: local, slurm)");
  TrainingJobSpec spec = spec_in;
  if (spec.base_job_name.empty()) {
    spec.base_job_name =
        spec.algorithm.empty() ? fs::path(spec.entry_point).stem().string() : spec.algorithm;
  }
  if (spec.algorithm == "linear-learner") {  // built-in algorithms come with their metrics
    for (const char* name : {"train_loss", "validation_loss"}) {
      bool defined = false;
      for (const auto& d : spec.metric_definitions) defined = defined || d.name == name;
      if (!defined) {
        spec.metric_definitions.push_back({name, std::string(name) + "=([-+0-9.eE]+|nan|inf)"});
      }
    }
  }
  CAIRN_ASSIGN_OR_RETURN(MetricParser metrics, MetricParser::Create(spec.metric_definitions));
  JobRun run{registry, JobStore(registry.store()), options, {}, "", {}, std::move(metrics), ""};
  TrainingJob& job = run.job;
  job.created_ms = NowMs();
  job.name =
      spec.job_name.empty() ? JobNameFromBase(spec.base_job_name, job.created_ms) : spec.job_name;
  job.arn = "arn:aws:sagemaker:local:000000000000:training-job/" + job.name;
  job.ran_on = HostName();
  job.runner = options.runner;
  if (spec.model_group.empty()) {
    std::string g;
    for (char c : spec.base_job_name)
      g +=
          std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '-';
    spec.model_group = g.empty() ? "model" : g.substr(0, 63);
  }
  job.spec = spec;
  job.transitions.push_back(
      StatusTransition{"Starting", "Preparing the instances for training", job.created_ms, 0});
  CAIRN_RETURN_IF_ERROR(run.jobs.Create(job));
  if (options.on_status) options.on_status(job);
  run.job_dir = (fs::absolute(options.work_root) / job.name).string();

  Status st;
  if (options.scheduler == "slurm") {
    st = StageAndSubmitSlurmJob(run);
    if (st.ok()) st = WatchSlurmJob(run);
    if (run.abandoned) return run.job;
  } else {
    st = PrepareWorkspaces(run);
    if (st.ok()) st = RunPrograms(run);
  }
  if (!st.ok()) run.Fail("ClientError: " + st.message());
  FinishJob(run);
  return run.job;
}

}  // namespace cairn
