#include "cairn/core/parallel.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn {

size_t DefaultParallelism() {
  if (const char* env = std::getenv("CAIRN_THREADS")) {
    long v = std::strtol(env, nullptr, 10);
    if (v > 0 && v <= 1024) return static_cast<size_t>(v);
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

Status ParallelFor(size_t n, const std::function<Status(size_t)>& fn, size_t threads) {
  if (threads == 0) threads = DefaultParallelism();
  if (threads > n) threads = n;
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) CAIRN_RETURN_IF_ERROR(fn(i));
    return Status::OK();
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  size_t first_bad = n;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (i < first_bad) {
          first_bad = i;
          first_error = std::move(st);
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  return first_error;
}

}  // namespace cairn
