#include "endpoint_fleet.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/net/port.h"
#include "cairn/registry/layout.h"
#include "cairn/training/slurm.h"
#include "records.h"

namespace cairn::api {

namespace {

constexpr double kDrainSeconds = 90;      // an old instance's requests in flight (60 s each)
constexpr int kLoadTimeoutSeconds = 600;  // SageMaker's container start-up health check

// A node's address (NodeAddr: a name or a dotted quad) as a dotted quad, by getaddrinfo(3).
Result<std::string> Ipv4Of(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found)
    return Status::NotFound("cannot resolve Slurm node address " + host + ": " +
                            ::gai_strerror(rc));
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, buf, sizeof buf);
  ::freeaddrinfo(found);
  return std::string(buf);
}

double Uniform01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

InstanceLogs InstanceLogs::ForEndpoint(const std::string& endpoint, const std::string& variant) {
  return {layout::EndpointLogsPrefix(endpoint), variant + "/",
          "/aws/sagemaker/Endpoints/" + endpoint};
}

Result<std::vector<VariantSpec>> ParseVariants(const Json& variants) {
  if (!variants.is_array() || variants.empty() || variants.size() > 10)
    return Status::InvalidArgument("ProductionVariants must hold 1 to 10 variants");
  std::vector<VariantSpec> out;
  std::set<std::string> names;
  for (const Json& v : variants) {
    if (!v.is_object()) return Status::InvalidArgument("a ProductionVariant must be an object");
    VariantSpec s;
    CAIRN_ASSIGN_OR_RETURN(s.name, RequiredString(v, "VariantName"));
    CAIRN_ASSIGN_OR_RETURN(s.model, RequiredString(v, "ModelName"));
    // SageMaker's pattern, ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}: names are parts of keys (metrics).
    const bool alnum_ends = !s.name.empty() &&
                            std::isalnum(static_cast<unsigned char>(s.name[0])) &&
                            std::isalnum(static_cast<unsigned char>(s.name.back()));
    if (!alnum_ends || s.name.size() > 63 ||
        s.name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != std::string::npos)
      return Status::InvalidArgument("VariantName " + s.name +
                                     " must be 1 to 63 letters, digits and hyphens, starting and "
                                     "ending with a letter or digit");
    if (!names.insert(s.name).second)
      return Status::InvalidArgument("VariantName " + s.name + " is given twice");
    const Json count = v.value("InitialInstanceCount", Json(1));
    const Json weight = v.value("InitialVariantWeight", Json(1.0));
    if (!count.is_number_integer() || !weight.is_number())
      return Status::InvalidArgument("variant " + s.name +
                                     ": InitialInstanceCount and InitialVariantWeight are numbers");
    const int64_t n = count.get<int64_t>();
    s.count = n < 1 || n > kMaxLocalInstances ? 0 : static_cast<int>(n);  // 0: refused below
    s.weight = weight.get<double>();
    if (s.count < 1 || s.count > kMaxLocalInstances)
      return Status::InvalidArgument("variant " + s.name + ": InitialInstanceCount must be 1.." +
                                     std::to_string(kMaxLocalInstances) +
                                     " (instances run on this server)");
    if (s.weight < 0) return Status::InvalidArgument("variant " + s.name + ": weight below 0");
    out.push_back(std::move(s));
  }
  return out;
}

Instance::~Instance() {
  if (process) process->Terminate(kDrainSeconds);  // cairn-serve finishes its requests first
  log.reset();  // its last lines reach the store; before `process` goes (the pump reads it)
  if (!code_dir.empty()) {
    std::error_code ec;  // best effort: a folder left behind costs disk space, nothing else
    std::filesystem::remove_all(code_dir, ec);
  }
}

std::shared_ptr<Instance> Variant::Next() const {
  for (size_t tries = 0; tries < instances.size(); ++tries) {
    auto& inst = instances[next.fetch_add(1, std::memory_order_relaxed) % instances.size()];
    if (!inst->dead.load()) return inst;
  }
  return instances[next.fetch_add(1, std::memory_order_relaxed) % instances.size()];
}

