#include <unordered_set>

#include "cairn/core/parallel.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "locks.h"

namespace cairn {

using namespace registry;
using namespace layout;

Result<std::vector<std::string>> Registry::BreakStaleLocks() {
  return StoreLock::BreakStale(*store_, *clock_);
}

Result<GcReport> Registry::CollectGarbage(bool dry_run) {
  CAIRN_ASSIGN_OR_RETURN(auto lock,
                         StoreLock::Acquire(*store_, StoreLock::Kind::kExclusive, *clock_));
  // Mark: every chunk of every version of every group.
  std::unordered_set<std::string> referenced;
  CAIRN_ASSIGN_OR_RETURN(auto groups, ListGroups());
  for (const auto& g : groups) {
    CAIRN_ASSIGN_OR_RETURN(auto versions, ListVersions(g));
    for (const auto& v : versions)
      for (const auto& f : v.files)
        for (const auto& c : f.chunks) referenced.insert(ChunkKey(c.sha256));
  }
  // Sweep.
  CAIRN_ASSIGN_OR_RETURN(auto chunks, store_->List(ChunksPrefix()));
  std::vector<ObjectInfo> garbage;
  GcReport report;
  for (auto& o : chunks) {
    if (referenced.count(o.key)) {
      ++report.referenced;
    } else {
      report.deleted_bytes += o.size;
      garbage.push_back(std::move(o));
    }
  }
  report.deleted = garbage.size();
  report.space_kept_as_versions = store_->DeleteKeepsVersions();
  if (!dry_run) {
    CAIRN_RETURN_IF_ERROR(ParallelFor(
        garbage.size(), [&](size_t i) { return store_->Delete(garbage[i].key); }, 8));
  }
  return report;
}

}  // namespace cairn
