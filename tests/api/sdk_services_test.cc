// The services the SageMaker SDK reaches besides SageMaker (src/api/logs_ops.cc, query_ops.cc,
// tags_ops.cc), through HandleRequest with requests signed for each service.
#include "api/dispatch_fixture.h"
#include "cairn/registry/layout.h"
#include "cairn/training/job.h"

namespace cairn::api {
namespace {

Json Parse(const net::HttpResponse& r) { return Json::parse(r.body); }

TEST_F(Dispatch, StsAndIamAnswerTheCallersRole) {
  auto r = Call("", "Action=GetCallerIdentity&Version=2011-06-15", "sts");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/xml");
  EXPECT_NE(r.body.find("<Arn>arn:aws:iam::000000000000:role/cairn</Arn>"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("<Account>000000000000</Account>"), std::string::npos);
  r = Call("", "Action=GetRole&RoleName=cairn&Version=2010-05-08", "iam");
  EXPECT_NE(r.body.find("<RoleName>cairn</RoleName>"), std::string::npos) << r.body;
  r = Call("", "Action=GetRole&RoleName=other&Version=2010-05-08", "iam");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("<Code>NoSuchEntity</Code>"), std::string::npos);
  r = Call("", "Action=AssumeRole", "sts");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("InvalidAction"), std::string::npos);
}

TEST_F(Dispatch, LogsReadATrainingJobsLogByForwardTokens) {
  JobStore jobs(registry_->store());
  TrainingJob job;
  job.name = "job-1";
  job.created_ms = 1'700'000'000'000;
  ASSERT_OK(jobs.Create(job));
  ASSERT_OK(jobs.AppendLog("job-1", "algo-1", 1, "epoch=0 loss=1\nepoch=1 "));
  ASSERT_OK(jobs.AppendLog("job-1", "algo-1", 2, "loss=0.5\n"));
  ASSERT_OK(jobs.AppendLog("job-1", "algo-2", 1, "other host\n"));
  const std::string group = R"("logGroupName": "/aws/sagemaker/TrainingJobs")";
  auto r = Call("DescribeLogStreams", "{" + group + R"(, "logStreamNamePrefix": "job-1/"})", "logs",
                "Logs_20140328.");
  ASSERT_EQ(r.status, 200) << r.body;
  Json streams = Parse(r)["logStreams"];
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[0]["logStreamName"], "job-1/algo-1-1700000000");
  auto get = [&](const std::string& extra) {
    return Parse(
        Call("GetLogEvents",
             "{" + group + R"(, "logStreamName": "job-1/algo-1-1700000000", )" + extra + "}",
             "logs", "Logs_20140328."));
  };
  Json page = get(R"("startFromHead": true, "limit": 1)");
  ASSERT_EQ(page["events"].size(), 1u);
  EXPECT_EQ(page["events"][0]["message"], "epoch=0 loss=1");
  Json next = get(R"("nextToken": ")" + page["nextForwardToken"].get<std::string>() + "\"");
  ASSERT_EQ(next["events"].size(), 1u);
  EXPECT_EQ(next["events"][0]["message"], "epoch=1 loss=0.5");  // joined across pieces
  Json end = get(R"("nextToken": ")" + next["nextForwardToken"].get<std::string>() + "\"");
  EXPECT_TRUE(end["events"].empty());
  EXPECT_EQ(end["nextForwardToken"], next["nextForwardToken"]);  // polled again later
  // Filtering across the job's streams.
  Json found = Parse(Call("FilterLogEvents", "{" + group + R"(, "filterPattern": "loss"})", "logs",
                          "Logs_20140328."));
  EXPECT_EQ(found["events"].size(), 2u);
  // Unknown groups and streams are CloudWatch's ResourceNotFoundException.
  r = Call("DescribeLogStreams", R"({"logGroupName": "/nope"})", "logs", "Logs_20140328.");
  EXPECT_EQ(Code(r), "ResourceNotFoundException");
  r = Call("GetLogEvents", "{" + group + R"(, "logStreamName": "job-9/algo-1-1"})", "logs",
           "Logs_20140328.");
  EXPECT_EQ(Code(r), "ResourceNotFoundException");
  EXPECT_EQ(
      Code(Call("GetLogEvents", "{" + group + R"(, "nextToken": "zz"})", "logs", "Logs_20140328.")),
      "InvalidParameterException");  // no logStreamName
  // An endpoint's group holds its instances' output, stream "<variant>/<instance>".
  ASSERT_OK(AppendLogPiece(registry_->store(), layout::EndpointLogsPrefix("ep"),
                           "AllTraffic/i-0001", 1, "cairn-serve: loaded\n"));
  const std::string ep_group = R"("logGroupName": "/aws/sagemaker/Endpoints/ep")";
  streams = Parse(Call("DescribeLogStreams", "{" + ep_group + "}", "logs", "Logs_20140328."));
  ASSERT_EQ(streams["logStreams"].size(), 1u) << streams;
  EXPECT_EQ(streams["logStreams"][0]["logStreamName"], "AllTraffic/i-0001");
  Json ep_events =
      Parse(Call("GetLogEvents", "{" + ep_group + R"(, "logStreamName": "AllTraffic/i-0001"})",
                 "logs", "Logs_20140328."));
  ASSERT_EQ(ep_events["events"].size(), 1u);
  EXPECT_EQ(ep_events["events"][0]["message"], "cairn-serve: loaded");
  r = Call("DescribeLogStreams", R"({"logGroupName": "/aws/sagemaker/Endpoints/none"})", "logs",
           "Logs_20140328.");
  EXPECT_EQ(Code(r), "ResourceNotFoundException");
}

TEST_F(Dispatch, TagsOnAnyArnAndAtCreation) {
  const std::string arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/e";
  auto r = Call("AddTags",
                R"({"ResourceArn": ")" + arn +
                    R"(", "Tags": [{"Key": "team", "Value": "a"}, {"Key": "x", "Value": "1"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(Call("ListTags", R"({"ResourceArn": ")" + arn + "\"}"))["Tags"].size(), 2u);
  ASSERT_EQ(Call("DeleteTags", R"({"ResourceArn": ")" + arn + R"(", "TagKeys": ["x"]})").status,
            200);
  Json tags = Parse(Call("ListTags", R"({"ResourceArn": ")" + arn + "\"}"))["Tags"];
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0]["Key"], "team");
  EXPECT_EQ(Code(Call("ListTags", R"({"ResourceArn": "arn:aws:s3:::bucket"})")),
            "ValidationException");
  EXPECT_EQ(Code(Call("AddTags", R"({"ResourceArn": ")" + arn + R"(", "Tags": [{"Key": ""}]})")),
            "ValidationException");
  // Tags given to a Create* are kept with the new resource.
  ASSERT_EQ(Call("CreateModelPackageGroup",
                 R"({"ModelPackageGroupName": "g", "Tags": [{"Key": "owner", "Value": "me"}]})")
                .status,
            200);
  tags = Parse(
      Call("ListTags",
           R"({"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/g"})"))
      ["Tags"];
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0]["Value"], "me");
}

}  // namespace
}  // namespace cairn::api
