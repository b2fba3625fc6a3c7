// Private to the registry: lock objects in the store that keep gc and publish apart.
//   registry/locks/<shared|exclusive>-<random>.json  {"expires_ms": ..., "by": ...}
// A holder writes its lock, then lists the others: with read-after-write consistent listings
// (local directories, S3 since 2020, Ceph RGW), of two racing holders at least one sees the
// other. Locks past their expiry (a crashed holder) are ignored.
#pragma once

#include <memory>
#include <string>

#include "cairn/core/clock.h"
#include "cairn/storage/object_store.h"

namespace cairn::registry {

class StoreLock {
 public:
  enum class Kind { kShared, kExclusive };
  // Takes the lock: kPreconditionFailed if a conflicting live lock exists (and nothing is held).
  // `clock` decides expiry: the new lock's and whether another one is stale.
  static Result<std::unique_ptr<StoreLock>> Acquire(ObjectStore& store, Kind kind,
                                                    const Clock& clock = Clock::System());
  ~StoreLock();  // releases (deletes the lock object); best effort
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  // Locks live this long; a publish or gc must finish within it.
  static constexpr int64_t kTtlMs = 6 * 3600 * 1000;

 private:
  StoreLock(ObjectStore& store, std::string key) : store_(store), key_(std::move(key)) {}
  ObjectStore& store_;
  std::string key_;
};

}  // namespace cairn::registry
