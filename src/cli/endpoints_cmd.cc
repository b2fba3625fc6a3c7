// cairn endpoints list | describe | update | rollback | weights: a running cairn server's
// endpoints, through its SageMaker API (api_client.h), for users without boto3. update and
// rollback take a deployment policy (canary or linear steps, baking, alarms that roll back).
#include <chrono>
#include <cstdio>
#include <thread>

#include "api_client.h"
#include "commands.h"

namespace cairn::cli {
namespace {

using Json = nlohmann::json;

struct EndpointsArgs {
  std::string server, name, config;
  bool json = false, wait = false;
  int canary = 0, linear = 0;  // percent of requests per step
  int wait_s = 0, termination_s = 0, max_s = 0;
  std::vector<std::string> alarms, weights, counts;
};

double Num(const Json& j, const char* k) { return j.contains(k) ? j[k].get<double>() : 0.0; }

void PrintEndpoint(const Json& d) {
  std::printf("Endpoint:      %s\n", d.value("EndpointName", "").c_str());
  std::printf("Status:        %s\n", d.value("EndpointStatus", "").c_str());
  std::printf("Configuration: %s\n", d.value("EndpointConfigName", "").c_str());
  if (d.contains("CairnPreviousEndpointConfigName"))
    std::printf("Previous:      %s\n",
                d["CairnPreviousEndpointConfigName"].get<std::string>().c_str());
  if (d.contains("FailureReason"))
    std::printf("Failure:       %s\n", d["FailureReason"].get<std::string>().c_str());
  std::printf("%-20s %10s %10s %10s %10s  %s\n", "VARIANT", "WEIGHT", "DESIRED", "INSTANCES",
              "DESIRED", "VERSION");
  auto rows = [](const Json& variants) {
    for (const auto& v : variants) {
      const Json images = v.value("DeployedImages", Json::array());
      std::printf("%-20s %10.3g %10.3g %10d %10d  %s\n", v.value("VariantName", "").c_str(),
                  Num(v, "CurrentWeight"), Num(v, "DesiredWeight"),
                  v.value("CurrentInstanceCount", 0), v.value("DesiredInstanceCount", 0),
                  images.empty() ? "" : images[0].value("ResolvedImage", "").c_str());
    }
  };
  rows(d.value("ProductionVariants", Json::array()));
  bool header = false;
  for (const auto& v : d.value("ProductionVariants", Json::array())) {
    for (const auto& i : v.value("Instances", Json::array())) {
      if (!header)
        std::printf("%-20s %-22s %-10s %-10s %s\n", "VARIANT", "INSTANCE", "NODE", "HEALTH",
                    "ADDRESS");
      header = true;
      std::printf("%-20s %-22s %-10s %-10s %s\n", v.value("VariantName", "").c_str(),
                  i.value("InstanceId", "").c_str(), i.value("Node", "").c_str(),
                  i.value("Health", "").c_str(), i.value("Address", "").c_str());
    }
    if (v.contains("LoadBalancerUrl"))
      std::printf("%-20s load balancer %s\n", v.value("VariantName", "").c_str(),
                  v["LoadBalancerUrl"].get<std::string>().c_str());
  }
  for (const auto& e : d.value("InstanceEvents", Json::array()))
    std::printf("event: %s\n", e.value("Message", "").c_str());
  if (d.contains("PendingDeploymentSummary")) {
    const Json& p = d["PendingDeploymentSummary"];
    std::printf("Deploying %s:\n", p.value("EndpointConfigName", "").c_str());
    rows(p.value("ProductionVariants", Json::array()));
    for (const auto& v : p.value("ProductionVariants", Json::array()))
      for (const auto& s : v.value("VariantStatus", Json::array()))
        std::printf("  %s: %s %s\n", v.value("VariantName", "").c_str(),
                    s.value("Status", "").c_str(), s.value("StatusMessage", "").c_str());
  }
}

// UpdateEndpoint's DeploymentConfig from the flags; null for all at once without alarms.
Result<Json> DeploymentConfig(const EndpointsArgs& a) {
  if (a.canary && a.linear) return Status::InvalidArgument("give --canary or --linear, not both");
  if (!a.canary && !a.linear && a.alarms.empty() && !a.wait_s && !a.termination_s && !a.max_s)
    return Json();
  Json routing = {{"Type", a.canary   ? "CANARY"
                           : a.linear ? "LINEAR"
                                      : "ALL_AT_ONCE"},
                  {"WaitIntervalInSeconds", a.wait_s}};
  if (a.canary) routing["CanarySize"] = {{"Type", "CAPACITY_PERCENT"}, {"Value", a.canary}};
  if (a.linear) routing["LinearStepSize"] = {{"Type", "CAPACITY_PERCENT"}, {"Value", a.linear}};
  Json bg = {{"TrafficRoutingConfiguration", routing},
             {"TerminationWaitInSeconds", a.termination_s}};
  if (a.max_s) bg["MaximumExecutionTimeoutInSeconds"] = a.max_s;
  Json config = {{"BlueGreenUpdatePolicy", bg}};
  if (!a.alarms.empty()) {
    Json alarms = Json::array();
    for (const auto& n : a.alarms) alarms.push_back({{"AlarmName", n}});
    config["AutoRollbackConfiguration"] = {{"Alarms", alarms}};
  }
  return config;
}

// Polls DescribeEndpoint until the endpoint is no longer Creating/Updating, printing each step.
int WaitAndPrint(ApiClient& api, const EndpointsArgs& a) {
  std::string last;
  for (;;) {
    auto d = api.Call("DescribeEndpoint", {{"EndpointName", a.name}});
    if (!d.ok()) return Fail(d.status());
    const std::string status = d->value("EndpointStatus", "");
    std::string step = status;
    if (d->contains("PendingDeploymentSummary"))
      for (const auto& v :
           (*d)["PendingDeploymentSummary"].value("ProductionVariants", Json::array()))
        for (const auto& s : v.value("VariantStatus", Json::array()))
          step += " - " + s.value("StatusMessage", "");
    if (step != last) std::fprintf(stderr, "cairn: %s: %s\n", a.name.c_str(), step.c_str());
    last = step;
    if (status != "Updating" && status != "Creating" && status != "RollingBack") {
      if (a.json) {
        std::printf("%s\n", d->dump(2).c_str());
      } else {
        PrintEndpoint(*d);
      }
      return d->contains("FailureReason") ? kExitError : kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int Run(const std::string& command, const EndpointsArgs& a) {
  auto api = ApiClient::Open(a.server);
  if (!api.ok()) return Fail(api.status());
  if (command == "list") {
    Json all = Json::array();
    Json req = {{"MaxResults", 100}};
    for (;;) {
      auto page = api->Call("ListEndpoints", req);
      if (!page.ok()) return Fail(page.status());
      for (auto& e : (*page)["Endpoints"]) all.push_back(e);
      if (!page->contains("NextToken")) break;
      req["NextToken"] = (*page)["NextToken"];
    }
    if (a.json) {
      std::printf("%s\n", all.dump(2).c_str());
      return kExitOk;
    }
    std::printf("%-40s %-12s %s\n", "NAME", "STATUS", "CREATED");
    for (const auto& e : all)
      std::printf("%-40s %-12s %s\n", e.value("EndpointName", "").c_str(),
                  e.value("EndpointStatus", "").c_str(),
                  Time(static_cast<int64_t>(Num(e, "CreationTime") * 1000)).c_str());
    return kExitOk;
  }
  if (command == "describe") {
    auto d = api->Call("DescribeEndpoint", {{"EndpointName", a.name}});
    if (!d.ok()) return Fail(d.status());
    if (a.json) {
      std::printf("%s\n", d->dump(2).c_str());
    } else {
      PrintEndpoint(*d);
    }
    return kExitOk;
  }
  if (command == "weights") {
    Json desired = Json::array();
    auto weights = KeyValues(a.weights, "VARIANT=WEIGHT");
    auto counts = KeyValues(a.counts, "--instances");
    if (!weights.ok()) return Fail(weights.status());
    if (!counts.ok()) return Fail(counts.status());
    std::map<std::string, Json> by_variant;
    try {
      for (const auto& [v, w] : *weights) by_variant[v]["DesiredWeight"] = std::stod(w);
      for (const auto& [v, n] : *counts) by_variant[v]["DesiredInstanceCount"] = std::stoi(n);
    } catch (const std::exception&) {
      return Fail(Status::InvalidArgument("weights and instance counts are numbers"));
    }
    for (auto& [v, j] : by_variant) {
      j["VariantName"] = v;
      desired.push_back(j);
    }
    auto r = api->Call("UpdateEndpointWeightsAndCapacities",
                       {{"EndpointName", a.name}, {"DesiredWeightsAndCapacities", desired}});
    if (!r.ok()) return Fail(r.status());
    return a.wait ? WaitAndPrint(*api, a) : kExitOk;
  }
  // update, rollback
  std::string config = a.config;
  if (command == "rollback") {
    auto d = api->Call("DescribeEndpoint", {{"EndpointName", a.name}});
    if (!d.ok()) return Fail(d.status());
    config = d->value("CairnPreviousEndpointConfigName", "");
    if (config.empty())
      return Fail(Status::InvalidArgument("endpoint " + a.name +
                                          " has had no other configuration to roll back to"));
    std::fprintf(stderr, "cairn: rolling %s back from %s to %s\n", a.name.c_str(),
                 d->value("EndpointConfigName", "").c_str(), config.c_str());
  }
  auto deployment = DeploymentConfig(a);
  if (!deployment.ok()) return Fail(deployment.status());
  Json req = {{"EndpointName", a.name}, {"EndpointConfigName", config}};
  if (!deployment->is_null()) req["DeploymentConfig"] = *deployment;
  auto r = api->Call("UpdateEndpoint", req);
  if (!r.ok()) return Fail(r.status());
  return a.wait ? WaitAndPrint(*api, a) : kExitOk;
}

void DeploymentFlags(CLI::App* c, EndpointsArgs& a) {
  c->add_option("--canary", a.canary, "send PERCENT of requests to the new fleet first (1..50)");
  c->add_option("--linear", a.linear, "move PERCENT more of the requests every step (1..50)");
  c->add_option("--wait-interval", a.wait_s, "seconds each step bakes (0..3600)");
  c->add_option("--termination-wait", a.termination_s,
                "seconds the old fleet stays after the last step (0..3600)");
  c->add_option("--max-time", a.max_s, "seconds the whole deployment may take (600..14400)");
  c->add_option("--alarm", a.alarms, "a CloudWatch alarm that rolls the deployment back (repeat)");
  c->add_flag("--wait", a.wait, "follow the deployment until it ends; exit 2 if it rolled back");
}

}  // namespace

void AddEndpointsCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<EndpointsArgs>();
  auto* group = app.add_subcommand(
      "endpoints", "A cairn server's endpoints: list, describe, update with a canary, roll back");
  group->require_subcommand(1);
  group->add_option("--server", args->server,
                    "cairn server URL (default $CAIRN_SERVER_URL, else http://127.0.0.1:8770)");
  auto add = [&](const char* name, const char* help) {
    auto* c = group->add_subcommand(name, help);
    c->callback([action, args, name = std::string(name)] {
      *action = [args, name] { return Run(name, *args); };
    });
    c->add_flag("--json", args->json, "the API's answer as JSON");
    return c;
  };
  add("list", "Every endpoint and its status");
  add("describe", "An endpoint's variants, weights, instances and deployment")
      ->add_option("NAME", args->name, "endpoint name")
      ->required();
  auto* update = add("update", "Move an endpoint to another configuration, in steps if asked");
  update->add_option("NAME", args->name, "endpoint name")->required();
  update->add_option("--config", args->config, "the endpoint configuration to deploy")->required();
  DeploymentFlags(update, *args);
  auto* rollback = add("rollback", "Move an endpoint back to the configuration it served before");
  rollback->add_option("NAME", args->name, "endpoint name")->required();
  DeploymentFlags(rollback, *args);
  auto* weights = add("weights", "Change variants' weights (and instance counts) in place");
  weights->add_option("NAME", args->name, "endpoint name")->required();
  weights->add_option("WEIGHTS", args->weights, "VARIANT=WEIGHT ...");
  weights->add_option("--instances", args->counts, "VARIANT=COUNT: instances of a variant");
  weights->add_flag("--wait", args->wait, "wait until the endpoint is InService");
}

}  // namespace cairn::cli
