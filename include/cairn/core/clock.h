// Time, through one seam. Clock is what cairn asks for the time wherever the answer decides
// something (lock expiry, heartbeats): tests pass a ManualClock and move time themselves, as
// leveldb's Env::NowMicros lets its tests do. NowMs() is the system clock, for timestamps that
// are only recorded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cairn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: milliseconds since the Unix epoch (UTC).
  virtual int64_t NowMs() const = 0;
  // The system clock (std::chrono::system_clock); lives as long as the process.
  static const Clock& System();
};

// A clock that moves only when told. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 0) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t ms) { now_ms_ = ms; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

// Clock::System().NowMs(): milliseconds since the Unix epoch (UTC), as cairn records time.
inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline const Clock& Clock::System() {
  struct SystemClock final : Clock {
    int64_t NowMs() const override { return cairn::NowMs(); }
  };
  static const SystemClock clock;
  return clock;
}

}  // namespace cairn
