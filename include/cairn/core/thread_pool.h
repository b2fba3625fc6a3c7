// ThreadPool: a fixed number of threads running posted tasks in order of posting, and Gate: a
// count of work in flight that can be closed to new work and waited on (after seastar's gate).
// Endpoints run blocking Python handlers on a pool, cairn server runs its operations on one; both
// stop by closing a gate, then waiting for what already entered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn {

class ThreadPool {
 public:
  // Starts `threads` threads (at least 1).
  explicit ThreadPool(size_t threads);
  // Runs every task already posted, then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`; it runs on one of the pool's threads. Thread-safe. After Shutdown() began,
  // returns false and drops the task.
  bool Post(std::function<void()> task);
  // Stops taking tasks, runs those queued, joins the threads. Idempotent.
  void Shutdown();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class Gate {
 public:
  // Enters the gate: false once it is closed (the caller must not start the work).
  bool Enter();
  void Leave();
  // Closes the gate to new entries, then blocks until every entry has left. Idempotent.
  void Close();
  bool closed() const;
  size_t in_flight() const;

  // Enters on construction, leaves on destruction; check entered().
  class Holder {
   public:
    explicit Holder(Gate& g) : gate_(g.Enter() ? &g : nullptr) {}
    ~Holder() {
      if (gate_) gate_->Leave();
    }
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    bool entered() const { return gate_ != nullptr; }

   private:
    Gate* gate_;
  };

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0;
  bool closed_ = false;
};

// Runs `tick` every `period` on a thread of its own (first after one period) until destroyed;
// the destructor wakes the thread and joins it, so `tick` never runs after it returns. For
// background duties: flushing metrics, evaluating alarms.
class Periodic {
 public:
  Periodic(std::chrono::milliseconds period, std::function<void()> tick);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cairn
