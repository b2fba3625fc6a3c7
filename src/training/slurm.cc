#include "cairn/training/slurm.h"

#include <poll.h>

#include <set>

#include "cairn/core/subprocess.h"

namespace cairn::training {

Result<SlurmJobInfo> ParseScontrolJob(const std::string& line) {
  std::map<std::string, std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\n' || line[i] == '\t')) ++i;
    const size_t eq = line.find('=', i);
    if (eq == std::string::npos) break;
    const std::string key = line.substr(i, eq - i);
    // A value runs to the next " Key=" (values such as Command may hold spaces but no '=').
    size_t end = eq + 1;
    for (;;) {
      size_t sp = line.find_first_of(" \n", end);
      if (sp == std::string::npos) {
        end = line.size();
        break;
      }
      size_t next_eq = line.find('=', sp + 1);
      size_t next_sp = line.find_first_of(" \n", sp + 1);
      if (next_eq != std::string::npos && (next_sp == std::string::npos || next_eq < next_sp)) {
        end = sp;
        break;
      }
      if (next_sp == std::string::npos) {
        end = line.size();
        break;
      }
      end = next_sp;
    }
    fields[key] = line.substr(eq + 1, end - eq - 1);
    i = end;
  }
  auto state = fields.find("JobState");
  if (state == fields.end())
    return Status::InvalidArgument("not a scontrol job line: " + line.substr(0, 200));
  SlurmJobInfo info;
  info.id = fields["JobId"];
  info.state = state->second;
  info.reason = fields["Reason"];
  info.nodes = fields["NodeList"];
  info.exit_code = fields["ExitCode"];
  return info;
}

SlurmStateMeaning MeaningOfSlurmState(const SlurmJobInfo& info) {
  SlurmStateMeaning m;
  const std::string& s = info.state;
  static const std::set<std::string> kRunning = {"RUNNING", "COMPLETING", "SUSPENDED",
                                                 "STOPPED", "SIGNALING",  "STAGE_OUT"};
  static const std::map<std::string, std::string> kFailed = {
      {"FAILED", "AlgorithmError: the Slurm job failed"},
      {"NODE_FAIL", "NodeFailure: a node of the Slurm job failed"},
      {"TIMEOUT", "MaxRuntimeExceeded: the Slurm job reached its time limit (MaxRuntimeInSeconds)"},
      {"OUT_OF_MEMORY", "OutOfMemory: the Slurm job ran out of memory"},
      {"BOOT_FAIL", "NodeFailure: a node of the Slurm job failed to boot"},
      {"DEADLINE", "MaxRuntimeExceeded: the Slurm job reached its deadline"},
      {"PREEMPTED", "InternalServerError: the Slurm job was preempted"},
      {"REVOKED", "InternalServerError: the Slurm job was revoked"},
      {"SPECIAL_EXIT", "InternalServerError: the Slurm job ended in SPECIAL_EXIT"},
  };
  if (s == "COMPLETED") {
    m.ended = true;
    m.status = TrainingJobStatus::kCompleted;
  } else if (s == "CANCELLED" || s.rfind("CANCELLED", 0) == 0) {
    m.ended = true;
    m.status = TrainingJobStatus::kStopped;
  } else if (auto f = kFailed.find(s); f != kFailed.end()) {
    m.ended = true;
    m.status = TrainingJobStatus::kFailed;
    m.failure = f->second;
  } else if (kRunning.count(s)) {
    m.secondary = "Training";
  } else {
    m.secondary = "Starting";  // PENDING, CONFIGURING, REQUEUED, RESIZING, ...
  }
  return m;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

Result<std::string> SlurmClient::Run(const std::string& program,
                                     const std::vector<std::string>& args) {
  SubprocessOptions po;
  po.argv = {bin_dir_ + "/" + program};
  po.argv.insert(po.argv.end(), args.begin(), args.end());
  po.stdout_mode = SubprocessOptions::Stdio::kPipe;
  po.stderr_to_stdout = true;
  po.death_signal = 15;
  CAIRN_ASSIGN_OR_RETURN(auto p, Subprocess::Start(po));
  std::string out;
  while (p->stdout_fd() >= 0) {
    pollfd fd{p->stdout_fd(), POLLIN, 0};
    ::poll(&fd, 1, 30000);
    if (!p->ReadOutput(&out)) break;
  }
  const int rc = p->Wait();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (rc == 127) return Status::IOError(program + " cannot be run from " + bin_dir_ + ": " + out);
  if (rc != 0) return Status::IOError(program + " failed (" + p->Describe() + "): " + out);
  return out;
}

Result<std::string> SlurmClient::Submit(const std::vector<std::string>& args,
                                        const std::string& script_path) {
  std::vector<std::string> a = {"--parsable"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back(script_path);
  CAIRN_ASSIGN_OR_RETURN(std::string out, Run("sbatch", a));
  // --parsable: "ID" or "ID;cluster", after any warnings.
  const size_t nl = out.rfind('\n');
  std::string id = nl == std::string::npos ? out : out.substr(nl + 1);
  id = id.substr(0, id.find(';'));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    return Status::IOError("sbatch printed no job id: " + out);
  return id;
}

Result<SlurmJobInfo> SlurmClient::Query(const std::string& id) {
  auto out = Run("scontrol", {"show", "job", "-o", id});
  if (!out.ok()) {
    if (out.status().message().find("Invalid job id") != std::string::npos)
      return Status::NotFound("Slurm no longer knows job " + id);
    return out.status();
  }
  return ParseScontrolJob(*out);
}

Status SlurmClient::Signal(const std::string& id, const std::string& sig) {
  return Run("scancel", {"--signal=" + sig, id}).status();
}

Result<std::string> SlurmClient::DownNodes(const std::string& nodelist) {
  CAIRN_ASSIGN_OR_RETURN(
      const std::string out,
      Run("sinfo", {"-h", "-N", "-n", nodelist, "-t", "down,drain,fail", "-o", "%N|%T|%E"}));
  std::string found;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    const std::string line = out.substr(start, nl == std::string::npos ? nl : nl - start);
    start = nl == std::string::npos ? out.size() : nl + 1;
    const size_t a = line.find('|'), b = line.find('|', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    found += (found.empty() ? "" : ", ") + line.substr(0, a) + " (" + line.substr(a + 1, b - a - 1);
    const std::string why = line.substr(b + 1);
    found += (why.empty() || why == "none" ? "" : ": " + why) + ")";
  }
  return found;
}

Result<std::string> SlurmClient::NodeOfJobNamed(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::string out,
                         Run("squeue", {"-h", "-t", "RUNNING", "-n", name, "-o", "%N"}));
  out = out.substr(0, out.find('\n'));
  if (out.empty()) return Status::NotFound("no running Slurm job named " + name);
  return out;
}

Result<std::string> SlurmClient::NodeAddress(const std::string& node) {
  CAIRN_ASSIGN_OR_RETURN(const std::string out, Run("scontrol", {"show", "node", "-o", node}));
  const size_t at = out.find("NodeAddr=");
  if (at == std::string::npos) return Status::NotFound("Slurm knows no node " + node);
  const size_t end = out.find_first_of(" \n", at);
  return out.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
}

Status SlurmClient::Cancel(const std::string& id) { return Run("scancel", {id}).status(); }

}  // namespace cairn::training
