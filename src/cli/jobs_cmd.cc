// cairn jobs list | describe | logs [-f] | stop: training jobs recorded in the store.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/training/job.h"
#include "commands.h"

namespace cairn::cli {
namespace {

using Json = nlohmann::ordered_json;

struct JobsArgs {
  std::string store, name;
  bool json = false, follow = false;
};

bool Finished(TrainingJobStatus status) { return IsTerminal(status); }

// A running job whose runner has been silent for a minute has probably lost it.
std::string StatusText(const TrainingJob& j) {
  const std::string status = TrainingJobStatusName(j.status);
  const int64_t silent = SecondsSinceHeartbeat(j, Clock::System());
  if (silent < 60) return status;
  return status + " (no heartbeat for " + std::to_string(silent) + " s: its runner may have died)";
}

int List(const JobsArgs& args) {
  auto r = OpenRegistryAt(args.store);
  if (!r.ok()) return Fail(r.status());
  JobStore jobs((*r)->store());
  auto names = jobs.ListNames();
  if (!names.ok()) return Fail(names.status());
  std::vector<TrainingJob> all;
  for (const auto& n : *names) {
    auto j = jobs.Load(n);
    if (!j.ok()) return Fail(j.status());
    all.push_back(std::move(*j));
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.created_ms > b.created_ms; });
  if (args.json) {
    Json out = Json::array();
    for (const auto& j : all) out.push_back(Json::parse(TrainingJobToJson(j)));
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-48s %-11s %-19s %-20s %s\n", "NAME", "STATUS", "SECONDARY", "CREATED", "MODEL");
  for (const auto& j : all) {
    std::printf("%-48s %-11s %-19s %-20s %s\n", j.name.c_str(), StatusText(j).c_str(),
                j.secondary_status.c_str(), Time(j.created_ms).c_str(), j.model_version.c_str());
  }
  return kExitOk;
}

int Describe(const JobsArgs& args) {
  auto r = OpenRegistryAt(args.store);
  if (!r.ok()) return Fail(r.status());
  auto job = JobStore((*r)->store()).Load(args.name);
  if (!job.ok()) return Fail(job.status());
  if (args.json) {
    std::printf("%s", TrainingJobToJson(*job).c_str());
    return kExitOk;
  }
  const TrainingJob& j = *job;
  std::printf("Name:            %s\nStatus:          %s (%s)\n", j.name.c_str(),
              StatusText(j).c_str(), j.secondary_status.c_str());
  std::printf("Created:         %s on %s\n", Time(j.created_ms).c_str(), j.ran_on.c_str());
  if (j.ended_ms)
    std::printf("Ended:           %s (%.1f s)\n", Time(j.ended_ms).c_str(),
                (j.ended_ms - j.created_ms) / 1000.0);
  if (!j.failure_reason.empty()) std::printf("FailureReason:   %s\n", j.failure_reason.c_str());
  if (!j.model_version.empty()) std::printf("ModelVersion:    %s\n", j.model_version.c_str());
  if (!j.model_data.empty()) std::printf("ModelData:       %s\n", j.model_data.c_str());
  for (const auto& [k, v] : j.spec.hyperparameters)
    std::printf("Hyperparameter:  %s=%s\n", k.c_str(), v.c_str());
  for (const auto& [k, v] : j.final_metrics) std::printf("FinalMetric:     %s=%g\n", k.c_str(), v);
  for (const auto& t : j.transitions) {
    std::printf("Transition:      %-19s %s  %s\n", t.status.c_str(), Time(t.start_ms).c_str(),
                t.message.c_str());
  }
  return kExitOk;
}

int Logs(const JobsArgs& args) {
  auto r = OpenRegistryAt(args.store);
  if (!r.ok()) return Fail(r.status());
  JobStore jobs((*r)->store());
  auto job = jobs.Load(args.name);
  if (!job.ok()) return Fail(job.status());
  const bool many = job->spec.instance_count > 1;
  std::map<std::string, int64_t> seen;
  for (;;) {
    auto pieces = jobs.ReadLogs(args.name, seen);
    if (!pieces.ok()) return Fail(pieces.status());
    for (const auto& p : *pieces) {
      if (many) {
        size_t start = 0;
        while (start < p.bytes.size()) {
          size_t nl = p.bytes.find('\n', start);
          size_t end = nl == std::string::npos ? p.bytes.size() : nl + 1;
          std::printf("[%s] %.*s", p.host.c_str(), static_cast<int>(end - start),
                      p.bytes.data() + start);
          start = end;
        }
      } else {
        std::fwrite(p.bytes.data(), 1, p.bytes.size(), stdout);
      }
      seen[p.host] = p.seq;
    }
    std::fflush(stdout);
    if (!args.follow || Finished(job->status)) return kExitOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    job = jobs.Load(args.name);  // one more read after it finishes picks up the last pieces
    if (!job.ok()) return Fail(job.status());
  }
}

int Stop(const JobsArgs& args) {
  auto r = OpenRegistryAt(args.store);
  if (!r.ok()) return Fail(r.status());
  JobStore jobs((*r)->store());
  auto job = jobs.Load(args.name);
  if (!job.ok()) return Fail(job.status());
  if (Finished(job->status)) {
    return Fail(Status::PreconditionFailed("training job " + args.name + " already ended (" +
                                           TrainingJobStatusName(job->status) + ")"));
  }
  if (Status st = jobs.RequestStop(args.name); !st.ok()) return Fail(st);
  std::fprintf(stderr, "cairn: asked training job %s to stop\n", args.name.c_str());
  return kExitOk;
}

}  // namespace

void AddJobsCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<JobsArgs>();
  auto* jobs = app.add_subcommand("jobs", "Training jobs recorded in the store");
  jobs->add_option("--store", args->store, "store URI (default $CAIRN_STORE)");
  jobs->require_subcommand(1);
  auto* list = jobs->add_subcommand("list", "List training jobs, newest first");
  list->add_flag("--json", args->json);
  list->callback([=] { *action = [=] { return List(*args); }; });
  auto* describe = jobs->add_subcommand("describe", "Show a training job");
  describe->add_option("NAME", args->name)->required();
  describe->add_flag("--json", args->json);
  describe->callback([=] { *action = [=] { return Describe(*args); }; });
  auto* logs = jobs->add_subcommand("logs", "Print a training job's log");
  logs->add_option("NAME", args->name)->required();
  logs->add_flag("-f,--follow", args->follow, "keep printing until the job ends");
  logs->callback([=] { *action = [=] { return Logs(*args); }; });
  auto* stop = jobs->add_subcommand("stop", "Stop a running training job (SIGTERM, then SIGKILL)");
  stop->add_option("NAME", args->name)->required();
  stop->callback([=] { *action = [=] { return Stop(*args); }; });
}

}  // namespace cairn::cli
