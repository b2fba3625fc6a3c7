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

// Runs the hosts of a job as one Slurm job of N nodes (docs/cluster.md). The nodes reach the
// store themselves: it must be an s3:// store, or a folder every node mounts at the same path.
struct SlurmOptions {
  std::string store_uri;                 // the store as the nodes name it (absolute)
  std::string cairn_program;             // the cairn command on the nodes (runs `cairn train-node`)
  std::string node_work_root;            // workspaces on the nodes: <root>/<job>/<host>
  std::string partition;                 // "" = the cluster's default partition
  std::string bin_dir = "/usr/bin";      // where sbatch, scontrol and scancel are
  std::vector<std::string> sbatch_args;  // added to sbatch's (e.g. --account=..., --qos=...)
};

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
  // Set when the runner must let go of a Slurm job without ending it (cairn server shutting down):
  // the record stays InProgress for ResumeSlurmTrainingJob. Local jobs ignore it.
  const std::atomic<bool>* abandon = nullptr;
  // "local" (the hosts are processes of this machine) or "slurm".
  std::string scheduler = "local";
  SlurmOptions slurm;
};

// Runs the job to its end and returns its final record (Completed, Failed or Stopped); a job that
// fails is a record with status Failed and a reason, not an error. Errors are for a job that
// cannot start: a bad spec, or a name already used.
Result<TrainingJob> RunTrainingJob(Registry& registry, const TrainingJobSpec& spec,
                                   const RunnerOptions& options);

// Takes over a job run by Slurm whose runner is gone (a restarted or dead cairn server): watches
// its Slurm job from where the record left it, then finishes it as RunTrainingJob would.
// kFailedPrecondition for a job that is not a Slurm job or has ended.
Result<TrainingJob> ResumeSlurmTrainingJob(Registry& registry, const std::string& job_name,
                                           const RunnerOptions& options);

// One host's share of a job run by a cluster scheduler: `cairn train-node` on each node, started
// by srun. It reads the job's record from the store, lays out this host's /opt/ml, fetches code
// and channels, restores and mirrors checkpoints, runs the program, sends its output to the
// store as it comes (the host's log pieces), and at the end hands back algo-1's model and output
// data and a result for every host (layout::JobOutputsPrefix).
struct NodeOptions {
  std::string store_uri;                 // the store the record is in, as a URI
  std::string work_root;                 // this node's workspaces: <work_root>/<job>/<host>
  int host_index = 0;                    // 0-based: host algo-<index + 1>, rank <index>
  std::string master_addr;               // algo-1's address (MASTER_ADDR)
  int master_port = 29500;               // MASTER_PORT
  std::string network_interface = "lo";  // SM_NETWORK_INTERFACE_NAME
  std::string builtin_program;           // cairn-algorithm on this node
  double tick_seconds = 1.0;             // how often output and checkpoints go to the store
  // Set from a SIGTERM handler: the program gets SIGTERM, its output and checkpoints are kept.
  const std::atomic<bool>* interrupt = nullptr;
};
// The program's exit status (128 + N for signal N). Errors: a record that is missing or not a
// scheduler's job, or a host that cannot be set up (also written to its result for the runner).
Result<int> RunTrainingNode(const std::string& job_name, const NodeOptions& options);

// Validates a spec without running it (names, counts, metric regexes, what to run).
Status ValidateTrainingJobSpec(const TrainingJobSpec& spec);

}  // namespace cairn
