// A training job whose hosts Slurm runs: stage code and local channels in the store, submit one
// job of N nodes (each node runs `cairn train-node`, node.cc), follow it through scontrol and the
// hosts' log pieces, stop it with SIGTERM then scancel, and bring algo-1's model back.
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/registry/layout.h"
#include "cairn/storage/transfer.h"
#include "cairn/training/slurm.h"
#include "run_state.h"

namespace cairn {

namespace fs = std::filesystem;

namespace training {

namespace {

std::string StoreUriOf(const JobRun& run) {
  return run.options.slurm.store_uri.empty() ? run.registry.store().uri()
                                             : run.options.slurm.store_uri;
}

// One HostRun per host, its workspace under the job's folder here (only algo-1's model and
// output data come back to it).
void SetUpHosts(JobRun& run) {
  run.hosts.clear();
  for (int i = 1; i <= run.job.spec.instance_count; ++i) {
    HostRun h;
    h.contract.job_name = run.job.name;
    h.contract.host = "algo-" + std::to_string(i);
    h.contract.root = run.job_dir + "/" + h.contract.host;
    h.contract.entry_point = EntryName(run.job.spec);
    run.hosts.push_back(std::move(h));
  }
}

// Slurm's --time is in minutes: MaxRuntimeInSeconds rounded up, plus the stop grace, is a
// backstop; the runner itself stops the job at the exact second.
std::string TimeLimit(int64_t max_run_seconds, int grace_seconds) {
  const int64_t minutes = (max_run_seconds + grace_seconds + 59) / 60 + 1;
  return std::to_string(minutes);
}

std::string SlurmId(const TrainingJob& job) { return job.scheduler_job.substr(6); }

}  // namespace

Status StageAndSubmitSlurmJob(JobRun& run) {
  const SlurmOptions& so = run.options.slurm;
  TrainingJobSpec& spec = run.job.spec;
  if (so.cairn_program.empty() || so.node_work_root.empty())
    return Status::InvalidArgument("a Slurm job needs the cairn program and a node work folder");
  const std::string store_uri = StoreUriOf(run);
  const std::string inputs = JoinUri(store_uri, layout::JobInputsPrefix(run.job.name));
  run.Transition("Downloading", "Staging code and input data in the store for the Slurm nodes");
  if (spec.algorithm.empty()) {
    const std::string code_src = spec.source_dir.empty() ? spec.entry_point : spec.source_dir;
    if (!fs::exists(code_src))
      return Status::NotFound("entry point " + code_src + " does not exist");
    if (fs::is_directory(code_src)) {
      if (!fs::is_regular_file(code_src + "/" + EntryName(spec)))
        return Status::NotFound("entry point " + EntryName(spec) + " is not in " + code_src);
      CAIRN_RETURN_IF_ERROR(UploadTree(code_src, JoinUri(inputs, "code")).WithContext("code"));
    } else {
      CAIRN_RETURN_IF_ERROR(
          UploadFile(code_src, JoinUri(inputs, "code/" + EntryName(spec))).WithContext("code"));
    }
    run.job.lineage["entry_point"] = EntryName(spec);
  } else {
    run.job.lineage["algorithm"] = spec.algorithm;
  }
  // A local channel is a path on this machine: the nodes get it through the store.
  for (auto& [name, uri] : spec.channels) {
    run.job.lineage["channel." + name] = uri;
    if (SplitObjectUri(uri).remote()) continue;
    const std::string staged = JoinUri(inputs, "channels/" + name);
    CAIRN_RETURN_IF_ERROR(UploadTree(uri, staged).WithContext("channel " + name));
    uri = staged;
  }
  run.Save();

  std::error_code ec;
  fs::create_directories(run.job_dir, ec);
  const std::string node_dir = so.node_work_root;
  std::string script = "#!/bin/sh\n# cairn training job " + run.job.name +
                       ": one task per node, each node one host (algo-1..N) of the job\n";
  script += "mkdir -p " + ShellQuote(node_dir) + " && exec >" + ShellQuote(node_dir) + "/" +
            ShellQuote(run.job.name) + "-slurm-\"$SLURM_JOB_ID\".out 2>&1\n";
  script += "exec srun --kill-on-bad-exit=1 --ntasks-per-node=1 --nodes=" +
            std::to_string(spec.instance_count) + " " + ShellQuote(so.cairn_program) +
            " train-node " + ShellQuote(run.job.name) + " --store " + ShellQuote(store_uri) +
            " --work-dir " + ShellQuote(node_dir) + " --tick " +
            std::to_string(run.options.tick_seconds) + "\n";
  const std::string script_path = run.job_dir + "/slurm-batch.sh";
  CAIRN_RETURN_IF_ERROR(WriteFileAtomically(script_path, script));
  std::vector<std::string> args = {
      "--job-name=" + run.job.name,
      "--nodes=" + std::to_string(spec.instance_count),
      "--ntasks-per-node=1",
      "--no-requeue",
      "--time=" + TimeLimit(spec.max_run_seconds, run.options.stop_grace_seconds),
      "--output=/dev/null"};
  if (!so.partition.empty()) args.push_back("--partition=" + so.partition);
  args.insert(args.end(), so.sbatch_args.begin(), so.sbatch_args.end());
  SlurmClient slurm(so.bin_dir);
  CAIRN_ASSIGN_OR_RETURN(const std::string id, slurm.Submit(args, script_path));
  run.job.scheduler_job = "slurm:" + id;
  run.Transition("Starting", "Slurm job " + id + " submitted; waiting for " +
                                 std::to_string(spec.instance_count) + " node(s)");
  return Status::OK();
}

Status WatchSlurmJob(JobRun& run) {
  const TrainingJobSpec& spec = run.job.spec;
  SlurmClient slurm(run.options.slurm.bin_dir);
  const std::string id = SlurmId(run.job);
  SetUpHosts(run);
  std::error_code ec;
  fs::create_directories(run.job_dir + "/logs", ec);
  std::vector<std::ofstream> local_logs;
  std::map<std::string, size_t> host_index;
  for (size_t i = 0; i < run.hosts.size(); ++i) {
    local_logs.emplace_back(run.job_dir + "/logs/" + run.hosts[i].contract.host + ".log");
    host_index[run.hosts[i].contract.host] = i;
  }
  // Metrics come from the hosts' log pieces, stamped with when each reached the store, so a
  // runner that takes the job over re-reads them all and gets the same series.
  run.job.metrics.clear();
  run.job.final_metrics.clear();
  std::map<std::string, int64_t> after;
  auto read_logs = [&](bool final) {
    auto pieces = run.jobs.ReadLogs(run.job.name, after);
    if (!pieces.ok()) return;
    for (const auto& p : *pieces) {
      auto it = host_index.find(p.host);
      if (it == host_index.end()) continue;
      HostRun& h = run.hosts[it->second];
      TakeOutput(run, h, p.bytes, false, local_logs[it->second], p.at_ms);
      h.unsent_log.clear();  // already in the store
      after[p.host] = p.seq;
    }
    if (final) {
      for (size_t i = 0; i < run.hosts.size(); ++i)
        TakeOutput(run, run.hosts[i], "", true, local_logs[i]);
    }
  };

  const auto tick =
      std::chrono::milliseconds(static_cast<int64_t>(run.options.tick_seconds * 1000));
  const int64_t deadline_ms =
      (run.job.started_ms ? run.job.started_ms : run.job.created_ms) + spec.max_run_seconds * 1000;
  std::optional<std::chrono::steady_clock::time_point> cancel_at;
  SlurmJobInfo info;
  SlurmStateMeaning meaning;
  int query_failures = 0, ticks = 0;
  std::string lost;
  auto stop = [&](const std::string& reason) {
    if (cancel_at) return;
    run.stop_reason = reason;
    run.job.status = TrainingJobStatus::kStopping;
    run.Transition("Stopping", reason == "MaxRuntimeExceeded"
                                   ? "The job exceeded its maximum run time; stopping it"
                                   : "Stopping the training job");
    (void)slurm.Signal(id, "TERM");
    cancel_at =
        std::chrono::steady_clock::now() + std::chrono::seconds(run.options.stop_grace_seconds);
  };
  for (;;) {
    auto q = slurm.Query(id);
    if (q.ok()) {
      query_failures = 0;
      info = *q;
      meaning = MeaningOfSlurmState(info);
    } else if (q.status().code() == Status::Code::kNotFound || ++query_failures > 60) {
      lost = q.status().message();
      break;
    }
    if (q.ok() && !meaning.ended && meaning.secondary == "Training" &&
        run.job.secondary_status == "Starting") {
      run.job.started_ms = NowMs();
      run.Transition("Training", "Training in progress on Slurm nodes " + info.nodes);
    }
    read_logs(false);
    if (q.ok() && meaning.ended) break;
    if (run.options.abandon && run.options.abandon->load()) {
      run.abandoned = true;
      run.Save();
      return Status::OK();
    }
    if (run.options.interrupt && run.options.interrupt->load()) stop("Stopped");
    auto requested = run.jobs.StopRequested(run.job.name);
    if (requested.ok() && *requested) stop("Stopped");
    if (run.job.started_ms && NowMs() >= deadline_ms) stop("MaxRuntimeExceeded");
    if (cancel_at && std::chrono::steady_clock::now() >= *cancel_at) {
      (void)slurm.Cancel(id);
      cancel_at = std::chrono::steady_clock::now() + std::chrono::hours(1);
    }
    if (++ticks % 5 == 0) run.Save();  // heartbeat, metrics so far
    std::this_thread::sleep_for(tick);
  }
  read_logs(true);

  // What each host handed back.
  const std::string outputs = layout::JobOutputsPrefix(run.job.name);
  std::string host_failure;
  int reported = 0;
  run.job.exit_code = 0;
  for (auto& h : run.hosts) {
    auto text = GetString(run.registry.store(), outputs + "hosts/" + h.contract.host + ".json");
    nlohmann::json r = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!r.is_object()) {
      run.job.exit_code = std::max(run.job.exit_code, 1);
      continue;
    }
    ++reported;
    h.exit_code = r.value("exit_code", -1);
    run.job.exit_code = std::max(run.job.exit_code, *h.exit_code);
    if (host_failure.empty()) host_failure = r.value("failure", "");
    if (h.contract.host == "algo-1" && r.contains("lineage"))
      for (const auto& [k, v] : r["lineage"].items()) run.job.lineage[k] = v.get<std::string>();
  }
  const std::string where = "Slurm job " + id + " on " + info.nodes;
  if (!lost.empty()) {
    run.Fail("InternalServerError: lost track of " + where + ": " + lost);
  } else if (!run.stop_reason.empty() || meaning.status == TrainingJobStatus::kStopped) {
    if (run.stop_reason.empty()) run.stop_reason = "Stopped";  // scancel from outside cairn
  } else if (meaning.status == TrainingJobStatus::kFailed) {
    if (info.state == "FAILED" && !host_failure.empty()) {
      run.Fail(host_failure);
    } else {
      std::string reason = meaning.failure;
      if (info.state == "FAILED" && reported == 0)
        reason = "InternalServerError: the Slurm job failed before its hosts started";
      if (info.state == "NODE_FAIL" || info.state == "BOOT_FAIL") {
        auto down = slurm.DownNodes(info.nodes);
        if (down.ok() && !down->empty()) reason += ": " + *down;
      }
      reason += " (" + where + " ended " + info.state;
      if (!info.reason.empty() && info.reason != "None") reason += ", reason " + info.reason;
      reason += "; batch output: " + run.options.slurm.node_work_root + "/" + run.job.name +
                "-slurm-" + id + ".out on the first node)";
      run.Fail(reason);
    }
  } else if (!host_failure.empty()) {
    run.Fail(host_failure);
  }
  if (run.job.status == TrainingJobStatus::kFailed) return Status::OK();
  // algo-1's model and output data, for FinishJob to publish and upload.
  const HostContract& first = run.hosts.front().contract;
  const std::string store_uri = StoreUriOf(run);
  for (const auto& [from, to] : {std::pair{"model", first.Path("model")},
                                 std::pair{"output-data", first.Path("output/data")}}) {
    fs::create_directories(to, ec);
    auto got = DownloadTree(JoinUri(store_uri, outputs + from), to);
    if (!got.ok() && got.status().code() != Status::Code::kNotFound)
      return got.status().WithContext("algo-1's " + std::string(from));
  }
  if (run.stop_reason.empty() && meaning.status == TrainingJobStatus::kCompleted)
    run.job.exit_code = 0;
  return Status::OK();
}

}  // namespace training

Result<TrainingJob> ResumeSlurmTrainingJob(Registry& registry, const std::string& job_name,
                                           const RunnerOptions& options) {
  JobStore jobs(registry.store());
  CAIRN_ASSIGN_OR_RETURN(TrainingJob job, jobs.Load(job_name));
  if (job.scheduler_job.rfind("slurm:", 0) != 0 || IsTerminal(job.status))
    return Status::PreconditionFailed("training job " + job_name + " is not a running Slurm job");
  CAIRN_ASSIGN_OR_RETURN(training::MetricParser metrics,
                         training::MetricParser::Create(job.spec.metric_definitions));
  training::JobRun run{registry, JobStore(registry.store()), options, std::move(job), "",
                       {},       std::move(metrics),         ""};
  run.job.runner = options.runner;
  run.job_dir = (fs::absolute(options.work_root) / run.job.name).string();
  if (run.job.status == TrainingJobStatus::kStopping) run.stop_reason = "Stopped";
  Status st = WatchSlurmJob(run);
  if (run.abandoned) return run.job;
  if (!st.ok()) run.Fail("ClientError: " + st.message());
  FinishJob(run);
  return run.job;
}

}  // namespace cairn
