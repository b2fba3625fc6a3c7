// Training jobs under SageMaker's training contract: what a job is asked to do (the spec), what
// it did (the record kept in the store, so any machine sharing the store can list, describe,
// follow and stop it), and the store layout of records and logs (docs/training.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/registry/log_pieces.h"
#include "cairn/storage/object_store.h"

namespace cairn {

// A SageMaker metric definition: the first capture group of `regex` in a log line is the value.
struct MetricDefinition {
  std::string name, regex;
};

struct TrainingJobSpec {
  std::string job_name;       // empty: <base_job_name>-YYYY-MM-DD-HH-MM-SS-mmm
  std::string base_job_name;  // empty: from the entry point or the algorithm
  // What runs: an entry point (a .py script run with `python`, or any executable), found in
  // `source_dir` when one is given; or a built-in `algorithm` ("linear-learner").
  std::string entry_point, source_dir, algorithm;
  std::string python = "/usr/bin/python3";
  std::map<std::string, std::string> hyperparameters;  // raw strings, as the API carries them
  std::map<std::string, std::string> channels;         // name -> store URI or local path
  std::map<std::string, std::string> environment;      // extra variables for the program
  int instance_count = 1;
  std::string output_path;            // where model.tar.gz / output.tar.gz go ("" = none)
  bool compress_output = true;        // false: CompressionType NONE (model/ as a prefix)
  std::string checkpoint_uri;         // "" = no checkpoint syncing
  std::string checkpoint_local_path;  // "" = the workspace's checkpoints/
  int64_t max_run_seconds = 86400;    // SageMaker's default MaxRuntimeInSeconds
  std::vector<MetricDefinition> metric_definitions;
  std::string model_group;  // "" = the base job name
  // The CreateTrainingJob request as cairn server was given it (JSON, without HyperParameters),
  // so DescribeTrainingJob echoes RoleArn, ResourceConfig, TrainingImage, ... as SageMaker does;
  // "" for jobs started with `cairn train`.
  std::string sagemaker_request;
};

struct StatusTransition {
  std::string status, message;
  int64_t start_ms = 0, end_ms = 0;  // end 0: still in it
};

struct MetricPoint {
  std::string name;
  double value = 0;
  int64_t at_ms = 0;
};

// TrainingJobStatus as SageMaker names it (DescribeTrainingJob's TrainingJobStatus). A job that
// failed says why in TrainingJob::failure_reason.
enum class TrainingJobStatus { kInProgress, kCompleted, kFailed, kStopping, kStopped };
// "InProgress", "Completed", "Failed", "Stopping", "Stopped".
const char* TrainingJobStatusName(TrainingJobStatus s);
// The inverse; kInvalidArgument for any other string.
Result<TrainingJobStatus> ParseTrainingJobStatus(const std::string& name);
// Completed, Failed or Stopped: the job will not change again.
inline bool IsTerminal(TrainingJobStatus s) {
  return s == TrainingJobStatus::kCompleted || s == TrainingJobStatus::kFailed ||
         s == TrainingJobStatus::kStopped;
}

struct TrainingJob {
  std::string name, arn;
  TrainingJobStatus status = TrainingJobStatus::kInProgress;
  std::string secondary_status = "Starting";
  std::string failure_reason;
  int64_t created_ms = 0, started_ms = 0, ended_ms = 0, heartbeat_ms = 0;
  std::vector<StatusTransition> transitions;
  std::vector<MetricPoint> metrics;  // every value seen (capped per metric)
  std::map<std::string, double> final_metrics;
  std::string model_version;  // "group:n" once published
  std::string model_data;     // the model.tar.gz / prefix URI, else the version ref
  std::string output_data;    // output.tar.gz URI when there is an output path
  std::map<std::string, std::string> lineage;  // code and channel digests, framework, ...
  std::string ran_on;                          // user@host of the runner
  std::string runner;  // who runs it ("" = cairn train; "cairn-server:<work dir>" = the API)
  int exit_code = -1;
  // The cluster scheduler's job when one runs the hosts ("slurm:<id>"), else "".
  std::string scheduler_job;
  TrainingJobSpec spec;
};

// Seconds since the runner last saved a job that has not ended (its heartbeat), by `clock`; 0 for
// an ended job or one never saved. The runner saves at least every tick, so a job silent for a
// minute has probably lost its runner (kill -9 of `cairn train`), which the record cannot say.
int64_t SecondsSinceHeartbeat(const TrainingJob& job, const Clock& clock);

std::string TrainingJobToJson(const TrainingJob& job);
Result<TrainingJob> TrainingJobFromJson(const std::string& json);

// Job records, logs and stop requests in a store. Keys: training/jobs/<name>.json,
// training/logs/<name>/<host>/<seq>, training/stop/<name>.
class JobStore {
 public:
  explicit JobStore(ObjectStore& store) : store_(store) {}
  // Writes a new record; kAlreadyExists if the name was ever used (names are never reused).
  Status Create(const TrainingJob& job);
  Status Save(const TrainingJob& job);
  Result<TrainingJob> Load(const std::string& name);
  Result<std::vector<std::string>> ListNames();
  // Log output of one host, in pieces numbered from 1.
  Status AppendLog(const std::string& name, const std::string& host, int64_t seq,
                   const std::string& bytes);
  // Pieces with seq > after[host], in order, for each host (log_pieces.h).
  using LogPiece = cairn::LogPiece;
  Result<std::vector<LogPiece>> ReadLogs(const std::string& name,
                                         const std::map<std::string, int64_t>& after);
  Status RequestStop(const std::string& name);
  Result<bool> StopRequested(const std::string& name);

 private:
  ObjectStore& store_;
};

// A job name: 1-63 of [A-Za-z0-9-], starting with a letter or digit (SageMaker's rule).
Status ValidateJobName(const std::string& name);
// <base>-YYYY-MM-DD-HH-MM-SS-mmm (UTC), the base cut so the whole fits in 63 characters.
std::string JobNameFromBase(const std::string& base, int64_t now_ms);

}  // namespace cairn
