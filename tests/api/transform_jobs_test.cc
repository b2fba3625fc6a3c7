// Batch transform jobs' records under a StopTransformJob that races the end of the job
// (transform_jobs.cc): the record a job ends with is never overwritten by a Stop.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api/dispatch_fixture.h"
#include "api/transform_jobs.h"

namespace cairn::api {
namespace {

using TransformJobsTest = Dispatch;

TEST_F(TransformJobsTest, AStopRacingTheEndOfAJobNeverLeavesItStopping) {
  TransformJobs jobs(*context_);
  RecordStore<TransformJobRecord> records(registry_->store());
  int stopped = 0, refused = 0;
  for (int i = 0; i < 120; ++i) {
    // A job that ends at once (its model does not exist), stopped at a moment that moves across
    // its short life.
    TransformJobRecord r;
    r.name = "race-" + std::to_string(i);
    r.model = "missing";
    ASSERT_OK(jobs.Start(r));
    std::this_thread::sleep_for(std::chrono::microseconds(i % 40 * 400));
    const Status st = jobs.Stop(r.name);
    (st.ok() ? stopped : refused)++;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
    }
    std::string status;
    for (int t = 0; t < 500; ++t) {  // the job thread ends within milliseconds
      auto now = records.Get(r.name);
      ASSERT_OK(now.status());
      status = now->status;
      if (status == "Stopped" || status == "Failed") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(status == "Stopped" || status == "Failed") << r.name << " ended " << status;
    if (st.ok()) {
      EXPECT_EQ(status, "Stopped") << r.name;  // a Stop that was taken is kept
    }
  }
  std::printf("%d stops taken, %d refused (the job had ended)\n", stopped, refused);
}

}  // namespace
}  // namespace cairn::api
