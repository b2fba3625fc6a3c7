// The Training phase: start one program per host, stream and keep their output, parse metrics,
// mirror checkpoints, and stop the programs on request or when they run past --max-run.
#include <poll.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "run_state.h"

namespace cairn::training {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxPointsPerMetric = 10000;

// Hands complete lines to the log callback and the metric parser; keeps them for the store.
}  // namespace

void TakeOutput(JobRun& run, HostRun& h, const std::string& bytes, bool final,
                std::ofstream& local_log, int64_t at_ms) {
  h.partial_line += bytes;
  h.unsent_log += bytes;
  local_log << bytes;
  size_t start = 0;
  for (;;) {
    size_t nl = h.partial_line.find('\n', start);
    const bool force = nl == std::string::npos && start < h.partial_line.size() &&
                       (final || h.partial_line.size() - start > 65536);
    if (nl == std::string::npos && !force) break;
    const size_t end = nl == std::string::npos ? h.partial_line.size() : nl;
    std::string line = h.partial_line.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (run.options.on_log) run.options.on_log(h.contract.host, line);
    std::vector<MetricPoint> found;
    run.metrics.Parse(line, at_ms ? at_ms : NowMs(), &found);
    for (auto& m : found) {
      run.job.final_metrics[m.name] = m.value;
      size_t n = 0;
      for (const auto& p : run.job.metrics) n += p.name == m.name;
      if (n < kMaxPointsPerMetric) run.job.metrics.push_back(std::move(m));
    }
    start = end + (nl == std::string::npos ? 0 : 1);
    if (nl == std::string::npos) break;
  }
  h.partial_line.erase(0, start);
}

namespace {

void FlushLogs(JobRun& run) {
  for (auto& h : run.hosts) {
    if (h.unsent_log.empty()) continue;
    Status st = run.jobs.AppendLog(run.job.name, h.contract.host, ++h.log_seq, h.unsent_log);
    if (st.ok()) {
      h.unsent_log.clear();
    } else {
      --h.log_seq;  // kept; tried again at the next tick
    }
  }
}

void SyncCheckpoints(JobRun& run) {
  for (auto& h : run.hosts) {
    if (!h.mirror) continue;
    Status st = h.mirror->Flush();
    if (!st.ok() && run.options.on_log) run.options.on_log("cairn", st.ToString());
  }
}

}  // namespace

std::vector<std::string> ProgramArgv(const TrainingJobSpec& spec, const HostContract& c,
                                     const std::string& builtin_program) {
  std::vector<std::string> argv;
  const std::string entry = c.Path("code/" + c.entry_point);
  if (!spec.algorithm.empty()) {
    argv = {builtin_program, spec.algorithm};
  } else if (fs::path(entry).extension() == ".py") {
    argv = {spec.python, entry};
  } else {
    argv = {entry};
  }
  for (auto& a : HyperparameterArgs(spec.hyperparameters)) argv.push_back(std::move(a));
  return argv;
}

std::string EntryName(const TrainingJobSpec& spec) {
  if (!spec.algorithm.empty()) return spec.algorithm;
  return spec.source_dir.empty() ? fs::path(spec.entry_point).filename().string()
                                 : spec.entry_point;
}

Status RunPrograms(JobRun& run) {
  const TrainingJobSpec& spec = run.job.spec;
  std::error_code ec;
  fs::create_directories(run.job_dir + "/logs", ec);
  std::vector<std::ofstream> local_logs;
  for (auto& h : run.hosts) {
    local_logs.emplace_back(run.job_dir + "/logs/" + h.contract.host + ".log", std::ios::app);
  }
  run.Transition("Training", "Training in progress");
  run.job.started_ms = NowMs();
  for (auto& h : run.hosts) {
    auto env = spec.environment;
    for (auto& [k, v] : ContractEnvironment(h.contract)) env[k] = v;
    SubprocessOptions po;
    po.argv = ProgramArgv(spec, h.contract, run.options.builtin_program);
    po.env = std::move(env);
    po.cwd = h.contract.Path("code");
    po.stdout_mode = SubprocessOptions::Stdio::kPipe;  // stdout and stderr: the job's log
    po.stderr_to_stdout = true;
    CAIRN_ASSIGN_OR_RETURN(h.process, Subprocess::Start(po));
  }
  const auto tick =
      std::chrono::milliseconds(static_cast<int64_t>(run.options.tick_seconds * 1000));
  auto next_tick = std::chrono::steady_clock::now() + tick;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(spec.max_run_seconds);
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  int ticks = 0;

  auto stop = [&](const std::string& reason, int grace_seconds) {
    if (kill_at) return;
    if (!reason.empty()) {
      run.stop_reason = reason;
      run.job.status = TrainingJobStatus::kStopping;
      run.Transition("Stopping", reason == "MaxRuntimeExceeded"
                                     ? "The job exceeded its maximum run time; stopping it"
                                     : "Stopping the training job");
    }
    for (auto& h : run.hosts) h.process->Signal(SIGTERM);
    kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds);
  };

  for (;;) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t i = 0; i < run.hosts.size(); ++i) {
      if (run.hosts[i].process->stdout_fd() >= 0) {
        fds.push_back(pollfd{run.hosts[i].process->stdout_fd(), POLLIN, 0});
        which.push_back(i);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now).count();
    // Output wakes poll() at once; a program that closed its output but has not been reaped
    // yet is looked at again soon.
    wait = std::clamp<int64_t>(wait, 0, fds.empty() ? 5 : 200);
    ::poll(fds.data(), fds.size(), static_cast<int>(wait));
    bool all_done = true;
    for (size_t i = 0; i < run.hosts.size(); ++i) {
      HostRun& h = run.hosts[i];
      std::string bytes;
      const bool open = h.process->ReadOutput(&bytes);
      if (!bytes.empty() || !open) TakeOutput(run, h, bytes, !open, local_logs[i]);
      if (!h.exit_code) h.exit_code = h.process->Poll();
      if (h.exit_code && *h.exit_code != 0 && run.stop_reason.empty()) {
        stop("", 10);  // one host failed: the others are stopped, as a cluster would be
      }
      all_done = all_done && h.exit_code && !open;
    }
    if (all_done) break;
    if (kill_at && std::chrono::steady_clock::now() >= *kill_at) {
      for (auto& h : run.hosts) h.process->Signal(SIGKILL);
    }
    if (std::chrono::steady_clock::now() < next_tick) continue;
    next_tick += tick;
    ++ticks;
    FlushLogs(run);
    SyncCheckpoints(run);
    if (std::chrono::steady_clock::now() >= deadline)
      stop("MaxRuntimeExceeded", run.options.stop_grace_seconds);
    if (run.options.interrupt && run.options.interrupt->load())
      stop("Stopped", run.options.stop_grace_seconds);
    auto requested = run.jobs.StopRequested(run.job.name);
    if (requested.ok() && *requested) stop("Stopped", run.options.stop_grace_seconds);
    if (ticks % 5 == 0) run.Save();  // heartbeat, metrics so far
  }
  FlushLogs(run);
  SyncCheckpoints(run);
  for (auto& h : run.hosts) {
    run.job.exit_code = std::max(run.job.exit_code, *h.exit_code);
  }
  return Status::OK();
}

}  // namespace cairn::training
