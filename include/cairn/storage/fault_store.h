// A store wrapper that fails chosen calls, for testing the layers above the storage seam.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/storage/object_store.h"

namespace cairn {

class FaultInjectingStore final : public ObjectStore {
 public:
  explicit FaultInjectingStore(std::unique_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}

  // Fails the n-th call (1-based, counting every call from now on) with `error`.
  void FailNthCall(int n, Status error);
  // Fails calls of `method` ("Head", "Get", "Put", "List", "Delete", or "*") whose key (or
  // prefix) contains `key_part`, `times` times (-1: always), with `error`.
  void FailMatching(std::string method, std::string key_part, Status error, int times = -1);
  // Forgets every rule.
  void Clear();
  // Calls seen so far, e.g. "Put model/1.json".
  std::vector<std::string> calls() const;

  std::string uri() const override { return inner_->uri(); }
  Result<ObjectInfo> Head(const std::string& key) override;
  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override;
  Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                         const PutOptions& options) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Status Sync() override;

 private:
  struct Rule {
    int nth = 0;  // 0: match by method/key instead
    std::string method, key_part;
    int times = -1;
    Status error;
  };
  Status Check(const char* method, const std::string& key);

  std::unique_ptr<ObjectStore> inner_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  std::vector<std::string> calls_;
};

}  // namespace cairn
