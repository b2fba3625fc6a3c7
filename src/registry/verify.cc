#include <map>
#include <mutex>

#include <memory>
#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"

namespace cairn {

using namespace registry;
using namespace layout;

Result<VerifyReport> Registry::Verify(const std::string& group) {
  std::vector<std::string> groups;
  if (group.empty()) {
    CAIRN_ASSIGN_OR_RETURN(groups, ListGroups());
  } else {
    CAIRN_RETURN_IF_ERROR(ValidateName("model group", group));
    groups.push_back(group);
  }
  VerifyReport report;
  // Each distinct chunk once, with the first place that uses it (for the message).
  std::map<std::string, std::pair<uint64_t, std::string>> chunks;
  for (const auto& g : groups) {
    CAIRN_ASSIGN_OR_RETURN(auto versions, ListVersions(g));
    for (const auto& v : versions) {
      ++report.versions;
      for (const auto& f : v.files) {
        for (const auto& c : f.chunks)
          chunks.emplace(c.sha256, std::make_pair(c.size, f.path + " in " + v.ref()));
      }
    }
  }
  std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>> list(chunks.begin(),
                                                                             chunks.end());
  std::mutex mu;
  CAIRN_RETURN_IF_ERROR(ParallelFor(list.size(), [&](size_t i) -> Status {
    const auto& [sha, info] = list[i];
    std::string problem;
    std::unique_ptr<uint8_t[]> buf(new uint8_t[info.first ? info.first : 1]);  // a chunk: <= 4 MiB
    Sha256 hash;  // fed as the bytes land, as restores do
    Status st = store_->GetInto(ChunkKey(sha), buf.get(), info.first, &hash);
    if (st.code() == Status::Code::kNotFound) {
      problem = "missing";
    } else if (st.code() == Status::Code::kCorrupt) {
      problem = "corrupt: " + st.message();
    } else if (!st.ok()) {
      return st;  // the store itself failed: not a finding about the data
    } else if (ToHex(hash.Finish()) != sha) {
      problem = "corrupt (its bytes do not match its SHA-256)";
    }
    std::lock_guard<std::mutex> lock(mu);
    ++report.chunks;
    report.bytes += info.first;
    if (!problem.empty())
      report.problems.push_back("chunk " + sha + " of " + info.second + ": " + problem);
    return Status::OK();
  }));
  return report;
}

}  // namespace cairn
