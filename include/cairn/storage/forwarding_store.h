// ForwardingStore: an ObjectStore that passes every call to another one. Wrappers (fault
// injection, instrumentation) derive from it and override what they change, so no method can
// slip past them: GetInto and Download included, which the local and S3 stores implement with
// their own fast paths.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cairn/storage/object_store.h"

namespace cairn {

class ForwardingStore : public ObjectStore {
 public:
  explicit ForwardingStore(std::unique_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}

  std::string uri() const override { return inner_->uri(); }
  Result<ObjectInfo> Head(const std::string& key) override { return inner_->Head(key); }
  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override {
    return inner_->Get(key, sink, range);
  }
  Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                         const PutOptions& options) override {
    return inner_->Put(key, source, options);
  }
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    return inner_->List(prefix);
  }
  Status Delete(const std::string& key) override { return inner_->Delete(key); }
  Status Sync() override { return inner_->Sync(); }
  bool DeleteKeepsVersions() override { return inner_->DeleteKeepsVersions(); }
  Status GetInto(const std::string& key, uint8_t* dest, uint64_t size, Sha256* hash) override {
    return inner_->GetInto(key, dest, size, hash);
  }
  Result<ObjectInfo> Download(const std::string& key, const std::string& path,
                              const DownloadOptions& options) override {
    return inner_->Download(key, path, options);
  }

  ObjectStore& inner() { return *inner_; }

 private:
  std::unique_ptr<ObjectStore> inner_;
};

}  // namespace cairn
