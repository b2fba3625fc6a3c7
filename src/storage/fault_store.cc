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

void FaultInjectingStore::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

std::vector<std::string> FaultInjectingStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

Status FaultInjectingStore::Check(const char* method, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.push_back(std::string(method) + " " + key);
  const int n = static_cast<int>(calls_.size());
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

Result<ObjectInfo> FaultInjectingStore::Head(const std::string& key) {
  CAIRN_RETURN_IF_ERROR(Check("Head", key));
  return inner_->Head(key);
}

Status FaultInjectingStore::Get(const std::string& key, const ByteSink& sink, ByteRange range) {
  CAIRN_RETURN_IF_ERROR(Check("Get", key));
  return inner_->Get(key, sink, range);
}

Result<ObjectInfo> FaultInjectingStore::Put(const std::string& key, ByteSource& source,
                                            const PutOptions& options) {
  CAIRN_RETURN_IF_ERROR(Check("Put", key));
  return inner_->Put(key, source, options);
}

Result<std::vector<ObjectInfo>> FaultInjectingStore::List(const std::string& prefix) {
  CAIRN_RETURN_IF_ERROR(Check("List", prefix));
  return inner_->List(prefix);
}

Status FaultInjectingStore::Delete(const std::string& key) {
  CAIRN_RETURN_IF_ERROR(Check("Delete", key));
  return inner_->Delete(key);
}

Status FaultInjectingStore::Sync() {
  CAIRN_RETURN_IF_ERROR(Check("Sync", ""));
  return inner_->Sync();
}

}  // namespace cairn
