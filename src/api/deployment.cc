#include "deployment.h"

#include <algorithm>
#include <cmath>

namespace cairn::api {

namespace {

// A CapacitySize ({"Type": "INSTANCE_COUNT" | "CAPACITY_PERCENT", "Value": n}) as a share.
Result<double> Share(const Json& size, int instances, const std::string& field) {
  if (!size.is_object() || !size.contains("Value") || !size["Value"].is_number_integer())
    return Status::InvalidArgument(field + " needs a Type and an integer Value");
  const std::string type = size.value("Type", "");
  const int64_t value = size["Value"].get<int64_t>();
  double share = 0;
  if (type == "INSTANCE_COUNT") {
    share = static_cast<double>(value) / std::max(instances, 1);
  } else if (type == "CAPACITY_PERCENT") {
    share = static_cast<double>(value) / 100.0;
  } else {
    return Status::InvalidArgument(field + ".Type must be INSTANCE_COUNT or CAPACITY_PERCENT");
  }
  if (value < 1 || share > 0.5)
    return Status::InvalidArgument(field + " must be at least 1 and at most 50% of the fleet");
  return share;
}

Result<int64_t> Seconds(const Json& obj, const char* field, int64_t lo, int64_t hi, int64_t dflt) {
  if (!obj.contains(field)) return dflt;
  if (!obj[field].is_number_integer() || obj[field].get<int64_t>() < lo ||
      obj[field].get<int64_t>() > hi)
    return Status::InvalidArgument(std::string(field) + " must be " + std::to_string(lo) + ".." +
                                   std::to_string(hi) + " seconds");
  return obj[field].get<int64_t>();
}

std::vector<double> Linear(double step) {
  std::vector<double> shares;
  for (int i = 1; i * step < 1.0 - 1e-9; ++i) shares.push_back(i * step);
  shares.push_back(1.0);
  return shares;
}

}  // namespace

Result<DeploymentPlan> PlanDeployment(const Json& config, int instances) {
  DeploymentPlan plan;
  plan.shares = {1.0};
  if (config.is_null() || (config.is_object() && config.empty())) return plan;
  if (!config.is_object()) return Status::InvalidArgument("DeploymentConfig must be an object");
  if (config.contains("AutoRollbackConfiguration")) {
    for (const Json& a : config["AutoRollbackConfiguration"].value("Alarms", Json::array())) {
      if (!a.is_object() || !a.contains("AlarmName") || !a["AlarmName"].is_string())
        return Status::InvalidArgument("AutoRollbackConfiguration.Alarms need an AlarmName");
      plan.alarms.push_back(a["AlarmName"].get<std::string>());
    }
  }
  const bool blue_green = config.contains("BlueGreenUpdatePolicy");
  const bool rolling = config.contains("RollingUpdatePolicy");
  if (blue_green == rolling)
    return Status::InvalidArgument(
        "DeploymentConfig needs exactly one of BlueGreenUpdatePolicy and RollingUpdatePolicy");
  if (rolling) {
    const Json& r = config["RollingUpdatePolicy"];
    CAIRN_ASSIGN_OR_RETURN(const double step, Share(r.value("MaximumBatchSize", Json()), instances,
                                                    "RollingUpdatePolicy.MaximumBatchSize"));
    CAIRN_ASSIGN_OR_RETURN(const int64_t wait, Seconds(r, "WaitIntervalInSeconds", 0, 3600, 0));
    CAIRN_ASSIGN_OR_RETURN(const int64_t max,
                           Seconds(r, "MaximumExecutionTimeoutInSeconds", 600, 28800, 0));
    plan.type = "ROLLING";
    plan.shares = Linear(step);
    plan.wait_ms = wait * 1000;
    plan.max_ms = max * 1000;
    return plan;
  }
  const Json& bg = config["BlueGreenUpdatePolicy"];
  if (!bg.is_object()) return Status::InvalidArgument("BlueGreenUpdatePolicy must be an object");
  const Json routing = bg.value("TrafficRoutingConfiguration", Json::object());
  plan.type = routing.value("Type", "ALL_AT_ONCE");
  CAIRN_ASSIGN_OR_RETURN(const int64_t wait, Seconds(routing, "WaitIntervalInSeconds", 0, 3600, 0));
  CAIRN_ASSIGN_OR_RETURN(const int64_t termination,
                         Seconds(bg, "TerminationWaitInSeconds", 0, 3600, 0));
  CAIRN_ASSIGN_OR_RETURN(const int64_t max,
                         Seconds(bg, "MaximumExecutionTimeoutInSeconds", 600, 14400, 0));
  plan.wait_ms = wait * 1000;
  plan.termination_wait_ms = termination * 1000;
  plan.max_ms = max * 1000;
  if (plan.type == "ALL_AT_ONCE") {
    plan.shares = {1.0};
  } else if (plan.type == "CANARY") {
    CAIRN_ASSIGN_OR_RETURN(const double canary,
                           Share(routing.value("CanarySize", Json()), instances, "CanarySize"));
    plan.shares = {canary, 1.0};
  } else if (plan.type == "LINEAR") {
    CAIRN_ASSIGN_OR_RETURN(const double step, Share(routing.value("LinearStepSize", Json()),
                                                    instances, "LinearStepSize"));
    plan.shares = Linear(step);
  } else {
    return Status::InvalidArgument(
        "TrafficRoutingConfiguration.Type must be ALL_AT_ONCE, CANARY or LINEAR");
  }
  return plan;
}

}  // namespace cairn::api
