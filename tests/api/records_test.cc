// cairn server's records (src/api/records.h) and its request dispatch (src/api/dispatch.cc): one
// table of errors, create-if-absent, and what boto3 sees for bad requests.
#include "api/records.h"

#include <thread>

#include "api/api.h"
#include "api/dispatch_fixture.h"
#include "test_util.h"

namespace cairn::api {
namespace {

TEST(Records, RoundTripAndStatusNames) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_OK(store.status());
  RecordStore<EndpointRecord> endpoints(**store);
  EndpointRecord r;
  r.name = "e";
  r.config = "c1";
  r.pending_config = "c2";
  r.status = EndpointStatus::kUpdating;
  r.failure = "why";
  r.created_ms = 1;
  r.modified_ms = 2;
  ASSERT_OK(endpoints.Create(r));
  auto back = endpoints.Get("e");
  ASSERT_OK(back.status());
  EXPECT_EQ(back->config, "c1");
  EXPECT_EQ(back->pending_config, "c2");
  EXPECT_EQ(back->status, EndpointStatus::kUpdating);
  EXPECT_EQ(back->failure, "why");
  EXPECT_EQ(back->modified_ms, 2);
  EXPECT_EQ(endpoints.Create(r).code(), Status::Code::kAlreadyExists);
  r.status = EndpointStatus::kInService;
  ASSERT_OK(endpoints.Put(r));
  EXPECT_EQ(endpoints.Get("e")->status, EndpointStatus::kInService);
  EXPECT_EQ(endpoints.Get("nope").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(*endpoints.ListNames(), std::vector<std::string>{"e"});
  ASSERT_OK(endpoints.Delete("e"));
  EXPECT_TRUE(endpoints.List()->empty());
  for (auto s : {EndpointStatus::kCreating, EndpointStatus::kUpdating, EndpointStatus::kInService,
                 EndpointStatus::kFailed, EndpointStatus::kDeleting})
    EXPECT_EQ(*ParseEndpointStatus(EndpointStatusName(s)), s);
  EXPECT_FALSE(ParseEndpointStatus("Running").ok());
  // A damaged record is kCorrupt, not an exception.
  ASSERT_OK(PutString(**store, layout::ResourceKey("endpoints", "bad"), "[1, 2]").status());
  EXPECT_EQ(endpoints.Get("bad").status().code(), Status::Code::kCorrupt);
  ASSERT_OK(PutString(**store, layout::ResourceKey("endpoints", "bad"),
                      R"({"name": "bad", "status": "Sleeping"})")
                .status());
  EXPECT_EQ(endpoints.Get("bad").status().code(), Status::Code::kCorrupt);
  ASSERT_OK(PutString(**store, layout::ResourceKey("models", "m"), R"({"name": "m", "ref": 3})")
                .status());
  EXPECT_EQ(RecordStore<ModelRecord>(**store).Get("m").status().code(), Status::Code::kCorrupt);
}

TEST(Records, OfSixteenRacingCreatesExactlyOneWins) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_OK(store.status());
  RecordStore<EndpointConfigRecord> configs(**store);
  std::vector<Status> results(16);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      EndpointConfigRecord r;
      r.name = "cfg";
      r.created_ms = i;
      results[i] = configs.Create(r);
    });
  }
  for (auto& t : threads) t.join();
  int won = 0, in_use = 0;
  for (const auto& st : results) {
    won += st.ok();
    in_use += st.code() == Status::Code::kAlreadyExists;
  }
  EXPECT_EQ(won, 1);
  EXPECT_EQ(in_use, 15);
}

TEST(Errors, OneTableFromStatusToSageMaker) {
  EXPECT_EQ(ErrorFor(Status::InvalidArgument("x")).code, "ValidationException");
  EXPECT_EQ(ErrorFor(Status::Corrupt("x")).code, "ValidationException");
  EXPECT_EQ(ErrorFor(Status::NotFound("x")).code, "ResourceNotFound");
  EXPECT_EQ(ErrorFor(Status::AlreadyExists("x")).code, "ResourceInUse");
  EXPECT_EQ(ErrorFor(Status::PreconditionFailed("x")).code, "ConflictException");
  const ApiError internal = ErrorFor(Status::IOError("disk"));
  EXPECT_EQ(internal.code, "InternalFailure");
  EXPECT_EQ(internal.http_status, 500);
  EXPECT_EQ(internal.message, "disk");
}

