// Model package groups and model packages: the same groups and versions `cairn models` shows.
#include <algorithm>
#include <set>

#include "api.h"
#include "cairn/registry/artifacts.h"

namespace cairn::api {

namespace {

const char kGroups[] = "api/model-package-groups/";

Json GroupRecord(Context& c, const std::string& name) {
  auto text = GetString(c.registry.store(), kGroups + name + ".json");
  if (text.ok()) return Json::parse(*text, nullptr, false);
  // A group with versions but no record (published with `cairn models`) exists all the same.
  auto versions = c.registry.ListVersions(name);
  if (!versions.ok() || versions->empty())
    throw NotFound("ModelPackageGroup " + name + " does not exist.");
  return Json{{"name", name}, {"description", ""}, {"created_ms", versions->front().created_ms}};
}

Json GroupSummary(Context& c, const Json& g) {
  return {{"ModelPackageGroupName", g["name"]},
          {"ModelPackageGroupArn", c.Arn("model-package-group", g["name"].get<std::string>())},
          {"ModelPackageGroupDescription", g.value("description", "")},
          {"CreationTime", Seconds(g["created_ms"].get<int64_t>())},
          {"ModelPackageGroupStatus", "Completed"}};
}

// "group/3", or its ARN.
std::pair<std::string, int64_t> PackageName(const std::string& name) {
  std::string s = name;
  const size_t mp = s.find(":model-package/");
  if (mp != std::string::npos) s = s.substr(mp + 15);
  const size_t slash = s.rfind('/');
  if (slash == std::string::npos || slash == 0)
    throw Validation("ModelPackageName " + name + " must be <group>/<version> or its ARN");
  try {
    return {s.substr(0, slash), std::stoll(s.substr(slash + 1))};
  } catch (const std::exception&) {
    throw Validation("ModelPackageName " + name + " must end in a version number");
  }
}

Approval ParseApproval(const std::string& s) {
  if (s == "Approved") return Approval::kApproved;
  if (s == "Rejected") return Approval::kRejected;
  if (s == "PendingManualApproval") return Approval::kPendingManualApproval;
  throw Validation("ModelApprovalStatus must be Approved, Rejected or PendingManualApproval");
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

Json CreateModelPackageGroup(Context& c, const Json& in) {
  const std::string name = RequiredString(in, "ModelPackageGroupName");
  if (Status st = ValidateName("model package group", name); !st.ok())
    throw Validation(st.message());
  Json record = {{"name", name},
                 {"description", in.value("ModelPackageGroupDescription", "")},
                 {"created_ms", static_cast<int64_t>(std::time(nullptr)) * 1000}};
  auto put = PutString(c.registry.store(), kGroups + name + ".json", record.dump(),
                       PutOptions::IfAbsent());
  if (put.status().code() == Status::Code::kPreconditionFailed ||
      put.status().code() == Status::Code::kAlreadyExists) {
    throw Validation("Model Package Group already exists: " + c.Arn("model-package-group", name));
  }
  if (!put.ok()) throw FromStatus(put.status());
  return {{"ModelPackageGroupArn", c.Arn("model-package-group", name)}};
}

Json DescribeModelPackageGroup(Context& c, const Json& in) {
  return GroupSummary(c, GroupRecord(c, RequiredString(in, "ModelPackageGroupName")));
}

Json ListModelPackageGroups(Context& c, const Json& in) {
  std::set<std::string> names;
  auto objects = c.registry.store().List(kGroups);
  if (!objects.ok()) throw FromStatus(objects.status());
  for (const auto& o : *objects) {
    std::string n = o.key.substr(sizeof(kGroups) - 1);
    if (n.size() > 5) names.insert(n.substr(0, n.size() - 5));
  }
  auto groups = c.registry.ListGroups();
  if (!groups.ok()) throw FromStatus(groups.status());
  names.insert(groups->begin(), groups->end());
  Json items = Json::array();
  const std::string contains = in.value("NameContains", "");
  for (const auto& n : names)
    if (n.find(contains) != std::string::npos) items.push_back(GroupSummary(c, GroupRecord(c, n)));
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

Json CreateModelPackage(Context& c, const Json& in) {
  const std::string group = RequiredString(in, "ModelPackageGroupName");
  GroupRecord(c, group);  // must exist, as in SageMaker
  const Json spec = in.value("InferenceSpecification", Json::object());
  const Json containers = spec.value("Containers", Json::array());
  if (!containers.is_array() || containers.empty() || !containers[0].contains("ModelDataUrl"))
    throw Validation("InferenceSpecification.Containers[0].ModelDataUrl is required");
  PublishOptions opts;
  opts.description = in.value("ModelPackageDescription", "");
  opts.lineage["sagemaker.inference_specification"] = spec.dump();
  const Json meta = in.value("CustomerMetadataProperties", Json::object());
  for (const auto& [k, v] : meta.items())
    if (v.is_string()) opts.tags[k] = v.get<std::string>();
  auto version =
      ImportVersion(c.registry, group, containers[0]["ModelDataUrl"].get<std::string>(), opts);
  if (!version.ok()) throw FromStatus(version.status());
  const std::string approval = in.value("ModelApprovalStatus", "PendingManualApproval");
  if (Status st = c.registry.SetApproval(version->ref(), ParseApproval(approval)); !st.ok())
    throw FromStatus(st);
  return {
      {"ModelPackageArn", c.Arn("model-package", group + "/" + std::to_string(version->version))}};
}

Json DescribeModelPackage(Context& c, const Json& in) {
  auto [group, n] = PackageName(RequiredString(in, "ModelPackageName", 2048));
  auto v = c.registry.Resolve(group + ":" + std::to_string(n));
  if (!v.ok())
    throw NotFound("ModelPackage " + group + "/" + std::to_string(n) + " does not exist.");
  return Package(c, *v, true);
}

Json ListModelPackages(Context& c, const Json& in) {
  std::vector<std::string> groups;
  if (in.contains("ModelPackageGroupName")) {
    groups.push_back(in["ModelPackageGroupName"].get<std::string>());
  } else {
    auto all = c.registry.ListGroups();
    if (!all.ok()) throw FromStatus(all.status());
    groups = *all;
  }
  Json items = Json::array();
  const std::string approval = in.value("ModelApprovalStatus", "");
  for (const auto& g : groups) {
    auto versions = c.registry.ListVersions(g);
    if (!versions.ok()) throw FromStatus(versions.status());
    for (const auto& v : *versions)
      if (approval.empty() || ApprovalName(v.approval) == approval)
        items.push_back(Package(c, v, false));
  }
  const bool asc = in.value("SortOrder", "Descending") == "Ascending";
  std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
    return asc ? a["CreationTime"] < b["CreationTime"] : b["CreationTime"] < a["CreationTime"];
  });
  return Page(items, in, "ModelPackageSummaryList");
}

Json UpdateModelPackage(Context& c, const Json& in) {
  const std::string arn = RequiredString(in, "ModelPackageArn", 2048);
  auto [group, n] = PackageName(arn);
  const std::string ref = group + ":" + std::to_string(n);
  if (!c.registry.Resolve(ref).ok()) throw NotFound("ModelPackage " + arn + " does not exist.");
  if (in.contains("ModelApprovalStatus")) {
    if (Status st = c.registry.SetApproval(
            ref, ParseApproval(in["ModelApprovalStatus"].get<std::string>()));
        !st.ok())
      throw FromStatus(st);
  }
  return {{"ModelPackageArn", c.Arn("model-package", group + "/" + std::to_string(n))}};
}

}  // namespace cairn::api
