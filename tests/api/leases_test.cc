// Leases among servers sharing a store: one owner at a time, renewal, takeover after expiry.
#include "api/leases.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cairn/storage/local_store.h"
#include "test_util.h"

namespace cairn::api {
namespace {

class LeasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenStore(dir_.path() + "/store");
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  cairn::testing::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
  ManualClock clock_{1'000'000};
};

TEST_F(LeasesTest, OneOwnerUntilItsLeaseExpires) {
  Leases a(*store_, "a", "http://a", 15000, clock_);
  Leases b(*store_, "b", "http://b", 15000, clock_);
  ASSERT_TRUE(*a.Acquire("endpoint", "ep"));
  EXPECT_TRUE(a.Holds("endpoint", "ep"));
  EXPECT_FALSE(*b.Acquire("endpoint", "ep"));  // a holds it
  clock_.Advance(5000);
  EXPECT_TRUE(a.RenewAll().empty());
  clock_.Advance(14000);  // 19 s after taking it, 14 s after renewing: still a's
  EXPECT_FALSE(*b.Acquire("endpoint", "ep"));
  auto l = b.Read("endpoint", "ep");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->owner, "a");
  EXPECT_EQ(l->url, "http://a");
  clock_.Advance(2000);  // a stopped renewing: expired
  ASSERT_TRUE(*b.Acquire("endpoint", "ep"));
  EXPECT_EQ(b.Read("endpoint", "ep")->epoch, 2);
  // a finds out at its next renewal, and lets go.
  auto lost = a.RenewAll();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].second, "ep");
  EXPECT_FALSE(a.Holds("endpoint", "ep"));
  EXPECT_FALSE(*a.Acquire("endpoint", "ep"));
}

TEST_F(LeasesTest, ARestartUnderTheSameIdTakesItsLeasesBack) {
  {
    Leases before(*store_, "a", "http://a", 15000, clock_);
    ASSERT_TRUE(*before.Acquire("training-job", "j"));
  }  // killed: nothing released
  Leases after(*store_, "a", "http://a", 15000, clock_);
  EXPECT_TRUE(*after.Acquire("training-job", "j"));
  Leases other(*store_, "b", "http://b", 15000, clock_);
  EXPECT_FALSE(*other.Acquire("training-job", "j"));
}

TEST_F(LeasesTest, ReleaseFreesItAtOnce) {
  Leases a(*store_, "a", "http://a", 15000, clock_);
  Leases b(*store_, "b", "http://b", 15000, clock_);
  ASSERT_TRUE(*a.Acquire("endpoint", "ep"));
  a.Release("endpoint", "ep");
  EXPECT_EQ(a.Read("endpoint", "ep").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(*b.Acquire("endpoint", "ep"));
  a.Release("endpoint", "ep");  // not a's any more: b's lease stays
  EXPECT_TRUE(b.Read("endpoint", "ep").ok());
}

}  // namespace
}  // namespace cairn::api
