// The pure parts of deployments, batch transform and endpoint metrics: DeploymentConfig as
// steps (deployment.cc), a transform input as request bodies (transform_jobs.cc), and metric
// statistics and routing by weight (metrics.cc, endpoint_fleet.cc).
#include <gtest/gtest.h>
#include <cmath>

#include "api/deployment.h"
#include "api/endpoint_fleet.h"
#include "api/metrics.h"
#include "api/transform_jobs.h"
#include "cairn/core/clock.h"
#include "cairn/storage/object_store.h"
#include "test_util.h"

namespace cairn::api {
namespace {

std::vector<double> Shares(const char* config, int instances = 4) {
  auto plan = PlanDeployment(Json::parse(config), instances);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? plan->shares : std::vector<double>{};
}

TEST(Deployment, StepsOfEachPolicy) {
  EXPECT_EQ(Shares("null"), std::vector<double>({1.0}));
  EXPECT_EQ(Shares(R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration":
                       {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}})"),
            std::vector<double>({0.25, 1.0}));
  EXPECT_EQ(Shares(R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "LINEAR",
                       "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 40}}}})"),
            std::vector<double>({0.4, 0.8, 1.0}));
  EXPECT_EQ(Shares(R"({"RollingUpdatePolicy": {"MaximumBatchSize":
                       {"Type": "INSTANCE_COUNT", "Value": 2}, "WaitIntervalInSeconds": 5}})"),
            std::vector<double>({0.5, 1.0}));
  auto plan = PlanDeployment(Json::parse(R"({"BlueGreenUpdatePolicy": {
      "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30},
      "TerminationWaitInSeconds": 60, "MaximumExecutionTimeoutInSeconds": 900},
      "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}]}})"),
                             2);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->wait_ms, 30000);
  EXPECT_EQ(plan->termination_wait_ms, 60000);
  EXPECT_EQ(plan->max_ms, 900000);
  EXPECT_EQ(plan->alarms, std::vector<std::string>({"a", "b"}));
}

TEST(Deployment, BadPoliciesAreRefusedWithTheField) {
  for (const char* bad : {
           R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "CANARY",
              "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 80}}}})",
           R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "SIDEWAYS"}}})",
           R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "LINEAR"}}})",
           R"({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
              "WaitIntervalInSeconds": 99999}}})",
           R"({"BlueGreenUpdatePolicy": {}, "RollingUpdatePolicy": {}})",
           R"({"AutoRollbackConfiguration": {"Alarms": [{}]}, "BlueGreenUpdatePolicy": {}})",
           R"("canary")"}) {
    auto plan = PlanDeployment(Json::parse(bad), 4);
    EXPECT_EQ(plan.status().code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(Transform, LinesPackIntoBatchesWithinThePayload) {
  int64_t records = 0;
  auto b = TransformBatches("1,2\n3,4\r\n\n5,6", true, true, 8, &records);
  ASSERT_OK(b.status());
  EXPECT_EQ(records, 3);
  EXPECT_EQ(*b, std::vector<std::string>({"1,2\n3,4\n", "5,6\n"}));  // 8 bytes at most a body
  b = TransformBatches("1,2\n3,4\n", true, false, 100, &records);
  ASSERT_OK(b.status());
  EXPECT_EQ(*b, std::vector<std::string>({"1,2\n", "3,4\n"}));  // SingleRecord
  b = TransformBatches("[1, 2]\n", false, true, 100, &records);
  ASSERT_OK(b.status());
  EXPECT_EQ(*b, std::vector<std::string>({"[1, 2]\n"}));  // SplitType None: as it is
  EXPECT_EQ(TransformBatches("123456789\n", true, true, 5, &records).status().code(),
            Status::Code::kInvalidArgument);  // one record past the payload
  EXPECT_EQ(TransformBatches("123456789", false, true, 5, &records).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(Transform, RequestsAreChecked) {
  const Json good = Json::parse(R"({"TransformInput": {"DataSource": {"S3DataSource":
      {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}, "SplitType": "Line"},
      "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "Line"}})");
  ASSERT_OK(ValidateTransformRequest(good));
  for (const char* patch :
       {R"({"BatchStrategy": "Everything"})", R"({"MaxPayloadInMB": 500})",
        R"({"MaxConcurrentTransforms": 1000})", R"({"TransformResources": {"InstanceCount": 99}})",
        R"({"DataProcessing": {"InputFilter": "$[1:]"}})",
        R"({"Environment": {"SAGEMAKER_PROGRAM": 1}})", R"({"Environment": ["x"]})",
        R"({"TransformOutput": {"S3OutputPath": ""}})",
        R"({"TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "x"}},
            "CompressionType": "Gzip"}})"}) {
    Json bad = good;
    bad.merge_patch(Json::parse(patch));
    EXPECT_EQ(ValidateTransformRequest(bad).code(), Status::Code::kInvalidArgument) << patch;
  }
}

