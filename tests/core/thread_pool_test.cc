#include "cairn/core/thread_pool.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "test_util.h"

namespace cairn {
namespace {

TEST(ThreadPool, RunsEveryTaskAndShutdownRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 100; ++i)
      EXPECT_TRUE(pool.Post([&] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++ran;
      }));
    pool.Shutdown();
    EXPECT_EQ(ran.load(), 100);
    EXPECT_FALSE(pool.Post([&] { ++ran; }));  // refused after Shutdown
    pool.Shutdown();                          // idempotent
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(ThreadPool, TasksRunOnSeveralThreadsAtOnce) {
  ThreadPool pool(4);
  std::atomic<int> inside{0}, most{0};
  for (int i = 0; i < 8; ++i)
    pool.Post([&] {
      const int now = ++inside;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      --inside;
    });
  pool.Shutdown();
  EXPECT_GE(most.load(), 2);
}

TEST(Gate, CloseRefusesNewEntriesAndWaitsForThoseInside) {
  Gate gate;
  ASSERT_TRUE(gate.Enter());
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    gate.Close();
    closed = true;
  });
  for (int i = 0; i < 100 && !gate.closed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(gate.closed());
  EXPECT_FALSE(gate.Enter());  // closed to new work
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(closed.load()) << "Close returned while work was inside";
  EXPECT_EQ(gate.in_flight(), 1u);
  gate.Leave();
  closer.join();
  EXPECT_TRUE(closed.load());
  {
    Gate::Holder h(gate);
    EXPECT_FALSE(h.entered());
  }
}

TEST(Periodic, TicksUntilDestroyedAndNeverAfter) {
  std::atomic<int> ticks{0};
  {
    Periodic p(std::chrono::milliseconds(10), [&] { ++ticks; });
    for (int i = 0; i < 200 && ticks < 3; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(ticks.load(), 3);
  }
  const int after = ticks.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ticks.load(), after);  // none once destroyed
  // A long period does not hold up the destructor.
  const auto start = std::chrono::steady_clock::now();
  {
    Periodic slow(std::chrono::hours(1), [] {});
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cairn