std::vector<Backend> Variant::Backends() const {
  std::vector<Backend> out;
  for (const auto& inst : instances)
    if (!inst->dead.load()) out.push_back({inst->id, inst->address, inst->port});
  return out;
}

Result<std::shared_ptr<LoadBalancer>> StartLoadBalancer(Context& c, const std::string& endpoint,
                                                        const std::string& variant) {
  if (c.options.load_balancer.empty()) return std::shared_ptr<LoadBalancer>();
  if (c.options.load_balancer != "haproxy")
    return Status::InvalidArgument("unknown load balancer " + c.options.load_balancer);
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), "%llx", static_cast<unsigned long long>(NowMs()));
  CAIRN_ASSIGN_OR_RETURN(
      auto lb, LoadBalancer::Start(c.options.haproxy_program,
                                   c.options.work_root + "/lb/" + endpoint + "-" + variant + "-" +
                                       suffix + "-" + std::to_string(net::FreeLocalPort()),
                                   c.options.lb_bind_address));
  return std::shared_ptr<LoadBalancer>(std::move(lb));
}

double Fleet::TotalWeight() const {
  double total = 0;
  for (double w : weights) total += w;
  return total;
}

const Variant* Fleet::Pick(const std::string& target, double u) const {
  if (!target.empty()) {
    for (const auto& v : variants)
      if (v->spec.name == target) return v.get();
    return nullptr;
  }
  const double total = TotalWeight();
  if (total <= 0) return nullptr;
  double x = u * total;
  for (size_t i = 0; i < variants.size(); ++i) {
    if (weights[i] <= 0) continue;
    if (x < weights[i]) return variants[i].get();
    x -= weights[i];
  }
  for (size_t i = variants.size(); i-- > 0;)  // u * total rounded up to total
    if (weights[i] > 0) return variants[i].get();
  return nullptr;
}

