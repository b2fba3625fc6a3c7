#include "records.h"

#include "cairn/core/enum_names.h"

namespace cairn::api {

namespace {

// Reads a record's fields; a field of the wrong type is a corrupt record, not an exception.
template <class R, class F>
Result<R> Parse(const Json& j, F fill) {
  try {
    R r;
    fill(r);
    if (r.name.empty()) return Status::Corrupt(std::string(R::kKind) + " record without a name");
    return r;
  } catch (const Json::exception& e) {
    return Status::Corrupt(std::string(R::kKind) + " record: " + e.what());
  }
}

constexpr EnumNames<EndpointStatus, 6> kEndpointStatusNames({{
    {EndpointStatus::kCreating, "Creating"},
    {EndpointStatus::kUpdating, "Updating"},
    {EndpointStatus::kInService, "InService"},
    {EndpointStatus::kFailed, "Failed"},
    {EndpointStatus::kDeleting, "Deleting"},
    {EndpointStatus::kRollingBack, "RollingBack"},
}});

}  // namespace

const char* EndpointStatusName(EndpointStatus s) { return kEndpointStatusNames.Name(s); }

Result<EndpointStatus> ParseEndpointStatus(const std::string& name) {
  return kEndpointStatusNames.Parse(name, "endpoint status");
}

Json ModelRecord::ToJson() const {
  return {{"name", name},   {"ref", ref},
          {"image", image}, {"environment", environment},
          {"role", role},   {"created_ms", created_ms}};
}

Result<ModelRecord> ModelRecord::FromJson(const Json& j) {
  return Parse<ModelRecord>(j, [&](ModelRecord& r) {
    r.name = j.value("name", "");
    r.ref = j.value("ref", "");
    r.image = j.value("image", "");
    r.environment = j.value("environment", Json::object());
    r.role = j.value("role", "");
    r.created_ms = j.value("created_ms", int64_t{0});
  });
}

Json EndpointConfigRecord::ToJson() const {
  return {{"name", name}, {"variants", variants}, {"created_ms", created_ms}};
}

Result<EndpointConfigRecord> EndpointConfigRecord::FromJson(const Json& j) {
  return Parse<EndpointConfigRecord>(j, [&](EndpointConfigRecord& r) {
    r.name = j.value("name", "");
    r.variants = j.value("variants", Json::array());
    r.created_ms = j.value("created_ms", int64_t{0});
  });
}

Json EndpointRecord::ToJson() const {
  Json j = {
      {"name", name},       {"config", config},         {"status", EndpointStatusName(status)},
      {"failure", failure}, {"created_ms", created_ms}, {"modified_ms", modified_ms}};
  if (!pending_config.empty()) j["pending_config"] = pending_config;
  if (!previous_config.empty()) j["previous_config"] = previous_config;
  if (!desired.empty()) j["desired"] = desired;
  if (!deployment.is_null()) j["deployment"] = deployment;
  return j;
}

Result<EndpointRecord> EndpointRecord::FromJson(const Json& j) {
  Status bad_status;
  auto parsed = Parse<EndpointRecord>(j, [&](EndpointRecord& r) {
    auto status = ParseEndpointStatus(j.value("status", ""));
    if (status.ok()) {
      r.status = *status;
    } else {
      bad_status = Status::Corrupt("endpoint record: " + status.status().message());
    }
    r.name = j.value("name", "");
    r.config = j.value("config", "");
    r.pending_config = j.value("pending_config", "");
    r.previous_config = j.value("previous_config", "");
    r.failure = j.value("failure", "");
    r.desired = j.value("desired", Json::object());
    r.deployment = j.value("deployment", Json());
    r.created_ms = j.value("created_ms", int64_t{0});
    r.modified_ms = j.value("modified_ms", int64_t{0});
  });
  if (parsed.ok() && !bad_status.ok()) return bad_status;
  return parsed;
}

Json ModelPackageGroupRecord::ToJson() const {
  return {{"name", name}, {"description", description}, {"created_ms", created_ms}};
}

Result<ModelPackageGroupRecord> ModelPackageGroupRecord::FromJson(const Json& j) {
  return Parse<ModelPackageGroupRecord>(j, [&](ModelPackageGroupRecord& r) {
    r.name = j.value("name", "");
    r.description = j.value("description", "");
    r.created_ms = j.value("created_ms", int64_t{0});
  });
}

}  // namespace cairn::api
