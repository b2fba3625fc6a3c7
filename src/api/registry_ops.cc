// Model package groups and model packages: the same groups and versions `cairn models` shows.
#include <algorithm>
#include <set>

#include "api.h"
#include "cairn/core/clock.h"
#include "cairn/registry/artifacts.h"
#include "records.h"

namespace cairn::api {

namespace {

RecordStore<ModelPackageGroupRecord> Groups(Context& c) {
  return RecordStore<ModelPackageGroupRecord>(c.registry.store());
}

// kNotFound unless the group has a record or versions.
Result<ModelPackageGroupRecord> FindGroup(Context& c, const std::string& name) {
  auto record = Groups(c).Get(name);
  if (record.status().code() != Status::Code::kNotFound) return record;
  // A group with versions but no record (published with `cairn models`) exists all the same.
  auto versions = c.registry.ListVersions(name);
  if (!versions.ok() || versions->empty())
    return Status::NotFound("ModelPackageGroup " + name + " does not exist.");
  ModelPackageGroupRecord g;
  g.name = name;
  g.created_ms = versions->front().created_ms;
  return g;
}

Json GroupSummary(Context& c, const ModelPackageGroupRecord& g) {
  return {{"ModelPackageGroupName", g.name},
          {"ModelPackageGroupArn", c.Arn("model-package-group", g.name)},
          {"ModelPackageGroupDescription", g.description},
          {"CreationTime", Seconds(g.created_ms)},
          {"ModelPackageGroupStatus", "Completed"}};
}

struct PackageName {
  std::string group;
  int64_t version = 0;
  std::string ref() const { return group + ":" + std::to_string(version); }
  std::string name() const { return group + "/" + std::to_string(version); }
};

// "group/3", or its ARN.
Result<PackageName> ParsePackageName(const std::string& name) {
  std::string s = name;
  const size_t mp = s.find(":model-package/");
  if (mp != std::string::npos) s = s.substr(mp + 15);
  const size_t slash = s.rfind('/');
  if (slash == std::string::npos || slash == 0)
    return Status::InvalidArgument("ModelPackageName " + name +
                                   " must be <group>/<version> or its ARN");
  const std::string digits = s.substr(slash + 1);
  if (digits.empty() || digits.size() > 15 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("ModelPackageName " + name + " must end in a version number");
  return PackageName{s.substr(0, slash), std::stoll(digits)};
}

Result<Approval> ParseApproval(const std::string& s) {
  if (s == "Approved") return Approval::kApproved;
  if (s == "Rejected") return Approval::kRejected;
  if (s == "PendingManualApproval") return Approval::kPendingManualApproval;
  return Status::InvalidArgument(
      "ModelApprovalStatus must be Approved, Rejected or PendingManualApproval");
}

Json Package(Context& c, const VersionInfo& v, bool full) {
  const std::string name = v.group + "/" + std::to_string(v.version);
  Json out = {{"ModelPackageGroupName", v.group},
              {"ModelPackageVersion", v.version},
              {"ModelPackageArn", c.Arn("model-package", name)},
              {"ModelPackageDescription", v.description},
              {"CreationTime", Seconds(v.created_ms)},
              {"ModelPackageStatus", "Completed"},
              {"ModelApprovalStatus", std::string(ApprovalName(v.approval))}};
  if (full) {
    out["ModelPackageName"] = v.group;
    auto spec = v.lineage.find("sagemaker.inference_specification");
    if (spec != v.lineage.end())
      out["InferenceSpecification"] = Json::parse(spec->second, nullptr, false);
    Json meta = Json::object();
    for (const auto& [k, val] : v.tags) meta[k] = val;
    out["CustomerMetadataProperties"] = meta;
    out["ModelPackageStatusDetails"] = {{"ValidationStatuses", Json::array()}};
  }
  return out;
}

}  // namespace

Result<Json> CreateModelPackageGroup(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelPackageGroupName"));
  if (Status st = ValidateName("model package group", name); !st.ok())
    return Status::InvalidArgument(st.message());
  ModelPackageGroupRecord record;
  record.name = name;
  record.description = in.value("ModelPackageGroupDescription", "");
  record.created_ms = NowMs() / 1000 * 1000;
  Status st = Groups(c).Create(record);
  if (st.code() == Status::Code::kAlreadyExists)
    return Status::InvalidArgument("Model Package Group already exists: " +
                                   c.Arn("model-package-group", name));
  CAIRN_RETURN_IF_ERROR(st);
  return Json{{"ModelPackageGroupArn", c.Arn("model-package-group", name)}};
}

Result<Json> DescribeModelPackageGroup(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelPackageGroupName"));
  CAIRN_ASSIGN_OR_RETURN(const ModelPackageGroupRecord g, FindGroup(c, name));
  return GroupSummary(c, g);
}

Result<Json> ListModelPackageGroups(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(auto recorded, Groups(c).ListNames());
  std::set<std::string> names(recorded.begin(), recorded.end());
  CAIRN_ASSIGN_OR_RETURN(auto groups, c.registry.ListGroups());
  names.insert(groups.begin(), groups.end());
  Json items = Json::array();
  const std::string contains = in.value("NameContains", "");
  for (const auto& n : names) {
    if (n.find(contains) == std::string::npos) continue;
    auto g = FindGroup(c, n);
    if (g.ok()) items.push_back(GroupSummary(c, *g));  // else deleted meanwhile
  }
  const bool by_name = in.value("SortBy", "CreationTime") == "Name";
  const bool asc = in.value("SortOrder", "Descending") == "Ascending";
  std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
    const bool less = by_name ? a["ModelPackageGroupName"] < b["ModelPackageGroupName"]
                              : a["CreationTime"] < b["CreationTime"];
    const bool greater = by_name ? b["ModelPackageGroupName"] < a["ModelPackageGroupName"]
                                 : b["CreationTime"] < a["CreationTime"];
    return asc ? less : greater;
  });
  return Page(items, in, "ModelPackageGroupSummaryList");
}

