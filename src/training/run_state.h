// Private to training: the state of one running job, shared by the runner's phases.
#pragma once

#include <chrono>
#include <fstream>
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
  bool abandoned = false;   // the runner let go of a Slurm job that still runs

  // Ends the current secondary status and enters `status` (saving the record).
  void Transition(const std::string& status, const std::string& message);
  // Saves the record (with a fresh heartbeat); errors are reported through on_log, not fatal.
  void Save();
  // Marks the job Failed with `reason` (first 1024 characters kept, as SageMaker does).
  void Fail(const std::string& reason);
};

// The program a host runs, with its arguments: `builtin_program ALGORITHM`, `python ENTRY` or
// the entry point itself, then the hyperparameters as arguments.
std::vector<std::string> ProgramArgv(const TrainingJobSpec& spec, const HostContract& c,
                                     const std::string& builtin_program);
// The program's file name in code/: the entry point (relative to the source folder when there is
// one), or the built-in algorithm's name.
std::string EntryName(const TrainingJobSpec& spec);

// Takes a host's output: complete lines go to on_log and the metric parser (points stamped
// `at_ms`, 0 = now), the bytes to `local_log` and to h.unsent_log (for the store).
void TakeOutput(JobRun& run, HostRun& h, const std::string& bytes, bool final,
                std::ofstream& local_log, int64_t at_ms = 0);

// Phases of RunTrainingJob.
Status PrepareWorkspaces(JobRun& run);  // Starting + Downloading
Status RunPrograms(JobRun& run);        // Training: until every program has ended
void FinishJob(JobRun& run);            // Uploading + the final status
// The same two middle phases when a cluster scheduler runs the hosts (slurm_run.cc): the code
// and local channels staged in the store, one Slurm job of N nodes submitted, then watched
// until it ends, with algo-1's model brought back for FinishJob.
Status StageAndSubmitSlurmJob(JobRun& run);
Status WatchSlurmJob(JobRun& run);

}  // namespace cairn::training