TEST_F(Dispatch, BadRequestsGetSageMakersErrors) {
  EXPECT_EQ(Code(Call("NoSuchOperation", "{}")), "UnknownOperationException");
  EXPECT_EQ(Code(Call("DescribeModel", "not json")), "SerializationException");
  auto r = Call("DescribeModel", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "ValidationException");
  EXPECT_NE(r.body.find("ModelName"), std::string::npos) << r.body;
  EXPECT_EQ(Code(Call("DescribeModel", R"({"ModelName": 7})")), "ValidationException");
  r = Call("DescribeModel", R"({"ModelName": "m"})");
  EXPECT_EQ(Code(r), "ValidationException");  // as SageMaker: "Could not find model"
  EXPECT_NE(r.body.find("Could not find model"), std::string::npos) << r.body;
  EXPECT_EQ(Code(Call("DescribeModelPackageGroup", R"({"ModelPackageGroupName": "g"})")),
            "ResourceNotFound");
  EXPECT_EQ(Code(Call("ListModelPackageGroups", R"({"NextToken": "x1"})")), "ValidationException");
}

TEST_F(Dispatch, CreatesAreCreateIfAbsent) {
  EXPECT_EQ(Call("CreateModelPackageGroup", R"({"ModelPackageGroupName": "g"})").status, 200);
  auto again = Call("CreateModelPackageGroup", R"({"ModelPackageGroupName": "g"})");
  EXPECT_EQ(Code(again), "ValidationException");
  EXPECT_NE(again.body.find("already exists"), std::string::npos);
  auto listed = Call("ListModelPackageGroups", "{}");
  EXPECT_NE(listed.body.find(R"("ModelPackageGroupName":"g")"), std::string::npos) << listed.body;
  // An endpoint configuration needs its model; a missing one is named.
  auto cfg = Call("CreateEndpointConfig",
                  R"({"EndpointConfigName": "c", "ProductionVariants": [{"ModelName": "m",
                      "VariantName": "v"}]})");
  EXPECT_EQ(Code(cfg), "ValidationException");
  EXPECT_NE(cfg.body.find("Could not find model"), std::string::npos) << cfg.body;
  // Variants are checked: a name given twice, a weight below 0, too many instances.
  for (const char* variants :
       {R"([{"ModelName": "m", "VariantName": "v"}, {"ModelName": "m", "VariantName": "v"}])",
        R"([{"ModelName": "m", "VariantName": "v", "InitialVariantWeight": -1}])",
        R"([{"ModelName": "m", "VariantName": "v", "InitialInstanceCount": 99}])", "[]"}) {
    auto bad = Call("CreateEndpointConfig", std::string(R"({"EndpointConfigName": "c", )") +
                                                R"("ProductionVariants": )" + variants + "}");
    EXPECT_EQ(Code(bad), "ValidationException") << variants;
    EXPECT_EQ(bad.body.find("Could not find model"), std::string::npos) << bad.body;
  }
  EXPECT_EQ(Code(Call("DeleteEndpoint", R"({"EndpointName": "e"})")), "ValidationException");
  // A model's Environment is a map of strings (a number would have ended the server's deploy
  // thread before: review of 2026-11-30).
  for (const char* env : {R"([])", R"("x")", R"({"SAGEMAKER_PROGRAM": 1})"}) {
    auto bad =
        Call("CreateModel", std::string(R"({"ModelName": "m", "PrimaryContainer": )") +
                                R"({"ModelDataUrl": "/nope.tar.gz", "Environment": )" + env + "}}");
    EXPECT_EQ(Code(bad), "ValidationException") << env;
    EXPECT_NE(bad.body.find("Environment"), std::string::npos) << bad.body;
  }
  EXPECT_EQ(Code(Call("UpdateEndpoint", R"({"EndpointName": "e", "EndpointConfigName": "c"})")),
            "ValidationException");
}

}  // namespace
}  // namespace cairn::api
