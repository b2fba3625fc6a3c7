// cairn train: a training job under SageMaker's contract, on this machine.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cairn/core/host.h"
#include "cairn/training/runner.h"
#include "commands.h"

namespace cairn::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted = true; }

struct TrainArgs {
  TrainingJobSpec spec;
  std::string store, work_dir, output_compression = "gzip";
  std::string scheduler = "local", partition, node_work_dir;
  std::vector<std::string> hyperparameters, channels, env, metric_definitions;
  double tick = 1.0;
  int stop_grace = 120;
  bool json = false;
};

int Train(TrainArgs args) {
  TrainingJobSpec& spec = args.spec;
  auto hps = KeyValues(args.hyperparameters, "--hyperparameter");
  if (!hps.ok()) return Fail(hps.status());
  auto channels = KeyValues(args.channels, "--channel");
  if (!channels.ok()) return Fail(channels.status());
  auto env = KeyValues(args.env, "--env");
  if (!env.ok()) return Fail(env.status());
  auto defs = KeyValues(args.metric_definitions, "--metric-definition");
  if (!defs.ok()) return Fail(defs.status());
  spec.hyperparameters = *hps;
  spec.channels = *channels;
  spec.environment = *env;
  for (const auto& [name, regex] : *defs) spec.metric_definitions.push_back({name, regex});
  if (args.output_compression != "gzip" && args.output_compression != "none")
    return Fail(Status::InvalidArgument("--output-compression is gzip or none"));
  spec.compress_output = args.output_compression == "gzip";
  if (Status st = ValidateTrainingJobSpec(spec); !st.ok()) return Fail(st);
  auto registry = OpenRegistryAt(args.store);
  if (!registry.ok()) return Fail(registry.status());

  RunnerOptions options;
  options.work_root = args.work_dir.empty() ? DataDir("jobs") : args.work_dir;
  options.tick_seconds = args.tick;
  options.stop_grace_seconds = args.stop_grace;
  options.builtin_program = SiblingProgram("cairn-algorithm");
  if (args.scheduler != "local" && args.scheduler != "slurm")
    return Fail(Status::InvalidArgument("--scheduler is local or slurm"));
  options.scheduler = args.scheduler;
  options.slurm.store_uri = (*registry)->store().uri();
  options.slurm.cairn_program = SiblingProgram("cairn");
  options.slurm.partition = args.partition;
  options.slurm.node_work_root =
      args.node_work_dir.empty() ? "/tmp/cairn-nodes" : args.node_work_dir;
  const bool many = spec.instance_count > 1;
  // Logs go to stdout, or to stderr when stdout carries the JSON record.
  FILE* log_out = args.json ? stderr : stdout;
  options.on_log = [many, log_out](const std::string& host, const std::string& line) {
    if (many || host == "cairn") {
      std::fprintf(log_out, "[%s] %s\n", host.c_str(), line.c_str());
    } else {
      std::fprintf(log_out, "%s\n", line.c_str());
    }
    std::fflush(log_out);
  };
  options.on_status = [](const TrainingJob& job) {
    std::fprintf(stderr, "cairn: %s: %s - %s\n", job.name.c_str(), job.secondary_status.c_str(),
                 job.transitions.empty() ? "" : job.transitions.back().message.c_str());
  };
  // Ctrl-C or SIGTERM stops the job as `cairn jobs stop` would: the program gets SIGTERM first.
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  options.interrupt = &g_interrupted;

  auto job = RunTrainingJob(**registry, spec, options);
  if (!job.ok()) return Fail(job.status());
  if (args.json) {
    std::printf("%s", TrainingJobToJson(*job).c_str());
  } else {
    std::fprintf(stderr, "cairn: training job %s: %s\n", job->name.c_str(),
                 TrainingJobStatusName(job->status));
    if (!job->failure_reason.empty())
      std::fprintf(stderr, "cairn: failure reason: %s\n", job->failure_reason.c_str());
    if (!job->model_version.empty())
      std::fprintf(stderr, "cairn: model version: %s\n", job->model_version.c_str());
    if (!job->model_data.empty())
      std::fprintf(stderr, "cairn: model_data: %s\n", job->model_data.c_str());
  }
  return job->status == TrainingJobStatus::kCompleted || job->status == TrainingJobStatus::kStopped
             ? kExitOk
             : kExitError;
}

