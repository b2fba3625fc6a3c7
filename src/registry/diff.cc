#include <map>

#include "cairn/registry/registry.h"

namespace cairn {

Result<std::vector<FileDiff>> Registry::Diff(const std::string& a_ref, const std::string& b_ref) {
  CAIRN_ASSIGN_OR_RETURN(VersionInfo a, Resolve(a_ref));
  CAIRN_ASSIGN_OR_RETURN(VersionInfo b, Resolve(b_ref));
  std::map<std::string, const FileEntry*> in_a, in_b;
  for (const auto& f : a.files) in_a[f.path] = &f;
  for (const auto& f : b.files) in_b[f.path] = &f;
  std::vector<FileDiff> out;
  for (const auto& [path, fa] : in_a) {
    auto it = in_b.find(path);
    if (it == in_b.end()) {
      out.push_back({FileDiff::Kind::kRemoved, path, {}});
      continue;
    }
    if (fa->sha256 == it->second->sha256) continue;
    FileDiff d{FileDiff::Kind::kChanged, path, {}};
    if (FormatForPath(path).ok()) {
      auto wa = ReadFile(a.ref(), path), wb = ReadFile(b.ref(), path);
      CAIRN_RETURN_IF_ERROR(wa.status());
      CAIRN_RETURN_IF_ERROR(wb.status());
      auto la = LoadWeights(*wa), lb = LoadWeights(*wb);
      if (la.ok() && lb.ok()) d.tensors = DiffTensors(la->root, lb->root);
    }
    out.push_back(std::move(d));
  }
  for (const auto& [path, fb] : in_b) {
    if (!in_a.count(path)) out.push_back({FileDiff::Kind::kAdded, path, {}});
  }
  return out;
}

}  // namespace cairn
