// Private to training: the state of one running job, shared by the runner's phases.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/core/subprocess.h"
#include "cairn/training/job.h"
#include "cairn/training/runner.h"
#include "checkpoint_mirror.h"
#include "contract.h"
#include "metrics.h"

namespace cairn::training {

using cairn::NowMs;

struct HostRun {
  HostContract contract;
  std::unique_ptr<Subprocess> process;
  std::unique_ptr<CheckpointMirror> mirror;
  std::string partial_line;  // output not yet ended by a newline
  std::string unsent_log;    // output not yet appended to the store
  int64_t log_seq = 0;
  std::optional<int> exit_code;
};

struct JobRun {
  Registry& registry;
  JobStore jobs;
  const RunnerOptions& options;
  TrainingJob job;
  std::string job_dir;  // <work_root>/<job>
  std::vector<HostRun> hosts;
  MetricParser metrics;
  std::string stop_reason;  // "" = not stopping; "Stopped" or "MaxRuntimeExceeded"

  // Ends the current secondary status and enters `status` (saving the record).
  void Transition(const std::string& status, const std::string& message);
  // Saves the record (with a fresh heartbeat); errors are reported through on_log, not fatal.
  void Save();
  // Marks the job Failed with `reason` (first 1024 characters kept, as SageMaker does).
  void Fail(const std::string& reason);
};

// Phases of RunTrainingJob.
Status PrepareWorkspaces(JobRun& run);  // Starting + Downloading
Status RunPrograms(JobRun& run);        // Training: until every program has ended
void FinishJob(JobRun& run);            // Uploading + the final status

}  // namespace cairn::training