int TrainNode(const std::string& job, NodeOptions o) {
  // Started by srun in the batch script of the runner (slurm_run.cc): Slurm says which host.
  auto env = [](const char* k) -> std::string {
    const char* v = std::getenv(k);
    return v ? v : "";
  };
  if (o.host_index < 0) o.host_index = std::atoi(env("SLURM_NODEID").c_str());
  if (o.master_addr.empty()) o.master_addr = env("SLURM_LAUNCH_NODE_IPADDR");
  if (o.master_addr.empty()) o.master_addr = "127.0.0.1";
  if (o.master_port <= 0) o.master_port = 20000 + std::atoi(env("SLURM_JOB_ID").c_str()) % 20000;
  o.network_interface = InterfaceFor(o.host_index == 0 ? o.master_addr : "");
  o.store_uri = StoreUri(o.store_uri);
  o.builtin_program = SiblingProgram("cairn-algorithm");
  if (o.work_root.empty()) o.work_root = DataDir("nodes");
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  o.interrupt = &g_interrupted;
  auto rc = RunTrainingNode(job, o);
  if (!rc.ok()) return Fail(rc.status());
  return *rc == 0 ? kExitOk : std::min(*rc, 255);
}

}  // namespace

void AddTrainCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<TrainArgs>();
  auto* t = app.add_subcommand("train", "Run a training job under SageMaker's training contract");
  TrainingJobSpec& s = args->spec;
  auto* entry = t->add_option(
      "ENTRY_POINT", s.entry_point,
      "script (.py, run with --python) or program; relative to --source-dir if given");
  t->add_option("--entry-point", s.entry_point, "the same as ENTRY_POINT (SageMaker's entry_point)")
      ->excludes(entry);
  t->add_option("--algorithm", s.algorithm, "a built-in algorithm instead: linear-learner");
  t->add_option("--source-dir", s.source_dir,
                "folder copied into the job's code/ (recorded by digest)");
  t->add_option("-p,--hyperparameter", args->hyperparameters, "KEY=VALUE, passed as --KEY VALUE");
  t->add_option("-c,--channel", args->channels,
                "NAME=URI: a store URI or local path -> input/data/NAME");
  t->add_option("-e,--env", args->env, "KEY=VALUE set for the program");
  t->add_option("--instance-count", s.instance_count, "local processes (hosts algo-1..N)");
  t->add_option("--output-path", s.output_path,
                "URI for <job>/output/model.tar.gz and output.tar.gz");
  t->add_option("--output-compression", args->output_compression, "gzip (default) or none");
  t->add_option("--checkpoint-uri", s.checkpoint_uri, "URI the checkpoint folder is mirrored to");
  t->add_option("--checkpoint-local-path", s.checkpoint_local_path,
                "default: the workspace's checkpoints/");
  t->add_option("--max-run", s.max_run_seconds,
                "seconds before the job is stopped (default 86400)");
  t->add_option("--metric-definition", args->metric_definitions,
                "NAME=REGEX; group 1 is the value");
  t->add_option("--model-group", s.model_group,
                "group of the published version (default: base job name)");
  t->add_option("--job-name", s.job_name, "default: <base job name>-<timestamp>");
  t->add_option("--base-job-name", s.base_job_name,
                "default: the entry point's name or the algorithm");
  t->add_option("--python", s.python, "interpreter for .py entry points");
  t->add_option("--work-dir", args->work_dir,
                "where job workspaces go (default ~/.local/share/cairn/jobs)");
  t->add_option("--store", args->store, "store URI (default $CAIRN_STORE)");
  t->add_option("--stop-grace", args->stop_grace,
                "seconds between SIGTERM and SIGKILL (default 120)");
  t->add_option("--tick", args->tick,
                "seconds between checkpoint syncs, log uploads and stop checks");
  t->add_flag("--json", args->json, "print the final job record as JSON");
  t->add_option("--scheduler", args->scheduler,
                "local (processes here) or slurm (one Slurm job of --instance-count nodes; "
                "docs/cluster.md)");
  t->add_option("--partition", args->partition, "Slurm partition (default: the cluster's)");
  t->add_option("--node-work-dir", args->node_work_dir,
                "workspaces on the Slurm nodes (default /tmp/cairn-nodes)");
  t->callback([=] { *action = [=] { return Train(*args); }; });

  auto node = std::make_shared<NodeOptions>();
  auto node_job = std::make_shared<std::string>();
  node->host_index = -1;
  node->master_port = 0;
  auto* n = app.add_subcommand("train-node",
                               "Run one host of a training job on a cluster node (srun runs it "
                               "for `cairn train --scheduler slurm`)");
  n->add_option("JOB", *node_job, "training job name")->required();
  n->add_option("--store", node->store_uri, "store URI (default $CAIRN_STORE)");
  n->add_option("--work-dir", node->work_root, "workspaces on this node");
  n->add_option("--host-index", node->host_index, "0-based host (default $SLURM_NODEID)");
  n->add_option("--master-addr", node->master_addr,
                "algo-1's address (default $SLURM_LAUNCH_NODE_IPADDR)");
  n->add_option("--master-port", node->master_port,
                "MASTER_PORT (default 20000 + $SLURM_JOB_ID mod 20000)");
  n->add_option("--tick", node->tick_seconds, "seconds between log and checkpoint uploads");
  n->callback([=] { *action = [=] { return TrainNode(*node_job, *node); }; });
}

}  // namespace cairn::cli