TEST(Metrics, StatisticsMergeAsCloudWatchDefinesThem) {
  MetricStat a, b;
  a.Add(1);
  a.Add(3);
  b.Add(-2);
  a.Merge(b);
  EXPECT_EQ(*a.Get("SampleCount"), 3);
  EXPECT_EQ(*a.Get("Sum"), 2);
  EXPECT_EQ(*a.Get("Minimum"), -2);
  EXPECT_EQ(*a.Get("Maximum"), 3);
  EXPECT_DOUBLE_EQ(*a.Get("Average"), 2.0 / 3);
  EXPECT_FALSE(a.Get("p99x").has_value());
  EXPECT_FALSE(a.Get("Median").has_value());
  EXPECT_FALSE(a.Get("p99").has_value());  // no histogram kept for these samples
}

TEST(Metrics, PercentilesFromTheHistogramWithin4Percent) {
  MetricStat a, b;
  for (int i = 1; i <= 900; ++i) a.Add(1000 + i, true);    // 1001..1900 us
  for (int i = 1; i <= 100; ++i) b.Add(50'000 + i, true);  // a slow tail: 50001..50100 us
  a.Merge(b);
  EXPECT_NEAR(*a.Percentile(50), 1500, 1500 * 0.02);
  EXPECT_NEAR(*a.Percentile(90), 1900, 1900 * 0.02);
  EXPECT_NEAR(*a.Get("p99"), 50'099, 50'099 * 0.02);
  EXPECT_LE(*a.Get("p100"), 50'100);    // clamped to the largest sample
  EXPECT_GE(*a.Percentile(0.1), 1001);  // and to the smallest
  // Ranks are exact: p7 of 100 samples is the 7th (no floating-point rounding to the 8th).
  MetricStat hundred;
  for (int i = 1; i <= 100; ++i) hundred.Add(std::pow(MetricStat::kBinRatio, 10 * i), true);
  for (int p : {7, 14, 28, 55, 56})
    EXPECT_NEAR(*hundred.Percentile(p), std::pow(MetricStat::kBinRatio, 10 * p),
                std::pow(MetricStat::kBinRatio, 10 * p) * 0.03)
        << p;
  EXPECT_TRUE(MetricStat::IsPercentile("p99.9"));
  EXPECT_TRUE(MetricStat::IsPercentile("p0.1"));
  for (const char* bad :
       {"p", "p0", "p101", "pabc", "P99", "p-1", "p9x", "p0.01", "p1e1", "p0x1A", "p.5", "p5."})
    EXPECT_FALSE(MetricStat::IsPercentile(bad)) << bad;
}

TEST(Metrics, HistogramsSurviveTheStoreAndMergeAcrossServers) {
  cairn::testing::TempDir dir;
  auto store = OpenStore(dir.path() + "/store");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const int64_t start = NowMs() - 60'000, end = NowMs() + 60'000;
  {
    EndpointMetrics a(**store, "server-a"), b(**store, "server-b");
    for (int i = 0; i < 99; ++i) a.Record("ep", "v", 200, 1000, 50);  // 1 ms
    b.Record("ep", "v", 200, 100'000, 50);                            // one of 100 ms
    ASSERT_TRUE(a.Flush().ok());
    ASSERT_TRUE(b.Flush().ok());
  }
  EndpointMetrics reader(**store, "reader");  // a third server: only what the store holds
  auto q = reader.Query("ep", "", "ModelLatency", start, end, 300);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  MetricStat all;
  for (const auto& [t, s] : *q) all.Merge(s);
  EXPECT_EQ(all.n, 100);
  EXPECT_NEAR(*all.Percentile(50), 1000, 20);
  EXPECT_NEAR(*all.Percentile(99), 1000, 20);  // the 99th of 100 is still 1 ms
  EXPECT_NEAR(*all.Percentile(100), 100'000, 2000);
  auto inv = reader.Query("ep", "", "Invocations", start, end, 300);
  ASSERT_TRUE(inv.ok());
  MetricStat count;
  for (const auto& [t, s] : *inv) count.Merge(s);
  EXPECT_EQ(count.sum, 100);
  EXPECT_FALSE(count.Get("p50").has_value());  // counts keep no histogram
}

TEST(Fleet, PickFollowsWeightsAndTargets) {
  Fleet f;
  for (const char* name : {"a", "b", "c"}) {
    auto v = std::make_shared<Variant>();
    v->spec.name = name;
    f.variants.push_back(v);
  }
  f.weights = {3, 0, 1};
  EXPECT_EQ(f.Pick("", 0.0)->spec.name, "a");
  EXPECT_EQ(f.Pick("", 0.74)->spec.name, "a");
  EXPECT_EQ(f.Pick("", 0.76)->spec.name, "c");  // b has no weight: never drawn
  EXPECT_EQ(f.Pick("", 0.999999)->spec.name, "c");
  EXPECT_EQ(f.Pick("b", 0.1)->spec.name, "b");  // but can be named
  EXPECT_EQ(f.Pick("z", 0.1), nullptr);
  f.weights = {0, 0, 0};
  EXPECT_EQ(f.Pick("", 0.5), nullptr);
}

}  // namespace
}  // namespace cairn::api
