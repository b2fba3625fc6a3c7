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
#include "cairn/storage/forwarding_store.h"
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

TEST(Transform, BodiesCutAsTheObjectArrivesAreTheSameInAnyPieces) {
  const std::string object = "1,2\n\n3,4\r\n55,66,77\n8\n9,9";
  for (bool multi : {true, false})
    for (size_t piece : {1, 2, 3, 7, 100}) {
      int64_t records = 0;
      auto whole = TransformBatches(object, true, multi, 10, &records);
      ASSERT_OK(whole.status());
      std::vector<std::string> got;
      BatchCutter cut(true, multi, 10, [&](std::string body) {
        got.push_back(std::move(body));
        return Status::OK();
      });
      for (size_t at = 0; at < object.size(); at += piece)
        ASSERT_OK(cut.Feed(std::string_view(object).substr(at, piece)));
      ASSERT_OK(cut.Finish());
      EXPECT_EQ(got, *whole) << "pieces of " << piece;
      EXPECT_EQ(cut.records(), records);
      EXPECT_EQ(records, 5);
    }
  // A line past the payload is refused while it arrives, before its end is seen.
  BatchCutter cut(true, true, 4, [](std::string) { return Status::OK(); });
  EXPECT_EQ(cut.Feed("123").code(), Status::Code::kOk);
  EXPECT_EQ(cut.Feed("456").code(), Status::Code::kInvalidArgument);
  // An error of the receiver stops the cutting and is returned.
  BatchCutter stopped(true, false, 10, [](std::string) { return Status::Internal("stop"); });
  EXPECT_EQ(stopped.Feed("1\n2\n").code(), Status::Code::kInternal);
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

TEST(Metrics, AReadListsOnlyTheMinutesItAsksFor) {
  // Prefixes cover every stamp from lo to hi, and little else.
  const int64_t lo = 1'764'554'400'000, hi = lo + 15 * 60'000 - 1;
  const auto prefixes = EndpointMetrics::MinuteKeyPrefixes(lo, hi);
  ASSERT_FALSE(prefixes.empty());
  EXPECT_LE(prefixes.size(), 4u);
  auto covered = [&](int64_t t) {
    const std::string s = std::to_string(t);
    for (const auto& p : prefixes)
      if (s.compare(0, p.size(), p) == 0) return true;
    return false;
  };
  for (int64_t t = lo; t <= hi; t += 60'000) EXPECT_TRUE(covered(t)) << t;
  EXPECT_TRUE(covered(hi));
  EXPECT_FALSE(covered(lo - 3'600'000 * 24));  // a day before: not listed
  EXPECT_FALSE(covered(hi + 3'600'000 * 24));
  EXPECT_EQ(EndpointMetrics::MinuteKeyPrefixes(999, 1000), std::vector<std::string>({""}));
  EXPECT_TRUE(EndpointMetrics::MinuteKeyPrefixes(5, 4).empty());
  EXPECT_EQ(EndpointMetrics::MinuteKeyPrefixes(1234, 1234), std::vector<std::string>({"1234"}));
  EXPECT_EQ(EndpointMetrics::MinuteKeyPrefixes(1'000'000'000'000'000'000, INT64_MAX),
            std::vector<std::string>({""}));  // 19 digits, far apart: no overflow

  // A store that counts its listings' keys: a read of 15 minutes out of 3 days of minutes.
  cairn::testing::TempDir dir;
  auto store = OpenStore(dir.path() + "/store");
  ASSERT_TRUE(store.ok());
  const int64_t now = NowMs() / 60'000 * 60'000;
  const std::string prefix = "api/metrics/AWS/SageMaker/ep/v/";
  PutOptions quick;
  quick.sync = false;
  for (int64_t m = now - 3 * 86'400'000; m <= now; m += 60'000) {
    const Json j = {{"Invocations", {{std::to_string(m), {1, 1.0, 1.0, 1.0}}}}};
    ASSERT_OK(
        PutString(**store, prefix + std::to_string(m) + "-old.json", j.dump(), quick).status());
  }
  {
    EndpointMetrics writer(**store, "new");  // names variant v, and the variant "1"
    writer.Record("ep", "v", 200, 1000, 50);
    writer.Record("ep", "1", 200, 1000, 50);
    ASSERT_OK(writer.Flush());
  }
  // A variant whose minute was written by a cairn that kept no names.
  ASSERT_OK(
      PutString(**store, "api/metrics/AWS/SageMaker/ep/w/" + std::to_string(now) + "-old.json",
                Json{{"Invocations", {{std::to_string(now), {5, 5.0, 1.0, 1.0}}}}}.dump(), quick)
          .status());
  struct Counting : ForwardingStore {
    using ForwardingStore::ForwardingStore;
    Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
      auto r = ForwardingStore::List(prefix);
      if (r.ok()) listed += static_cast<int64_t>(r->size());
      return r;
    }
    int64_t listed = 0;
  };
  Counting counting(std::move(*store));
  EndpointMetrics reader(counting, "reader", 0);
  const int64_t start = now - 14 * 60'000, end = now + 2 * 60'000;
  auto q = reader.Query("ep", "", "Invocations", start, end, 60);
  ASSERT_OK(q.status());
  double sum = 0;
  for (const auto& [t, s] : *q) sum += s.sum;
  EXPECT_EQ(sum, 15 + 1 + 1);  // 15 minutes of the old server's, the new one's 2 requests
  EXPECT_LT(counting.listed, 300) << "keys listed to read 15 minutes out of 4,324";

  // Retention: minutes that ended before the cut are deleted, the others and the names kept.
  auto pruned = reader.Prune(now - 86'400'000);  // lists everything, once
  ASSERT_OK(pruned.status());
  EXPECT_EQ(*pruned, 2 * 1440);  // the first two days' minutes
  auto left = counting.List(prefix);
  ASSERT_OK(left.status());
  EXPECT_EQ(left->size(), 1440u + 1 + 1);  // the last day, the minute `now`, the new server's
  auto again = reader.Query("ep", "v", "Invocations", start, end, 60);
  ASSERT_OK(again.status());
  sum = 0;
  for (const auto& [t, s] : *again) sum += s.sum;
  EXPECT_EQ(sum, 16);
  // Names kept (even one of digits alone), and the unnamed variant w named by the pass.
  auto all = reader.Query("ep", "", "Invocations", start, end, 60);
  ASSERT_OK(all.status());
  sum = 0;
  for (const auto& [t, s] : *all) sum += s.sum;
  EXPECT_EQ(sum, 16 + 1 + 5);
  // A bounded pass deletes at most what it is allowed.
  auto bounded = reader.Prune(now + 86'400'000, 7);
  ASSERT_OK(bounded.status());
  EXPECT_EQ(*bounded, 7);
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