Result<std::shared_ptr<Instance>> LaunchInstance(Context& c, const VariantSpec& spec,
                                                 const InstanceLogs& logs, const Json& environment,
                                                 const std::function<bool()>& cancelled,
                                                 const std::string& exclude_node) {
  auto model = RecordStore<ModelRecord>(c.registry.store()).Get(spec.model);
  if (model.status().code() == Status::Code::kNotFound)
    return Status::InvalidArgument("Could not find model \"" + c.Arn("model", spec.model) + "\".");
  if (!model.ok()) return model.status().WithContext("model " + spec.model);
  auto inst = std::make_shared<Instance>();
  inst->ref = model->ref;
  const bool slurm = c.options.scheduler == "slurm";
  // On a Slurm node no port can be checked from here: one at random, and a launch that finds it
  // taken fails and is tried again.
  inst->port = slurm ? 30000 + static_cast<int>(Uniform01() * 10000) : net::FreeLocalPort();
  char id[40];
  std::snprintf(id, sizeof(id), "i-%011llx%05x", static_cast<unsigned long long>(NowMs()),
                static_cast<unsigned>(inst->port));
  inst->id = id;
  SubprocessOptions o;
  o.argv = {c.options.serve_program, model->ref, "--store", c.options.store, "--port",
            std::to_string(inst->port), "--poll",
            // An alias is looked at every second: a move reaches every instance, each
            // swapping with no failed request; a version never changes.
            model->ref.find('@') != std::string::npos ? "1" : "3600", "--max-payload-mb",
            std::to_string(spec.max_payload_mb)};
  Json env = model->environment;
  if (environment.is_object()) env.update(environment);
  if (env.contains("SAGEMAKER_PROGRAM")) {
    o.argv.push_back("--entry-point");
    o.argv.push_back(env["SAGEMAKER_PROGRAM"].get<std::string>());
    const std::string submit = env.value("SAGEMAKER_SUBMIT_DIRECTORY", "");
    if (!submit.empty() && submit.rfind("/opt/ml/model", 0) != 0) {
      const std::string dir = c.options.work_root + "/serving-code/" + inst->id;
      inst->code_dir = dir;  // removed with the instance, even if the fetch fails midway
      if (Status st = FetchSource(submit, dir); !st.ok())
        return Status::InvalidArgument("SAGEMAKER_SUBMIT_DIRECTORY: " + st.message());
      o.argv.push_back("--source-dir");
      o.argv.push_back(dir);
    }
  }
  // CreateModel's Environment is the serving process's environment, as in a SageMaker container
  // (the toolkit's SAGEMAKER_* variables included; cairn-serve and its workers read them).
  for (const auto& [k, v] : env.items()) o.env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  // cairn-serve's Python workers share its process group: SIGTERM goes to cairn-serve alone,
  // which finishes its requests with them before it exits.
  o.new_process_group = false;
  o.death_signal = SIGTERM;
  o.stdout_mode = SubprocessOptions::Stdio::kPipe;
  o.stderr_to_stdout = true;
  const std::string job_name = "cairn-endpoint-" + inst->id;
  if (slurm) {
    // A job step of one task on a node Slurm picks; srun relays its output here and passes a
    // SIGTERM on to it, and ends when it does.
    o.argv.insert(o.argv.end(), {"--host", "0.0.0.0"});
    std::vector<std::string> srun = {"/usr/bin/srun",          "--nodes=1", "--ntasks=1",
                                     "--job-name=" + job_name, "--quiet",   "--kill-on-bad-exit=1"};
    // Nodes to avoid (a dead instance's, or those of the variant's other instances): only if
    // another node takes the step within 10 s.
    if (!exclude_node.empty())
      srun.insert(srun.end(), {"--exclude=" + exclude_node, "--immediate=10"});
    if (!c.options.slurm_partition.empty())
      srun.push_back("--partition=" + c.options.slurm_partition);
    o.argv.insert(o.argv.begin(), srun.begin(), srun.end());
  }
  CAIRN_ASSIGN_OR_RETURN(inst->process, Subprocess::Start(o));
  inst->log = std::make_unique<LogPump>(c.registry.store(), logs.prefix,
                                        logs.stream_prefix + inst->id, *inst->process);
  const std::string see = "; its output is in log group " + logs.group;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kLoadTimeoutSeconds);
  if (slurm) {  // where Slurm put it
    training::SlurmClient sc("/usr/bin");
    for (;;) {
      if (inst->process->Poll())
        return Status::Internal("the Slurm step of the model server ended while starting (" +
                                inst->process->Describe() + ")" + see);
      auto node = sc.NodeOfJobNamed(job_name);
      if (node.ok()) {
        CAIRN_ASSIGN_OR_RETURN(const std::string addr, sc.NodeAddress(*node));
        CAIRN_ASSIGN_OR_RETURN(inst->address, Ipv4Of(addr));  // HAProxy's runtime API wants one
        inst->node = *node;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline || cancelled())
        return Status::Internal("Slurm did not place the model server" + see);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const std::string ping = inst->url() + "/ping";
  for (;;) {
    if (inst->process->Poll())
      return Status::Internal("the model server exited while loading " + model->ref + " (" +
                              inst->process->Describe() + ")" + see);
    auto r = c.http.Send("GET", ping, "", {}, 2);
    if (r.ok() && r->status == 200) return inst;
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Internal("the model did not load within " +
                              std::to_string(kLoadTimeoutSeconds) + " s" + see);
    if (cancelled()) return Status::Internal("the server is stopping");
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

Result<std::shared_ptr<Instance>> LaunchInstanceSafely(Context& c, const VariantSpec& spec,
                                                       const InstanceLogs& logs,
                                                       const Json& environment,
                                                       const std::function<bool()>& cancelled,
                                                       const std::string& exclude_node) {
  try {
    // A Slurm instance whose random port was taken on its node: another port, up to 3 times.
    // The nodes to avoid are avoided on the first try only.
    Result<std::shared_ptr<Instance>> r = Status::Internal("not launched");
    for (int attempt = 0; attempt < 3; ++attempt) {
      r = LaunchInstance(c, spec, logs, environment, cancelled, attempt == 0 ? exclude_node : "");
      if (r.ok() || c.options.scheduler != "slurm" || cancelled() ||
          r.status().code() != Status::Code::kInternal)
        break;
    }
    return r;
  } catch (const Json::exception& e) {  // a model's Environment of the wrong shape
    return Status::InvalidArgument("model " + spec.model + ": " + e.what());
  } catch (const std::exception& e) {  // std::filesystem and the like
    return Status::Internal("starting model " + spec.model + ": " + e.what());
  }
}

Result<std::shared_ptr<const Fleet>> BuildFleet(Context& c, const std::string& endpoint,
                                                const std::string& config,
                                                const std::vector<VariantSpec>& specs,
                                                const Fleet* reuse,
                                                const std::function<bool()>& cancelled) {
  auto fleet = std::make_shared<Fleet>();
  fleet->config = config;
  struct Slot {
    Variant* variant;
    size_t index;
    Result<std::shared_ptr<Instance>> launched = Status::Internal("not launched");
  };
  std::vector<Slot> to_launch;
  std::vector<std::shared_ptr<Variant>> variants;
  for (const VariantSpec& s : specs) {
    auto v = std::make_shared<Variant>();
    v->spec = s;
    v->instances.resize(static_cast<size_t>(s.count));
    const Variant* old = nullptr;
    if (reuse)
      for (const auto& o : reuse->variants)
        if (o->spec.name == s.name && o->spec.model == s.model) old = o.get();
    for (size_t i = 0; i < v->instances.size(); ++i) {
      if (old && i < old->instances.size() && !old->instances[i]->dead.load()) {
        v->instances[i] = old->instances[i];  // a dead one is launched anew
      } else {
        to_launch.push_back({v.get(), i});
      }
    }
    variants.push_back(v);
  }
  if (c.options.scheduler == "slurm") {
    // One after another, each on a node the variant's instances do not use yet when there is
    // one: replicas spread over hosts, so one host lost takes one replica.
    for (Slot& slot : to_launch) {
      std::string used;
      for (const auto& inst : slot.variant->instances)
        if (inst && !inst->node.empty()) used += (used.empty() ? "" : ",") + inst->node;
      slot.launched = LaunchInstanceSafely(
          c, slot.variant->spec, InstanceLogs::ForEndpoint(endpoint, slot.variant->spec.name),
          Json::object(), cancelled, used);
      if (!slot.launched.ok()) break;
      slot.variant->instances[slot.index] = *slot.launched;
    }
  } else {
    std::vector<std::thread> threads;
    for (Slot& slot : to_launch)
      threads.emplace_back([&c, &endpoint, &cancelled, &slot] {
        slot.launched = LaunchInstanceSafely(
            c, slot.variant->spec, InstanceLogs::ForEndpoint(endpoint, slot.variant->spec.name),
            Json::object(), cancelled);
      });
    for (auto& t : threads) t.join();
  }
  for (Slot& slot : to_launch) {
    if (!slot.launched.ok()) return slot.launched.status();  // the others stop as they go
    slot.variant->instances[slot.index] = *slot.launched;
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    // The load balancer of a variant kept (same name and model) is kept with its instances.
    if (reuse)
      for (const auto& o : reuse->variants)
        if (o->spec.name == variants[i]->spec.name && o->spec.model == variants[i]->spec.model)
          variants[i]->lb = o->lb;
    if (!variants[i]->lb) {
      CAIRN_ASSIGN_OR_RETURN(variants[i]->lb,
                             StartLoadBalancer(c, endpoint, variants[i]->spec.name));
    }
    if (variants[i]->lb)
      CAIRN_RETURN_IF_ERROR(variants[i]->lb->SetServers(variants[i]->Backends()));
    fleet->variants.push_back(variants[i]);
    fleet->weights.push_back(specs[i].weight);
  }
  return std::shared_ptr<const Fleet>(fleet);
}

}  // namespace cairn::api
