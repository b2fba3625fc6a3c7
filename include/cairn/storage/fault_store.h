// FaultInjectingStore: a store wrapper that fails chosen calls, and can simulate a crash, for
// testing the layers above the storage seam (after leveldb's fault-injection Env). Every
// ObjectStore method is checked, GetInto and Download included, so faulted restores take the same
// path as real ones.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cairn/storage/forwarding_store.h"

namespace cairn {

class FaultInjectingStore final : public ForwardingStore {
 public:
  explicit FaultInjectingStore(std::unique_ptr<ObjectStore> inner)
      : ForwardingStore(std::move(inner)) {}

  // Fails the n-th call (1-based, counting every call from now on) with `error`.
  void FailNthCall(int n, Status error);
  // Fails calls of `method` ("Head", "Get", "GetInto", "Download", "Put", "List", "Delete",
  // "Sync", or "*") whose key (or prefix) contains `key_part`, `times` times (-1: always).
  void FailMatching(std::string method, std::string key_part, Status error, int times = -1);
  // The process "dies" at the n-th call from now on: that call and every later one fail with
  // kIOError("crashed"), as if nothing ran after it.
  void CrashAtCall(int n);
  // What a power cut would leave: every Put made with PutOptions::sync = false and not followed
  // by a Sync() is undone (the object is removed, or its previous bytes put back), as a local
  // file system may lose writes not yet fsync'd. Returns how many puts were undone. Puts with
  // sync = true are durable once they return, and stay. (Unsynced puts racing on one key are
  // not modelled: cairn writes each chunk key once.)
  Result<int> DropUnsyncedWrites();
  // Forgets every rule (and a crash), not the record of unsynced writes.
  void Clear();
  // Calls seen so far, e.g. "Put model/1.json".
  std::vector<std::string> calls() const;

  Result<ObjectInfo> Head(const std::string& key) override;
  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override;
  Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                         const PutOptions& options) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Status Delete(const std::string& key) override;
  Status Sync() override;
  Status GetInto(const std::string& key, uint8_t* dest, uint64_t size, Sha256* hash) override;
  Result<ObjectInfo> Download(const std::string& key, const std::string& path,
                              const DownloadOptions& options) override;

 private:
  struct Rule {
    int nth = 0;  // 0: match by method/key instead
    std::string method, key_part;
    int times = -1;
    Status error;
  };
  Status Check(const char* method, const std::string& key);

  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  std::vector<std::string> calls_;
  int crash_at_ = 0;  // 0: no crash planned
  // Unsynced puts since the last Sync(): key -> the bytes before the first of them (nullopt: the
  // key did not exist).
  std::map<std::string, std::optional<std::string>> unsynced_;
};

}  // namespace cairn
