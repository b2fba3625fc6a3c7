#include "locks.h"

#include <random>

#include "cairn/core/host.h"
#include "cairn/registry/layout.h"
#include "manifest.h"

namespace cairn::registry {

std::string StaleReason(const std::string& body, int64_t now) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_object()) return "";  // unreadable: not proven stale
  const int64_t expires = j.value("expires_ms", int64_t{0});
  if (expires < now) return "expired " + std::to_string((now - expires) / 1000) + " s ago";
  if (j.contains("heartbeat_ms") && j["heartbeat_ms"].is_number_integer()) {
    const int64_t beat = j["heartbeat_ms"].get<int64_t>();
    if (now - beat > StoreLock::kStaleAfterMs)
      return "its heartbeat stopped " + std::to_string((now - beat) / 1000) + " s ago";
  }
  const std::string host = j.value("host", ""), boot = j.value("boot_id", "");
  if (!host.empty() && host == HostName() && !boot.empty()) {
    if (boot != BootId()) return "its host " + host + " rebooted since it was taken";
    const int64_t pid = j.value("pid", int64_t{0});
    if (pid > 0 && !ProcessAlive(pid))
      return "its process " + std::to_string(pid) + " on " + host + " is gone";
  }
  return "";
}

std::string StoreLock::Body(int64_t now) const {
  return Json{{"expires_ms", expires_ms_}, {"by", WhoAmI()},      {"host", HostName()},
              {"boot_id", BootId()},       {"pid", CurrentPid()}, {"heartbeat_ms", now}}
      .dump();
}

Result<std::unique_ptr<StoreLock>> StoreLock::Acquire(ObjectStore& store, Kind kind,
                                                      const Clock& clock) {
  const char* name = kind == Kind::kShared ? "shared" : "exclusive";
  std::mt19937_64 rng{std::random_device{}()};
  char id[32];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(rng()));
  const int64_t now = clock.NowMs();
  std::unique_ptr<StoreLock> lock(new StoreLock(store, layout::LockKey(name, id), clock));
  lock->expires_ms_ = now + kTtlMs;
  auto put = PutString(store, lock->key_, lock->Body(now), PutOptions::IfAbsent());
  if (!put.ok()) {
    lock->lost_ = true;  // nothing to delete
    return put.status();
  }
  lock->etag_ = put->etag;
  // Now look for conflicting holders.
  CAIRN_ASSIGN_OR_RETURN(auto locks, store.List(layout::LocksPrefix()));
  for (const auto& o : locks) {
    if (o.key == lock->key_) continue;
    const bool other_exclusive = o.key.rfind(layout::LocksPrefix() + "exclusive-", 0) == 0;
    if (kind == Kind::kShared && !other_exclusive) continue;  // shared locks coexist
    auto text = GetString(store, o.key);
    if (!text.ok()) continue;                        // released meanwhile
    if (!StaleReason(*text, now).empty()) continue;  // a crashed holder's
    return Status::PreconditionFailed(
        kind == Kind::kShared
            ? "garbage collection is running on this store; try again later"
            : "a publish (or another gc) is running on this store; gc did nothing");
  }
  StoreLock* self = lock.get();
  lock->heartbeat_ = std::thread([self] { self->Heartbeat(); });
  return lock;
}

void StoreLock::Heartbeat() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, std::chrono::milliseconds(kHeartbeatMs), [this] { return stopping_; })) {
    l.unlock();
    // Conditional on our last write: a lock someone broke stays broken.
    auto put = PutString(store_, key_, Body(clock_.NowMs()), PutOptions::IfMatch(etag_));
    l.lock();
    if (put.ok()) {
      etag_ = put->etag;
    } else if (put.status().code() == Status::Code::kPreconditionFailed ||
               put.status().code() == Status::Code::kNotFound) {
      lost_ = true;
      return;
    }  // else a transient failure: the next beat tries again
  }
}

Status StoreLock::StillHeld() {
  if (!lost_) {
    auto h = store_.Head(key_);
    if (h.ok()) return Status::OK();
    if (h.status().code() != Status::Code::kNotFound) return h.status();
    lost_ = true;
  }
  return Status::PreconditionFailed(
      "this process's lock " + key_ +
      " was broken as stale (by `cairn models gc --break-stale-locks`?) while it worked; chunks "
      "it relied on may have been collected, so nothing was committed: try again");
}

Result<std::vector<std::string>> StoreLock::BreakStale(ObjectStore& store, const Clock& clock) {
  CAIRN_ASSIGN_OR_RETURN(auto locks, store.List(layout::LocksPrefix()));
  std::vector<std::string> broken;
  for (const auto& o : locks) {
    auto head = store.Head(o.key);
    auto text = GetString(store, o.key);
    if (!head.ok() || !text.ok()) continue;  // released meanwhile
    const std::string why = StaleReason(*text, clock.NowMs());
    if (why.empty()) continue;
    // Only the lock as it was judged is broken: first replaced by a tombstone on condition that
    // it is unchanged (a heartbeat since, or a body read from a newer write, makes the put fail
    // and the lock is left alone), then deleted. Its holder's next heartbeat then fails.
    auto tomb = PutString(store, o.key, R"({"broken": true})", PutOptions::IfMatch(head->etag));
    if (tomb.status().code() == Status::Code::kPreconditionFailed ||
        tomb.status().code() == Status::Code::kNotFound)
      continue;
    CAIRN_RETURN_IF_ERROR(tomb.status());
    CAIRN_RETURN_IF_ERROR(store.Delete(o.key));
    broken.push_back(o.key + ": " + why);
  }
  return broken;
}

StoreLock::~StoreLock() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (!lost_) (void)store_.Delete(key_);
}

}  // namespace cairn::registry
