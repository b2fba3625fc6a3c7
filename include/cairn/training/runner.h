// Runs a training job on this machine under SageMaker's training contract: a workspace laid out
// like /opt/ml per host, the SM_* environment, hyperparameters as arguments, channels fetched
// from any store URI, checkpoints mirrored to a URI, logs and metrics kept with the job, and the
// model directory published as a new version when the job ends.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "cairn/core/clock.h"
#include "cairn/registry/registry.h"
#include "cairn/training/job.h"

namespace cairn {

struct RunnerOptions {
  // Workspaces: <work_root>/<job>/<host>/ is that host's /opt/ml; logs in <work_root>/<job>/logs/.
  std::string work_root;
  // Each line the program prints (stdout and stderr), as it comes.
  std::function<void(const std::string& host, const std::string& line)> on_log;
  // Each change of (secondary) status.
  std::function<void(const TrainingJob& job)> on_status;
  double tick_seconds = 1.0;     // how often logs, checkpoints and stop requests are looked at
  int stop_grace_seconds = 120;  // SIGTERM, then SIGKILL this much later (SageMaker: 120 s)
  // The program that runs built-in algorithms: `<builtin_program> <algorithm> ARGS...`.
  std::string builtin_program;
  // Recorded in the job (TrainingJob::runner), so that a server can recognise its own jobs.
  std::string runner;
  // Set from outside (e.g. a SIGINT handler) to stop the job as `cairn jobs stop` would.
  const std::atomic<bool>* interrupt = nullptr;
  // Stamps the record's heartbeat (TrainingJob::heartbeat_ms) each time it is saved.
  const Clock* clock = &Clock::System();
};

// Runs the job to its end and returns its final record (Completed, Failed or Stopped); a job that
// fails is a record with status Failed and a reason, not an error. Errors are for a job that
// cannot start: a bad spec, or a name already used.
Result<TrainingJob> RunTrainingJob(Registry& registry, const TrainingJobSpec& spec,
                                   const RunnerOptions& options);

// Validates a spec without running it (names, counts, metric regexes, what to run).
Status ValidateTrainingJobSpec(const TrainingJobSpec& spec);

}  // namespace cairn
