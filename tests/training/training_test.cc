// The training layer's parts on their own: the toolkit's argument rules, job names and records,
// metric definitions, the checkpoint mirror, and tree transfers.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "cairn/core/file.h"
#include "cairn/storage/transfer.h"
#include "cairn/training/job.h"
#include "test_util.h"
#include "training/checkpoint_mirror.h"
#include "training/contract.h"
#include "training/metrics.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using training::ArgumentValue;
using training::DecodeHyperparameter;

std::string Arg(const std::string& raw) { return ArgumentValue(DecodeHyperparameter(raw)); }

TEST(Contract, ValuesRenderAsPythonStr) {
  EXPECT_EQ(Arg("5"), "5");
  EXPECT_EQ(Arg("0.1"), "0.1");
  EXPECT_EQ(Arg("1e3"), "1000.0");
  EXPECT_EQ(Arg("true"), "True");
  EXPECT_EQ(Arg("null"), "");
  EXPECT_EQ(Arg("\"quoted\""), "quoted");
  EXPECT_EQ(Arg("not json"), "not json");
  EXPECT_EQ(Arg("[1, \"a\", false]"), "[1, 'a', False]");
  EXPECT_EQ(Arg("{\"b\": 2, \"a\": \"x\"}"), "a=x,b=2");
  EXPECT_EQ(Arg("[\"it's\"]"), "[\"it's\"]");
}

TEST(Contract, ArgumentsSortedToolkitKeysLeftOut) {
  auto args = training::HyperparameterArgs(
      {{"lr", "0.1"}, {"b", "2"}, {"epochs", "3"}, {"sagemaker_program", "train.py"}});
  EXPECT_EQ(args, (std::vector<std::string>{"-b", "2", "--epochs", "3", "--lr", "0.1"}));
}

TEST(Contract, EnvironmentPointsIntoTheWorkspace) {
  training::HostContract c;
  c.job_name = "j";
  c.root = "/w/j/algo-2";
  c.host = "algo-2";
  c.hosts = {"algo-1", "algo-2"};
  c.hyperparameters = {{"epochs", "3"}, {"name", "x"}};
  c.channels = {"train"};
  c.entry_point = "train.py";
  auto env = training::ContractEnvironment(c);
  EXPECT_EQ(env["SM_MODEL_DIR"], "/w/j/algo-2/model");
  EXPECT_EQ(env["SM_CHANNEL_TRAIN"], "/w/j/algo-2/input/data/train");
  EXPECT_EQ(env["SM_HP_EPOCHS"], "3");
  EXPECT_EQ(env["SM_HP_NAME"], "x");
  EXPECT_EQ(env["SM_HPS"], "{\"epochs\":3,\"name\":\"x\"}");
  EXPECT_EQ(env["SM_HOSTS"], "[\"algo-1\",\"algo-2\"]");
  EXPECT_EQ(env["RANK"], "1");
  EXPECT_EQ(env["WORLD_SIZE"], "2");
  EXPECT_EQ(env["SM_MODULE_NAME"], "train");
}

TEST(Jobs, NamesRecordsAndNoReuse) {
  EXPECT_EQ(JobNameFromBase("my_job", 1764355496123), "my-job-2025-11-28-18-44-56-123");
  EXPECT_EQ(JobNameFromBase(std::string(100, 'a'), 0).size(), 63u);
  EXPECT_FALSE(ValidateJobName("-bad").ok());
  EXPECT_FALSE(ValidateJobName("has space").ok());
  testing::TempDir dir;
  auto store = OpenStore(dir.File("store"));
  ASSERT_OK(store.status());
  JobStore jobs(**store);
  TrainingJob job;
  job.name = "job-1";
  job.final_metrics["loss"] = 0.25;
  job.spec.hyperparameters["epochs"] = "3";
  job.spec.metric_definitions.push_back({"loss", "loss=(\\S+)"});
  job.transitions.push_back({"Starting", "go", 1, 2});
  ASSERT_OK(jobs.Create(job));
  EXPECT_EQ(jobs.Create(job).code(), Status::Code::kAlreadyExists);
  auto back = jobs.Load("job-1");
  ASSERT_OK(back.status());
  EXPECT_EQ(TrainingJobToJson(*back), TrainingJobToJson(job));
  EXPECT_EQ(jobs.Load("job-2").status().code(), Status::Code::kNotFound);
  ASSERT_OK(jobs.AppendLog("job-1", "algo-1", 1, "a\n"));
  ASSERT_OK(jobs.AppendLog("job-1", "algo-1", 2, "b\n"));
  auto logs = jobs.ReadLogs("job-1", {{"algo-1", 1}});
  ASSERT_OK(logs.status());
  ASSERT_EQ(logs->size(), 1u);
  EXPECT_EQ((*logs)[0].bytes, "b\n");
  EXPECT_FALSE(*jobs.StopRequested("job-1"));
  ASSERT_OK(jobs.RequestStop("job-1"));
  EXPECT_TRUE(*jobs.StopRequested("job-1"));
  EXPECT_EQ(jobs.RequestStop("nope").code(), Status::Code::kNotFound);
}

