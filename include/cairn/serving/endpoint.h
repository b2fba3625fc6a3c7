// An endpoint: serves a registry reference (group:3, group:latest, group@alias), follows it when
// the alias or latest moves (a short poll of the store), loads the new version beside the old one,
// switches atomically once it is ready, and lets requests in flight finish on the old one. A
// version that fails to load leaves the old one serving, and says so in Models().
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/registry/registry.h"
#include "cairn/serving/model.h"

namespace cairn {

struct LoadedVersion {
  std::string ref;     // group:n
  std::string digest;  // SHA-256 over the version's files (path and digest of each)
  std::string dir;     // where it was restored; removed when the version is released
  std::shared_ptr<LoadedModel> model;
  int64_t loaded_ms = 0;
  double load_seconds = 0;
  ~LoadedVersion();
};

class Endpoint {
 public:
  Endpoint(Registry& registry, std::string ref, ServeOptions options, NativeLoader native,
           std::string work_dir);
  // Loads the version `ref` names now; an error if it cannot be served.
  Status Start();
  // Looks at `ref` again; loads and swaps in a new version if it moved. Returns true on a swap.
  bool Refresh();
  // The version serving now (null before Start succeeded). Holding it keeps it loaded.
  std::shared_ptr<const LoadedVersion> current() const { return std::atomic_load(&current_); }
  // {"ref": ..., "models": [{version, digest, state, kind, loaded, load_seconds}], "last_error"}
  std::string ModelsJson() const;
  const std::string& ref() const { return ref_; }
  double last_load_seconds() const { return last_load_seconds_.load(); }
  uint64_t swaps() const { return swaps_.load(); }

 private:
  Result<std::shared_ptr<LoadedVersion>> Load(const VersionInfo& v);

  Registry& registry_;
  std::string ref_;
  ServeOptions options_;
  NativeLoader native_;
  std::string work_dir_;
  std::shared_ptr<const LoadedVersion> current_;
  std::mutex refresh_mu_;   // one Refresh at a time
  std::string failed_ref_;  // the version that failed to load last (not retried)
  mutable std::mutex mu_;   // retired_, last_error_
  std::vector<std::weak_ptr<const LoadedVersion>> retired_;  // swapped out, maybe still in use
  std::string last_error_;
  std::atomic<double> last_load_seconds_{0};
  std::atomic<uint64_t> swaps_{0};
};

}  // namespace cairn
