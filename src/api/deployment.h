// Private to api: UpdateEndpoint's DeploymentConfig as a plan of traffic steps
// (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html):
//   BlueGreenUpdatePolicy.TrafficRoutingConfiguration
//     ALL_AT_ONCE  every request to the new (green) fleet at once
//     CANARY       CanarySize of the traffic first, the rest after WaitIntervalInSeconds
//     LINEAR       LinearStepSize more traffic every WaitIntervalInSeconds
//   each step baked for WaitIntervalInSeconds, the last one also for TerminationWaitInSeconds,
//   the whole within MaximumExecutionTimeoutInSeconds;
//   RollingUpdatePolicy: MaximumBatchSize of the capacity per step, as LINEAR (cairn's
//   instances are local processes, so the new fleet is made whole first);
//   AutoRollbackConfiguration.Alarms: if one is in ALARM while a step bakes, every request goes
//   back to the old (blue) fleet and the new one is removed.
// A size is INSTANCE_COUNT (of the new fleet's instances) or CAPACITY_PERCENT, as a share of
// requests here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api.h"

namespace cairn::api {

struct DeploymentPlan {
  std::string type = "ALL_AT_ONCE";  // ALL_AT_ONCE, CANARY, LINEAR, ROLLING
  std::vector<double> shares;        // the new fleet's share of requests at each step; last 1.0
  int64_t wait_ms = 0;               // baking after each step
  int64_t termination_wait_ms = 0;   // after the last step, before the old fleet goes
  int64_t max_ms = 0;                // the whole deployment; 0: no limit
  std::vector<std::string> alarms;   // AutoRollbackConfiguration's alarm names
};

// The plan for `deployment_config` (UpdateEndpoint's DeploymentConfig; null or {}: all at once,
// no baking) when the new fleet has `instances` instances. kInvalidArgument naming the field,
// with SageMaker's limits (canary and linear steps of at most 50%, waits of at most 3600 s,
// MaximumExecutionTimeoutInSeconds 600..14400).
Result<DeploymentPlan> PlanDeployment(const Json& deployment_config, int instances);

}  // namespace cairn::api