TEST(Metrics, DefinitionsParseAndBadOnesAreRefused) {
  EXPECT_FALSE(training::MetricParser::Create({{"loss", "loss=("}}).ok());
  EXPECT_FALSE(training::MetricParser::Create({{"loss", "loss=\\S+"}}).ok());  // no group
  auto p = training::MetricParser::Create({{"loss", "loss=([-0-9.e]+)"}, {"acc", "acc: (\\S+)"}});
  ASSERT_OK(p.status());
  std::vector<MetricPoint> out;
  p->Parse("epoch 1 loss=0.5 acc: 0.9", 7, &out);
  p->Parse("loss=oops", 8, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "loss");
  EXPECT_DOUBLE_EQ(out[0].value, 0.5);
  EXPECT_DOUBLE_EQ(out[1].value, 0.9);
}

TEST(CheckpointMirror, UploadsCompletedFilesAndDeletes) {
  testing::TempDir dir;
  const std::string local = dir.File("ckpt"), remote = dir.File("remote");
  fs::create_directories(remote);
  ASSERT_OK(WriteFileAtomically(remote + "/old.pth", "old"));
  ASSERT_OK(DownloadTree(remote, local).status());
  auto m = training::CheckpointMirror::Start(local, remote);
  ASSERT_OK(m.status());
  ASSERT_OK(WriteFileAtomically(local + "/a.pth", "a"));  // written, then renamed into place
  fs::create_directories(local + "/sub");
  ASSERT_OK(WriteFileAtomically(local + "/sub/b.pth", "b"));
  // A file still open for writing is not uploaded.
  int fd = ::open((local + "/open.pth").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  fs::remove(local + "/old.pth");
  ASSERT_OK((*m)->Flush());
  EXPECT_EQ(*ReadFileToString(remote + "/a.pth"), "a");
  EXPECT_EQ(*ReadFileToString(remote + "/sub/b.pth"), "b");
  EXPECT_FALSE(fs::exists(remote + "/old.pth"));
  EXPECT_FALSE(fs::exists(remote + "/open.pth"));
  ::close(fd);
  ASSERT_OK((*m)->Flush());
  EXPECT_EQ(*ReadFileToString(remote + "/open.pth"), "x");
}

TEST(Transfer, PrefixesAreFoldersAndDigestsFollowContent) {
  testing::TempDir dir;
  fs::create_directories(dir.File("ck-1"));
  fs::create_directories(dir.File("ck-10"));
  ASSERT_OK(WriteFileAtomically(dir.File("ck-1/a"), "1"));
  ASSERT_OK(WriteFileAtomically(dir.File("ck-10/b"), "2"));
  auto got = DownloadTree(dir.File("ck-1"), dir.File("out"));
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, std::vector<std::string>{"a"});
  EXPECT_EQ(DownloadTree(dir.File("nope"), dir.File("out2")).status().code(),
            Status::Code::kNotFound);
  auto d1 = TreeDigest(dir.File("ck-1")), d2 = TreeDigest(dir.File("out"));
  EXPECT_EQ(*d1, *d2);
  EXPECT_NE(*d1, *TreeDigest(dir.File("ck-10")));
  EXPECT_EQ(JoinUri("s3://b/p/", "x/y"), "s3://b/p/x/y");
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

TEST(Jobs, HeartbeatAgeFollowsTheClock) {
  ManualClock clock(100'000);
  TrainingJob job;
  job.heartbeat_ms = 40'000;
  EXPECT_EQ(SecondsSinceHeartbeat(job, clock), 60);
  clock.Advance(30'500);
  EXPECT_EQ(SecondsSinceHeartbeat(job, clock), 90);
  job.status = TrainingJobStatus::kCompleted;  // an ended job has no runner to lose
  EXPECT_EQ(SecondsSinceHeartbeat(job, clock), 0);
  job.status = TrainingJobStatus::kInProgress;
  job.heartbeat_ms = 0;  // never saved by a runner
  EXPECT_EQ(SecondsSinceHeartbeat(job, clock), 0);
  for (auto s :
       {TrainingJobStatus::kInProgress, TrainingJobStatus::kCompleted, TrainingJobStatus::kFailed,
        TrainingJobStatus::kStopping, TrainingJobStatus::kStopped})
    EXPECT_EQ(*ParseTrainingJobStatus(TrainingJobStatusName(s)), s);
  EXPECT_FALSE(ParseTrainingJobStatus("Running").ok());
}

}  // namespace
}  // namespace cairn
