// Slurm's output as cairn reads it, and its job states as SageMaker's.
#include "cairn/training/slurm.h"

#include <gtest/gtest.h>

namespace cairn::training {
namespace {

TEST(Slurm, ParsesScontrolsOneLineForm) {
  // As `scontrol show job -o 7` prints it (slurm-wlm 22.05), shortened.
  const std::string line =
      "JobId=7 JobName=train-1 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 "
      "JobState=NODE_FAIL Reason=NodeDown Dependency=(null) Requeue=0 Restarts=0 "
      "ExitCode=0:0 RunTime=00:00:21 NodeList=c[1-2] BatchHost=c1 NumNodes=2 "
      "Command=/tmp/a b/slurm-batch.sh WorkDir=/tmp StdOut=/dev/null\n";
  auto info = ParseScontrolJob(line);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->id, "7");
  EXPECT_EQ(info->state, "NODE_FAIL");
  EXPECT_EQ(info->reason, "NodeDown");
  EXPECT_EQ(info->nodes, "c[1-2]");
  EXPECT_EQ(info->exit_code, "0:0");
  EXPECT_FALSE(ParseScontrolJob("slurm_load_jobs error: Invalid job id specified").ok());
}

TEST(Slurm, MapsJobStatesAsTheIssueSays) {
  auto meaning = [](const std::string& state) {
    SlurmJobInfo info;
    info.state = state;
    return MeaningOfSlurmState(info);
  };
  EXPECT_FALSE(meaning("PENDING").ended);
  EXPECT_EQ(meaning("PENDING").secondary, "Starting");
  EXPECT_FALSE(meaning("RUNNING").ended);
  EXPECT_EQ(meaning("RUNNING").secondary, "Training");
  EXPECT_EQ(meaning("COMPLETING").secondary, "Training");
  EXPECT_EQ(meaning("COMPLETED").status, TrainingJobStatus::kCompleted);
  EXPECT_TRUE(meaning("COMPLETED").ended);
  EXPECT_EQ(meaning("CANCELLED").status, TrainingJobStatus::kStopped);
  for (const char* s : {"FAILED", "NODE_FAIL", "TIMEOUT", "OUT_OF_MEMORY", "BOOT_FAIL"}) {
    EXPECT_TRUE(meaning(s).ended) << s;
    EXPECT_EQ(meaning(s).status, TrainingJobStatus::kFailed) << s;
    EXPECT_FALSE(meaning(s).failure.empty()) << s;
  }
  EXPECT_NE(meaning("NODE_FAIL").failure.find("NodeFailure"), std::string::npos);
  EXPECT_NE(meaning("TIMEOUT").failure.find("MaxRuntimeExceeded"), std::string::npos);
  EXPECT_NE(meaning("OUT_OF_MEMORY").failure.find("OutOfMemory"), std::string::npos);
}

TEST(Slurm, QuotesForTheShell) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$(rm -rf /)"), "'$(rm -rf /)'");
}

}  // namespace
}  // namespace cairn::training
