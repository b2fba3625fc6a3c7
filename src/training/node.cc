// `cairn train-node`: one host's share of a job that a cluster scheduler runs (runner.h).
#include <poll.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/core/subprocess.h"
#include "cairn/registry/layout.h"
#include "cairn/storage/transfer.h"
#include "cairn/training/runner.h"
#include "run_state.h"

namespace cairn {

namespace fs = std::filesystem;
using training::HostContract;

namespace {

// What a host hands back to the runner: its exit, why it failed, and (algo-1) the lineage.
struct HostResult {
  int exit_code = -1;
  std::string failure;
  std::map<std::string, std::string> lineage;
};

Status SaveResult(ObjectStore& store, const std::string& job, const std::string& host,
                  const HostResult& r) {
  nlohmann::json j = {{"exit_code", r.exit_code}, {"failure", r.failure}, {"lineage", r.lineage}};
  return PutString(store, layout::JobOutputsPrefix(job) + "hosts/" + host + ".json", j.dump())
      .status();
}

std::string LastLines(const std::string& text, size_t n) {
  std::string s = text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t pos = s.size();
  for (size_t i = 0; i < n && pos != std::string::npos && pos > 0; ++i)
    pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

// Lays out this host's /opt/ml and fetches what it needs; fills the lineage on algo-1.
Status Prepare(const TrainingJob& job, const NodeOptions& o, HostContract& c, HostResult& result,
               std::unique_ptr<training::CheckpointMirror>* mirror) {
  const TrainingJobSpec& spec = job.spec;
  for (const char* d :
       {"input/config", "model", "output/data", "output/intermediate", "code", "checkpoints"}) {
    std::error_code ec;
    fs::create_directories(c.Path(d), ec);
    if (ec) return Status::FromErrno("create " + c.Path(d), ec.value());
  }
  CAIRN_RETURN_IF_ERROR(training::WriteConfigFiles(c));
  const std::string inputs = JoinUri(o.store_uri, layout::JobInputsPrefix(job.name));
  if (spec.algorithm.empty()) {
    CAIRN_RETURN_IF_ERROR(
        DownloadTree(JoinUri(inputs, "code"), c.Path("code")).status().WithContext("code"));
    if (!fs::is_regular_file(c.Path("code/" + c.entry_point)))
      return Status::NotFound("entry point " + c.entry_point + " is not in the staged code");
  }
  for (const auto& [name, uri] : spec.channels) {
    auto files = DownloadTree(uri, c.Path("input/data/" + name));
    if (!files.ok()) return files.status().WithContext("channel " + name);
    if (files->empty()) return Status::NotFound("channel " + name + ": nothing at " + uri);
  }
  if (!spec.checkpoint_uri.empty()) {
    auto restored = DownloadTree(spec.checkpoint_uri, c.checkpoint_dir);
    if (!restored.ok() && restored.status().code() != Status::Code::kNotFound)
      return restored.status().WithContext("checkpoints");
    CAIRN_ASSIGN_OR_RETURN(
        *mirror, training::CheckpointMirror::Start(c.checkpoint_dir, spec.checkpoint_uri));
  }
  if (c.host == c.hosts.front()) {
    if (spec.algorithm.empty()) {
      CAIRN_ASSIGN_OR_RETURN(result.lineage["code_sha256"], TreeDigest(c.Path("code")));
    }
    for (const auto& [name, uri] : spec.channels) {
      CAIRN_ASSIGN_OR_RETURN(result.lineage["channel." + name + ".sha256"],
                             TreeDigest(c.Path("input/data/" + name)));
    }
  }
  return Status::OK();
}

}  // namespace

Result<int> RunTrainingNode(const std::string& job_name, const NodeOptions& o) {
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(o.store_uri));
  JobStore jobs(*store);
  CAIRN_ASSIGN_OR_RETURN(const TrainingJob job, jobs.Load(job_name));
  if (job.scheduler_job.empty())
    return Status::PreconditionFailed("training job " + job_name +
                                      " is not run by a cluster scheduler");
  const TrainingJobSpec& spec = job.spec;
  if (o.host_index < 0 || o.host_index >= spec.instance_count)
    return Status::InvalidArgument("host index " + std::to_string(o.host_index) +
                                   " is outside the job's " + std::to_string(spec.instance_count) +
                                   " instances");
  HostContract c;
  for (int i = 1; i <= spec.instance_count; ++i) c.hosts.push_back("algo-" + std::to_string(i));
  c.job_name = job.name;
  c.host = c.hosts[o.host_index];
  c.root = (fs::absolute(o.work_root) / job.name / c.host).string();
  c.hyperparameters = spec.hyperparameters;
  for (const auto& [name, uri] : spec.channels) c.channels.push_back(name);
  c.entry_point = training::EntryName(spec);
  c.num_cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  c.master_addr = o.master_addr;
  c.master_port = o.master_port;
  c.network_interface = o.network_interface;
  if (!spec.checkpoint_uri.empty())
    c.checkpoint_dir =
        spec.checkpoint_local_path.empty() ? c.Path("checkpoints") : spec.checkpoint_local_path;

