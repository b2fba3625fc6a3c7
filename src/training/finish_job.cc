// The end of a job: the model directory published as a new version (with lineage), SageMaker's
// artifacts under the output path, and the final status.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cairn/core/file.h"
#include "cairn/registry/artifacts.h"
#include "cairn/storage/transfer.h"
#include "run_state.h"

namespace cairn::training {

namespace fs = std::filesystem;

namespace {

bool HasFiles(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) return true;
  }
  return false;
}

// The last `n` lines of a host's log.
std::string Tail(const std::string& path, size_t n) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return "";
  std::string s = *text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t pos = s.size();
  for (size_t i = 0; i < n && pos != std::string::npos && pos > 0; ++i)
    pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

std::string FailureReason(JobRun& run) {
  for (auto& h : run.hosts) {
    if (!h.exit_code || *h.exit_code == 0) continue;
    auto failure = ReadFileToString(h.contract.Path("output/failure"));
    if (failure.ok() && !failure->empty()) return "AlgorithmError: " + *failure;
    std::string how = h.process && h.process->signaled()
                          ? "was killed by signal " + std::to_string(*h.exit_code - 128)
                          : "exited with status " + std::to_string(*h.exit_code);
    return "AlgorithmError: " + h.contract.entry_point + " on " + h.contract.host + " " + how +
           ". Last lines of its log:\n" +
           Tail(run.job_dir + "/logs/" + h.contract.host + ".log", 10);
  }
  return "AlgorithmError: the job failed";
}

Status Upload(JobRun& run) {
  TrainingJob& job = run.job;
  const HostContract& first = run.hosts.front().contract;
  const std::string model_dir = first.Path("model");
  if (HasFiles(model_dir)) {
    PublishOptions opts;
    opts.description = "trained by job " + job.name;
    opts.lineage = job.lineage;
    opts.lineage["training_job"] = job.name;
    opts.lineage["training_job_arn"] = job.arn;
    opts.lineage["hyperparameters"] = nlohmann::json(job.spec.hyperparameters).dump();
    for (const auto& [k, v] : job.final_metrics) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", v);
      opts.metrics[k] = buf;
    }
    CAIRN_ASSIGN_OR_RETURN(VersionInfo v,
                           run.registry.Publish(job.spec.model_group, model_dir, opts));
    job.model_version = v.ref();
    job.model_data = v.ref();
  }
  if (job.spec.output_path.empty()) return Status::OK();
  const std::string out = JoinUri(job.spec.output_path, job.name + "/output");
  if (job.spec.compress_output) {
    const std::string tgz = run.job_dir + "/model.tar.gz";
    CAIRN_RETURN_IF_ERROR(CreateTarGz(model_dir, tgz));
    CAIRN_RETURN_IF_ERROR(UploadFile(tgz, JoinUri(out, "model.tar.gz")));
    job.model_data = JoinUri(out, "model.tar.gz");
  } else {
    CAIRN_RETURN_IF_ERROR(UploadTree(model_dir, JoinUri(out, "model")));
    job.model_data = JoinUri(out, "model") + "/";
  }
  const std::string otgz = run.job_dir + "/output.tar.gz";
  CAIRN_RETURN_IF_ERROR(CreateTarGz(first.Path("output/data"), otgz));
  CAIRN_RETURN_IF_ERROR(UploadFile(otgz, JoinUri(out, "output.tar.gz")));
  job.output_data = JoinUri(out, "output.tar.gz");
  return Status::OK();
}

}  // namespace

void FinishJob(JobRun& run) {
  TrainingJob& job = run.job;
  if (job.status != TrainingJobStatus::kFailed) {
    const bool ok = job.exit_code == 0;
    if (!run.stop_reason.empty()) {
      job.status = TrainingJobStatus::kStopped;  // what the program saved on SIGTERM is still kept
    } else if (!ok) {
      run.Fail(FailureReason(run));
    }
  }
  if (job.status != TrainingJobStatus::kFailed) {
    run.Transition("Uploading", "Uploading generated training model");
    Status st = Upload(run);
    if (!st.ok())
      run.Fail("ClientError: uploading the model failed: " + st.message());
    else if (job.status != TrainingJobStatus::kStopped)
      job.status = TrainingJobStatus::kCompleted;
  }
  job.ended_ms = NowMs();
  if (job.status == TrainingJobStatus::kCompleted) {
    run.Transition("Completed", "Training job completed");
  } else if (job.status == TrainingJobStatus::kStopped) {
    run.Transition(run.stop_reason == "MaxRuntimeExceeded" ? "MaxRuntimeExceeded" : "Stopped",
                   run.stop_reason == "MaxRuntimeExceeded"
                       ? "Training job stopped: it exceeded its maximum run time"
                       : "Training job stopped");
  } else {
    run.Transition("Failed", "Training job failed: " + job.failure_reason.substr(0, 200));
  }
  if (job.transitions.back().end_ms == 0) job.transitions.back().end_ms = job.ended_ms;
  run.Save();
}

}  // namespace cairn::training
