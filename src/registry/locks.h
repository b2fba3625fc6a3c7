// Private to the registry: lock objects in the store that keep gc and publish apart.
//   registry/locks/<shared|exclusive>-<random>.json
//   {"expires_ms", "by", "host", "boot_id", "pid", "heartbeat_ms"}
// A holder writes its lock, then lists the others: with read-after-write consistent listings
// (local directories, S3 since 2020, Ceph RGW), of two racing holders at least one sees the
// other. While held, a lock's heartbeat_ms is rewritten every kHeartbeatMs (a conditional write
// on its own ETag, so a lock broken meanwhile is noticed, not re-created).
//
// A lock is stale, and ignored by Acquire, when (StaleReason):
//   - it is past expires_ms (kTtlMs after it was taken);
//   - its heartbeat stopped: heartbeat_ms more than kStaleAfterMs ago;
//   - its holder is gone: same host and boot as this process, and no process has its pid;
//   - its host rebooted since: same host name, another boot id.
// Locks written before these fields existed are judged by their expiry alone.
// BreakStale deletes stale locks (`cairn models gc --break-stale-locks`); a publish whose lock was
// broken finds out before it writes its manifest (StillHeld) and fails instead of committing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/storage/object_store.h"

namespace cairn::registry {

// Why the lock object `body` (its JSON text) is stale at `now_ms`, or "" if it may be live.
std::string StaleReason(const std::string& body, int64_t now_ms);

class StoreLock {
 public:
  enum class Kind { kShared, kExclusive };
  // Takes the lock: kPreconditionFailed if a conflicting live lock exists (and nothing is held).
  // `clock` decides expiry: the new lock's and whether another one is stale.
  static Result<std::unique_ptr<StoreLock>> Acquire(ObjectStore& store, Kind kind,
                                                    const Clock& clock = Clock::System());
  // Deletes every stale lock; "<key>: <why>" for each one broken.
  static Result<std::vector<std::string>> BreakStale(ObjectStore& store,
                                                     const Clock& clock = Clock::System());
  ~StoreLock();  // stops the heartbeat and releases (deletes the lock object); best effort
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  // OK while the lock object is ours; kPreconditionFailed once someone broke it.
  Status StillHeld();

  // Locks live this long; a publish or gc must finish within it.
  static constexpr int64_t kTtlMs = 6 * 3600 * 1000;
  static constexpr int64_t kHeartbeatMs = 30 * 1000;
  static constexpr int64_t kStaleAfterMs = 5 * 60 * 1000;  // ten heartbeats missed

 private:
  StoreLock(ObjectStore& store, std::string key, const Clock& clock)
      : store_(store), key_(std::move(key)), clock_(clock) {}
  std::string Body(int64_t now) const;
  void Heartbeat();

  ObjectStore& store_;
  const std::string key_;
  const Clock& clock_;
  int64_t expires_ms_ = 0;
  std::string etag_;  // of our last write
  std::atomic<bool> lost_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace cairn::registry