  HostResult result;
  std::unique_ptr<training::CheckpointMirror> mirror;
  if (Status st = Prepare(job, o, c, result, &mirror); !st.ok()) {
    result.failure = "ClientError: " + c.host + ": " + st.message();
    (void)SaveResult(*store, job.name, c.host, result);
    return st;
  }

  auto env = spec.environment;
  for (auto& [k, v] : training::ContractEnvironment(c)) env[k] = v;
  SubprocessOptions po;
  po.argv = training::ProgramArgv(spec, c, o.builtin_program);
  po.env = std::move(env);
  po.cwd = c.Path("code");
  po.stdout_mode = SubprocessOptions::Stdio::kPipe;
  po.stderr_to_stdout = true;
  CAIRN_ASSIGN_OR_RETURN(auto process, Subprocess::Start(po));

  std::string unsent, all_output;
  int64_t seq = 0;
  auto flush = [&] {
    if (!unsent.empty() && jobs.AppendLog(job.name, c.host, seq + 1, unsent).ok()) {
      ++seq;
      unsent.clear();
    }
    if (mirror) {
      if (Status st = mirror->Flush(); !st.ok())
        std::fprintf(stderr, "cairn train-node: %s\n", st.ToString().c_str());
    }
  };
  const auto tick = std::chrono::milliseconds(static_cast<int64_t>(o.tick_seconds * 1000));
  auto next_tick = std::chrono::steady_clock::now() + tick;
  bool signalled = false;
  std::optional<int> exit_code;
  bool open = true;
  while (open || !exit_code) {
    pollfd fd{process->stdout_fd(), POLLIN, 0};
    ::poll(&fd, fd.fd >= 0 ? 1 : 0, 200);
    std::string bytes;
    if (open) open = process->ReadOutput(&bytes);
    unsent += bytes;
    all_output += bytes;
    if (all_output.size() > (1 << 20)) all_output.erase(0, all_output.size() - (1 << 19));
    if (!exit_code) exit_code = process->Poll();
    if (o.interrupt && o.interrupt->load() && !signalled) {
      process->Signal(SIGTERM);  // the scheduler stops the job: the program may save its state
      signalled = true;
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      next_tick += tick;
      flush();
    }
  }
  flush();
  result.exit_code = *exit_code;
  if (*exit_code != 0) {
    auto failure = ReadFileToString(c.Path("output/failure"));
    const std::string how = process->signaled()
                                ? "was killed by signal " + std::to_string(*exit_code - 128)
                                : "exited with status " + std::to_string(*exit_code);
    result.failure = failure.ok() && !failure->empty()
                         ? "AlgorithmError: " + *failure
                         : "AlgorithmError: " + c.entry_point + " on " + c.host + " " + how +
                               ". Last lines of its log:\n" + LastLines(all_output, 10);
  }
  // algo-1's model and output data go back to the runner, which publishes them.
  if (o.host_index == 0 && (*exit_code == 0 || signalled)) {
    const std::string outputs = JoinUri(o.store_uri, layout::JobOutputsPrefix(job.name));
    Status st = UploadTree(c.Path("model"), JoinUri(outputs, "model"));
    if (st.ok()) st = UploadTree(c.Path("output/data"), JoinUri(outputs, "output-data"));
    if (!st.ok()) {
      result.failure = "ClientError: algo-1 could not upload the model: " + st.message();
      if (result.exit_code == 0) result.exit_code = 1;
    }
  }
  CAIRN_RETURN_IF_ERROR(SaveResult(*store, job.name, c.host, result));
  return result.exit_code;
}

}  // namespace cairn