Result<Json> CreateModelPackage(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string group, RequiredString(in, "ModelPackageGroupName"));
  CAIRN_RETURN_IF_ERROR(FindGroup(c, group).status());  // it must exist, as in SageMaker
  const Json spec = in.value("InferenceSpecification", Json::object());
  const Json containers = spec.value("Containers", Json::array());
  if (!containers.is_array() || containers.empty() || !containers[0].contains("ModelDataUrl"))
    return Status::InvalidArgument("InferenceSpecification.Containers[0].ModelDataUrl is required");
  PublishOptions opts;
  opts.description = in.value("ModelPackageDescription", "");
  opts.lineage["sagemaker.inference_specification"] = spec.dump();
  const Json meta = in.value("CustomerMetadataProperties", Json::object());
  for (const auto& [k, v] : meta.items())
    if (v.is_string()) opts.tags[k] = v.get<std::string>();
  CAIRN_ASSIGN_OR_RETURN(
      const Approval approval,
      ParseApproval(in.value("ModelApprovalStatus", std::string("PendingManualApproval"))));
  CAIRN_ASSIGN_OR_RETURN(
      const VersionInfo version,
      ImportVersion(c.registry, group, containers[0]["ModelDataUrl"].get<std::string>(), opts));
  CAIRN_RETURN_IF_ERROR(c.registry.SetApproval(version.ref(), approval));
  return Json{
      {"ModelPackageArn", c.Arn("model-package", group + "/" + std::to_string(version.version))}};
}

Result<Json> DescribeModelPackage(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelPackageName", 2048));
  CAIRN_ASSIGN_OR_RETURN(const PackageName p, ParsePackageName(name));
  auto v = c.registry.Resolve(p.ref());
  if (!v.ok()) return Status::NotFound("ModelPackage " + p.name() + " does not exist.");
  return Package(c, *v, true);
}

Result<Json> ListModelPackages(Context& c, const Json& in) {
  std::vector<std::string> groups;
  if (in.contains("ModelPackageGroupName")) {
    groups.push_back(in["ModelPackageGroupName"].get<std::string>());
  } else {
    CAIRN_ASSIGN_OR_RETURN(groups, c.registry.ListGroups());
  }
  Json items = Json::array();
  const std::string approval = in.value("ModelApprovalStatus", "");
  for (const auto& g : groups) {
    CAIRN_ASSIGN_OR_RETURN(auto versions, c.registry.ListVersions(g));
    for (const auto& v : versions)
      if (approval.empty() || ApprovalName(v.approval) == approval)
        items.push_back(Package(c, v, false));
  }
  const bool asc = in.value("SortOrder", "Descending") == "Ascending";
  std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
    return asc ? a["CreationTime"] < b["CreationTime"] : b["CreationTime"] < a["CreationTime"];
  });
  return Page(items, in, "ModelPackageSummaryList");
}

Result<Json> UpdateModelPackage(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string arn, RequiredString(in, "ModelPackageArn", 2048));
  CAIRN_ASSIGN_OR_RETURN(const PackageName p, ParsePackageName(arn));
  if (!c.registry.Resolve(p.ref()).ok())
    return Status::NotFound("ModelPackage " + arn + " does not exist.");
  if (in.contains("ModelApprovalStatus")) {
    CAIRN_ASSIGN_OR_RETURN(const Approval approval,
                           ParseApproval(in["ModelApprovalStatus"].get<std::string>()));
    CAIRN_RETURN_IF_ERROR(c.registry.SetApproval(p.ref(), approval));
  }
  return Json{{"ModelPackageArn", c.Arn("model-package", p.name())}};
}

}  // namespace cairn::api
