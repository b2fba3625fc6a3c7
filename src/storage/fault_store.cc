#include "cairn/storage/fault_store.h"

namespace cairn {

void FaultInjectingStore::FailNthCall(int n, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(Rule{static_cast<int>(calls_.size()) + n, "", "", 1, std::move(error)});
}

void FaultInjectingStore::FailMatching(std::string method, std::string key_part, Status error,
                                       int times) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(Rule{0, std::move(method), std::move(key_part), times, std::move(error)});
}

void FaultInjectingStore::CrashAtCall(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = static_cast<int>(calls_.size()) + n;
}

void FaultInjectingStore::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
  crash_at_ = 0;
}

std::vector<std::string> FaultInjectingStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

Status FaultInjectingStore::Check(const char* method, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(std::string(method) + " " + key);
  const int n = static_cast<int>(calls_.size());
  if (crash_at_ > 0 && n >= crash_at_) return Status::IOError("crashed (fault injection)");
  for (Rule& r : rules_) {
    if (r.times == 0) continue;
    bool hit = r.nth > 0 ? r.nth == n
                         : (r.method == "*" || r.method == method) &&
                               key.find(r.key_part) != std::string::npos;
    if (!hit) continue;
    if (r.times > 0) --r.times;
    return r.error;
  }
  return Status::OK();
}

Result<int> FaultInjectingStore::DropUnsyncedWrites() {
  std::map<std::string, std::optional<std::string>> undo;
  {
    std::lock_guard<std::mutex> lock(mu_);
    undo.swap(unsynced_);
  }
  for (const auto& [key, before] : undo) {
    if (before) {
      CAIRN_RETURN_IF_ERROR(PutString(inner(), key, *before).status());
    } else {
      CAIRN_RETURN_IF_ERROR(inner().Delete(key));
    }
  }
  return static_cast<int>(undo.size());
}

Result<ObjectInfo> FaultInjectingStore::Head(const std::string& key) {
  CAIRN_RETURN_IF_ERROR(Check("Head", key));
  return ForwardingStore::Head(key);
}

Status FaultInjectingStore::Get(const std::string& key, const ByteSink& sink, ByteRange range) {
  CAIRN_RETURN_IF_ERROR(Check("Get", key));
  return ForwardingStore::Get(key, sink, range);
}

Result<ObjectInfo> FaultInjectingStore::Put(const std::string& key, ByteSource& source,
                                            const PutOptions& options) {
  CAIRN_RETURN_IF_ERROR(Check("Put", key));
  std::optional<std::optional<std::string>> before;  // what to restore, for an unsynced put
  if (!options.sync) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!unsynced_.count(key)) before.emplace();
  }
  if (before) {
    auto old = GetString(inner(), key);
    if (old.ok()) {
      *before = std::move(*old);
    } else if (old.status().code() != Status::Code::kNotFound) {
      return old.status();
    }
  }
  auto put = ForwardingStore::Put(key, source, options);
  if (put.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (options.sync) {
      unsynced_.erase(key);  // durable now, whatever came before
    } else if (before) {
      unsynced_.emplace(key, std::move(*before));
    }
  }
  return put;
}

Result<std::vector<ObjectInfo>> FaultInjectingStore::List(const std::string& prefix) {
  CAIRN_RETURN_IF_ERROR(Check("List", prefix));
  return ForwardingStore::List(prefix);
}

Status FaultInjectingStore::Delete(const std::string& key) {
  CAIRN_RETURN_IF_ERROR(Check("Delete", key));
  return ForwardingStore::Delete(key);
}

Status FaultInjectingStore::Sync() {
  CAIRN_RETURN_IF_ERROR(Check("Sync", ""));
  CAIRN_RETURN_IF_ERROR(ForwardingStore::Sync());
  std::lock_guard<std::mutex> lock(mu_);
  unsynced_.clear();  // durable now
  return Status::OK();
}

Status FaultInjectingStore::GetInto(const std::string& key, uint8_t* dest, uint64_t size,
                                    Sha256* hash) {
  CAIRN_RETURN_IF_ERROR(Check("GetInto", key));
  return ForwardingStore::GetInto(key, dest, size, hash);
}

Result<ObjectInfo> FaultInjectingStore::Download(const std::string& key, const std::string& path,
                                                 const DownloadOptions& options) {
  CAIRN_RETURN_IF_ERROR(Check("Download", key));
  return ForwardingStore::Download(key, path, options);
}

}  // namespace cairn
