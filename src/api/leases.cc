#include "leases.h"

#include <nlohmann/json.hpp>

#include "cairn/registry/layout.h"

namespace cairn::api {

std::string Leases::Body(int64_t epoch) const {
  return nlohmann::json{
      {"owner", id_}, {"url", url_}, {"expires_ms", clock_.NowMs() + ttl_ms_}, {"epoch", epoch}}
      .dump();
}

Result<Lease> Leases::Read(const std::string& kind, const std::string& name) {
  const std::string key = layout::LeaseKey(kind, name);
  CAIRN_ASSIGN_OR_RETURN(const ObjectInfo info, store_.Head(key));
  CAIRN_ASSIGN_OR_RETURN(const std::string text, GetString(store_, key));
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Corrupt(key + " is not a lease");
  Lease l;
  l.owner = j.value("owner", "");
  l.url = j.value("url", "");
  l.expires_ms = j.value("expires_ms", int64_t{0});
  l.epoch = j.value("epoch", int64_t{0});
  l.etag = info.etag;  // read first: a write in between makes an If-Match with it fail (safe)
  return l;
}

Result<bool> Leases::Acquire(const std::string& kind, const std::string& name) {
  const std::string key = layout::LeaseKey(kind, name);
  auto current = Read(kind, name);
  Result<ObjectInfo> put = Status::Internal("not written");
  int64_t epoch = 1;
  if (current.status().code() == Status::Code::kNotFound) {
    put = PutString(store_, key, Body(epoch), PutOptions::IfAbsent());
  } else if (!current.ok()) {
    return current.status();
  } else if (current->owner == id_ || Expired(*current)) {
    epoch = current->epoch + (current->owner == id_ ? 0 : 1);
    put = PutString(store_, key, Body(epoch), PutOptions::IfMatch(current->etag));
  } else {
    return false;  // another server holds it and renews it
  }
  if (put.status().code() == Status::Code::kPreconditionFailed ||
      put.status().code() == Status::Code::kAlreadyExists)
    return false;  // another server got there first
  if (!put.ok()) return put.status();
  Lease mine{id_, url_, clock_.NowMs() + ttl_ms_, epoch, put->etag};
  std::lock_guard<std::mutex> lock(mu_);
  held_[{kind, name}] = mine;
  return true;
}

bool Leases::Holds(const std::string& kind, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.count({kind, name}) > 0;
}

void Leases::Release(const std::string& kind, const std::string& name) {
  Lease l;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find({kind, name});
    if (it == held_.end()) return;
    l = it->second;
    held_.erase(it);
  }
  // Deleted only if still as this server wrote it (S3 has no conditional delete: read, then
  // delete; a takeover in between is by a server that then finds no lease and takes it again).
  auto now = Read(kind, name);
  if (now.ok() && now->owner == id_ && now->etag == l.etag)
    (void)store_.Delete(layout::LeaseKey(kind, name));
}

void Leases::ReleaseAll() {
  std::vector<std::pair<std::string, std::string>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [which, l] : held_) all.push_back(which);
  }
  for (const auto& [kind, name] : all) Release(kind, name);
}

std::vector<std::pair<std::string, std::string>> Leases::RenewAll() {
  std::map<std::pair<std::string, std::string>, Lease> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held = held_;
  }
  std::vector<std::pair<std::string, std::string>> lost;
  for (auto& [which, l] : held) {
    auto put = PutString(store_, layout::LeaseKey(which.first, which.second), Body(l.epoch),
                         PutOptions::IfMatch(l.etag));
    if (put.status().code() == Status::Code::kPreconditionFailed) {
      // Our own renewal whose answer was lost also changes the etag: still ours if the lease
      // names this server at the same epoch.
      auto now = Read(which.first, which.second);
      if (now.ok() && now->owner == id_ && now->epoch == l.epoch && !Expired(*now)) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = held_.find(which);
        if (it != held_.end() && it->second.etag == l.etag) {
          it->second.etag = now->etag;
          it->second.expires_ms = now->expires_ms;
        }
        continue;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(which);
    if (it == held_.end() || it->second.etag != l.etag) continue;  // released or re-taken meanwhile
    if (put.ok()) {
      it->second.etag = put->etag;
      it->second.expires_ms = clock_.NowMs() + ttl_ms_;
    } else if (put.status().code() == Status::Code::kPreconditionFailed ||
               put.status().code() == Status::Code::kNotFound) {
      held_.erase(it);  // another server has it now
      lost.push_back(which);
    } else if (clock_.NowMs() >= it->second.expires_ms) {
      held_.erase(it);  // could not renew in time (the store is unreachable): it may be taken
      lost.push_back(which);
    }
  }
  return lost;
}

}  // namespace cairn::api
