// The dashboard's registry pages: groups, versions, one version (files, lineage, what serves it),
// its tensors, and the diff of two versions. All read from the store as the API reads it.
#include <algorithm>
#include <cmath>

#include "cairn/formats/weights.h"
#include "cairn/training/job.h"
#include "records.h"
#include "ui.h"

namespace cairn::api {
namespace {

// Weight files are read whole (and verified) to list their tensors or diff them: a page view
// does so up to this size per file.
constexpr uint64_t kMaxTensorListingBytes = uint64_t{512} << 20;

Json VersionSummary(const VersionInfo& v) {
  Json j = {{"version", v.version},        {"approval", ApprovalName(v.approval)},
            {"aliases", v.aliases},        {"size", v.total_size()},
            {"files", v.files.size()},     {"metrics", v.metrics},
            {"created_by", v.created_by},  {"created_ms", v.created_ms},
            {"description", v.description}};
  if (auto it = v.lineage.find("training_job"); it != v.lineage.end()) j["job"] = it->second;
  return j;
}

// What the registry's Diff reads as weights (src/registry/diff.cc): the same rule, so that the
// size guard below covers exactly the files it would load.
bool IsWeightsFile(const std::string& path) { return FormatForPath(path).ok(); }

// JSON has no infinity: a tensor that grew from all zeros says so in words.
Json Finite(double v) { return std::isfinite(v) ? Json(v) : Json("inf"); }

const char* KindName(int kind) { return kind == 0 ? "added" : kind == 1 ? "removed" : "changed"; }

// Endpoints whose current configuration serves `ref` (resolved: a model may name an alias).
Json ServingEndpoints(Context& c, const VersionInfo& v) {
  Json out = Json::array();
  auto endpoints = RecordStore<EndpointRecord>(c.registry.store()).List();
  if (!endpoints.ok()) return out;
  for (const auto& e : *endpoints) {
    auto config = RecordStore<EndpointConfigRecord>(c.registry.store()).Get(e.config);
    if (!config.ok()) continue;
    for (const auto& variant : config->variants) {
      if (!variant.is_object() || !variant.contains("ModelName") ||
          !variant["ModelName"].is_string() || !variant.contains("VariantName") ||
          !variant["VariantName"].is_string())
        continue;  // a damaged record does not hide the others
      const std::string model = variant["ModelName"].get<std::string>();
      auto m = RecordStore<ModelRecord>(c.registry.store()).Get(model);
      if (!m.ok()) continue;
      auto served = c.registry.Resolve(m->ref);
      if (served.ok() && served->group == v.group && served->version == v.version)
        out.push_back({{"endpoint", e.name},
                       {"status", EndpointStatusName(e.status)},
                       {"variant", variant["VariantName"].get<std::string>()},
                       {"model", model},
                       {"model_ref", m->ref}});
    }
  }
  return out;
}

}  // namespace

Result<Json> UiGroups(Context& c) {
  CAIRN_ASSIGN_OR_RETURN(auto groups, c.registry.ListGroups());
  Json out = Json::array();
  for (const auto& g : groups) {
    CAIRN_ASSIGN_OR_RETURN(auto versions, c.registry.ListVersions(g));
    Json aliases = Json::object();
    int64_t approved = 0, latest_ms = 0;
    for (const auto& v : versions) {
      for (const auto& a : v.aliases) aliases[a] = v.version;
      approved += v.approval == Approval::kApproved;
      latest_ms = std::max(latest_ms, v.created_ms);
    }
    out.push_back({{"group", g},
                   {"versions", versions.size()},
                   {"latest", versions.empty() ? 0 : versions.back().version},
                   {"latest_ms", latest_ms},
                   {"approved", approved},
                   {"aliases", aliases}});
  }
  return Json{{"groups", out}};
}

Result<Json> UiVersions(Context& c, const std::string& group) {
  CAIRN_RETURN_IF_ERROR(ValidateName("group", group));
  CAIRN_ASSIGN_OR_RETURN(auto versions, c.registry.ListVersions(group));
  if (versions.empty()) return Status::NotFound("no model group " + group);
  Json list = Json::array();
  for (const auto& v : versions) list.push_back(VersionSummary(v));
  return Json{{"group", group}, {"versions", list}};
}

Result<Json> UiVersion(Context& c, const std::string& group, int64_t version) {
  CAIRN_RETURN_IF_ERROR(ValidateName("group", group));
  CAIRN_ASSIGN_OR_RETURN(const VersionInfo v,
                         c.registry.Resolve(group + ":" + std::to_string(version)));
  Json out = VersionSummary(v);
  out["group"] = v.group;
  out["tags"] = v.tags;
  out["lineage"] = v.lineage;
  Json files = Json::array();
  for (const auto& f : v.files)
    files.push_back({{"path", f.path},
                     {"size", f.size},
                     {"sha256", f.sha256},
                     {"chunks", f.chunks.size()},
                     {"weights", IsWeightsFile(f.path)}});
  out["file_list"] = files;
  // The graph: inputs (channels and code, with digests) -> job -> this version -> aliases and
  // endpoints.
  Json inputs = Json::array();
  for (const auto& [k, val] : v.lineage) {
    if (k.rfind("channel.", 0) == 0 && k.size() > 7 && k.find(".sha256") == std::string::npos) {
      const std::string name = k.substr(8);
      auto digest = v.lineage.find(k + ".sha256");
      inputs.push_back({{"kind", "channel"},
                        {"name", name},
                        {"uri", val},
                        {"sha256", digest == v.lineage.end() ? "" : digest->second}});
    }
  }
  for (const auto& [k, val] : v.lineage)  // channels known only by digest (Slurm nodes)
    if (k.rfind("channel.", 0) == 0 && k.size() > 15 &&
        k.compare(k.size() - 7, 7, ".sha256") == 0 && !v.lineage.count(k.substr(0, k.size() - 7)))
      inputs.push_back({{"kind", "channel"},
                        {"name", k.substr(8, k.size() - 15)},
                        {"uri", ""},
                        {"sha256", val}});
  if (auto code = v.lineage.find("code_sha256"); code != v.lineage.end()) {
    auto entry = v.lineage.find("entry_point");
    inputs.push_back({{"kind", "code"},
                      {"name", entry == v.lineage.end() ? "code" : entry->second},
                      {"sha256", code->second}});
  }
  if (auto from = v.lineage.find("imported_from"); from != v.lineage.end())
    inputs.push_back({{"kind", "import"}, {"name", from->second}, {"sha256", ""}});
  Json job = nullptr;
  if (auto name = v.lineage.find("training_job"); name != v.lineage.end()) {
    job = {{"name", name->second}};
    if (auto j = JobStore(c.registry.store()).Load(name->second); j.ok())
      job["status"] = TrainingJobStatusName(j->status);
  }
  out["graph"] = {{"inputs", inputs},
                  {"job", job},
                  {"aliases", v.aliases},
                  {"endpoints", ServingEndpoints(c, v)}};
  return out;
}

Result<Json> UiTensors(Context& c, const std::string& group, int64_t version) {
  CAIRN_RETURN_IF_ERROR(ValidateName("group", group));
  const std::string ref = group + ":" + std::to_string(version);
  CAIRN_ASSIGN_OR_RETURN(const VersionInfo v, c.registry.Resolve(ref));
  Json out = Json::array();
  Json errors = Json::array();
  for (const auto& f : v.files) {
    if (!IsWeightsFile(f.path)) continue;
    if (f.size > kMaxTensorListingBytes) {  // read whole into memory: not for a page view
      errors.push_back({{"file", f.path},
                        {"error", "too large to list here (" + std::to_string(f.size >> 20) +
                                      " MiB); `cairn weights inspect` after a restore lists it"}});
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto bytes, c.registry.ReadFile(ref, f.path));  // every chunk checked
    auto w = LoadWeights(bytes);
    if (!w.ok()) {  // e.g. a TorchScript archive: listed as a file, not as tensors
      errors.push_back({{"file", f.path}, {"error", w.status().message()}});
      continue;
    }
    for (const auto& nt : FlattenTensors(w->root))
      out.push_back({{"file", f.path},
                     {"name", nt.name},
                     {"dtype", DTypeName(nt.tensor->dtype)},
                     {"shape", nt.tensor->shape},
                     {"bytes", nt.tensor->nbytes()}});
  }
  return Json{{"version", ref}, {"tensors", out}, {"unreadable", errors}};
}

Result<Json> UiDiff(Context& c, const std::string& a, const std::string& b) {
  CAIRN_ASSIGN_OR_RETURN(const VersionInfo va, c.registry.Resolve(a));
  CAIRN_ASSIGN_OR_RETURN(const VersionInfo vb, c.registry.Resolve(b));
  for (const VersionInfo* v : {&va, &vb})
    for (const auto& f : v->files)
      if (IsWeightsFile(f.path) && f.size > kMaxTensorListingBytes)
        return Status::InvalidArgument(v->ref() + ":" + f.path + " is " +
                                       std::to_string(f.size >> 20) +
                                       " MiB: too large to diff here; use `cairn models diff`");
  CAIRN_ASSIGN_OR_RETURN(auto diffs, c.registry.Diff(va.ref(), vb.ref()));
  Json files = Json::array();
  for (const auto& d : diffs) {
    Json tensors = Json::array();
    for (const auto& t : d.tensors)
      tensors.push_back({{"name", t.name},
                         {"kind", KindName(static_cast<int>(t.kind))},
                         {"detail", t.detail},
                         // null where values were not compared (added, removed, new dtype/shape)
                         {"max_abs", t.values_compared ? Finite(t.max_abs_diff) : Json(nullptr)},
                         {"rel_l2", t.values_compared ? Finite(t.rel_l2) : Json(nullptr)}});
    files.push_back(
        {{"path", d.path}, {"kind", KindName(static_cast<int>(d.kind))}, {"tensors", tensors}});
  }
  return Json{{"a", va.ref()}, {"b", vb.ref()}, {"files", files}};
}

}  // namespace cairn::api
