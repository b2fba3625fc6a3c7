#include "locks.h"

#include <random>

#include "cairn/registry/layout.h"
#include "manifest.h"

namespace cairn::registry {

Result<std::unique_ptr<StoreLock>> StoreLock::Acquire(ObjectStore& store, Kind kind,
                                                      const Clock& clock) {
  const char* name = kind == Kind::kShared ? "shared" : "exclusive";
  std::mt19937_64 rng{std::random_device{}()};
  char id[32];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(rng()));
  const std::string key = layout::LockKey(name, id);
  const int64_t now = clock.NowMs();
  Json body{{"expires_ms", now + kTtlMs}, {"by", WhoAmI()}};
  CAIRN_RETURN_IF_ERROR(PutString(store, key, body.dump(), PutOptions::IfAbsent()).status());
  std::unique_ptr<StoreLock> lock(new StoreLock(store, key));
  // Now look for conflicting holders.
  CAIRN_ASSIGN_OR_RETURN(auto locks, store.List(layout::LocksPrefix()));
  for (const auto& o : locks) {
    if (o.key == key) continue;
    const bool other_exclusive = o.key.rfind(layout::LocksPrefix() + "exclusive-", 0) == 0;
    if (kind == Kind::kShared && !other_exclusive) continue;  // shared locks coexist
    auto text = GetString(store, o.key);
    if (!text.ok()) continue;  // released meanwhile
    Json j = Json::parse(*text, nullptr, false);
    if (j.is_object() && j.value("expires_ms", int64_t{0}) < now) continue;  // stale
    return Status::PreconditionFailed(
        kind == Kind::kShared
            ? "garbage collection is running on this store; try again later"
            : "a publish (or another gc) is running on this store; gc did nothing");
  }
  return lock;
}

StoreLock::~StoreLock() { (void)store_.Delete(key_); }

}  // namespace cairn::registry
