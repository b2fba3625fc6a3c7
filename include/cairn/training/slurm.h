// Slurm as cairn uses it (training jobs, and endpoint instances that Slurm places), through its
// commands (sbatch, scontrol, scancel; https://slurm.schedmd.com/sbatch.html, scontrol.html,
// scancel.html), and how Slurm's job states map to SageMaker's
// (https://slurm.schedmd.com/job_state_codes.html).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/training/job.h"

namespace cairn::training {

// One job as `scontrol show job -o ID` prints it: one line of Key=Value fields.
struct SlurmJobInfo {
  std::string id;
  std::string state;      // JobState: PENDING, RUNNING, COMPLETED, FAILED, NODE_FAIL, ...
  std::string reason;     // Reason: why it waits or ended ("None" when there is none)
  std::string nodes;      // NodeList ("(null)" while pending)
  std::string exit_code;  // ExitCode: "status:signal"
};

// Parses scontrol's one-line form. kInvalidArgument when there is no JobState field.
Result<SlurmJobInfo> ParseScontrolJob(const std::string& line);

// What a Slurm state means for the training job.
struct SlurmStateMeaning {
  bool ended = false;
  TrainingJobStatus status = TrainingJobStatus::kInProgress;  // when ended: the final status
  std::string secondary;                                      // while running: SageMaker's
  std::string failure;  // when Failed: the reason's start (the caller adds detail)
};
// PENDING (and other waiting states) -> Starting; RUNNING, COMPLETING, SUSPENDED -> Training;
// COMPLETED -> Completed; CANCELLED -> Stopped; FAILED, NODE_FAIL, TIMEOUT, OUT_OF_MEMORY,
// BOOT_FAIL, DEADLINE, PREEMPTED -> Failed with the reason named.
SlurmStateMeaning MeaningOfSlurmState(const SlurmJobInfo& info);

// Single quotes for /bin/sh: 'it'\''s'.
std::string ShellQuote(const std::string& s);

// Runs the Slurm commands in `bin_dir` (inheriting SLURM_CONF and the rest of the environment).
class SlurmClient {
 public:
  explicit SlurmClient(std::string bin_dir) : bin_dir_(std::move(bin_dir)) {}
  // sbatch --parsable ARGS SCRIPT_PATH; the job id. Errors: sbatch's message (kIOError).
  Result<std::string> Submit(const std::vector<std::string>& args, const std::string& script_path);
  // kNotFound once Slurm no longer knows the job (it is older than MinJobAge).
  Result<SlurmJobInfo> Query(const std::string& id);
  // scancel --signal=SIG ID: the signal reaches every step's tasks, not the batch shell.
  Status Signal(const std::string& id, const std::string& sig);
  // Nodes of `nodelist` ("c[1-2]") that are down, drained or failed, each "name (STATE: reason)",
  // joined with ", "; "" when none is.
  Result<std::string> DownNodes(const std::string& nodelist);
  // The node a running job named `name` (sbatch/srun --job-name) was given; kNotFound while it
  // waits or when there is no such job.
  Result<std::string> NodeOfJobNamed(const std::string& name);
  // A node's address (NodeAddr in slurm.conf).
  Result<std::string> NodeAddress(const std::string& node);
  // scancel ID: the job ends CANCELLED (tasks get SIGTERM, then SIGKILL after KillWait).
  Status Cancel(const std::string& id);

 private:
  // Runs `bin_dir/program args`; its stdout+stderr, or an error that quotes them.
  Result<std::string> Run(const std::string& program, const std::vector<std::string>& args);
  std::string bin_dir_;
};

}  // namespace cairn::training
