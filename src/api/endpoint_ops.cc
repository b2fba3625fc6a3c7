// SageMaker models, endpoint configurations and endpoints: requests to records (records.h) and to
// deploys (endpoint_hosts.h).
#include "cairn/core/clock.h"
#include "cairn/registry/artifacts.h"
#include "endpoint_hosts.h"
#include "records.h"

namespace cairn::api {

namespace {

// SageMaker answers a missing model, configuration or endpoint with a ValidationException
// "Could not find <what> "<arn>"." (the SDK matches on it).
template <class R>
Result<R> Find(Context& c, const std::string& name) {
  auto r = RecordStore<R>(c.registry.store()).Get(name);
  if (r.status().code() != Status::Code::kNotFound) return r;
  const std::string kind = R::kKind;
  const char* what = kind == "models"      ? "model"
                     : kind == "endpoints" ? "endpoint"
                                           : "endpoint configuration";
  const char* arn_kind = kind == "models"      ? "model"
                         : kind == "endpoints" ? "endpoint"
                                               : "endpoint-config";
  return Status::InvalidArgument(std::string("Could not find ") + what + " \"" +
                                 c.Arn(arn_kind, name) + "\".");
}

// "Cannot create already existing <what> "<arn>"." as SageMaker words it (the SDK matches on it).
Status Exists(Context& c, const char* what, const char* arn_kind, const std::string& name) {
  return Status::InvalidArgument(std::string("Cannot create already existing ") + what + " \"" +
                                 c.Arn(arn_kind, name) + "\".");
}

// The registry version a container names: a model package, or model data imported as a new
// version of a group named after the model.
Result<std::string> ContainerVersion(Context& c, const std::string& model, const Json& container) {
  if (container.contains("ModelPackageName")) {
    std::string p = container["ModelPackageName"].get<std::string>();
    if (size_t mp = p.find(":model-package/"); mp != std::string::npos) p = p.substr(mp + 15);
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos)
      return Status::InvalidArgument("ModelPackageName must name a version: <group>/<n>");
    const std::string ref = p.substr(0, slash) + ":" + p.substr(slash + 1);
    if (!c.registry.Resolve(ref).ok())
      return Status::InvalidArgument("ModelPackage " + p + " does not exist.");
    return ref;
  }
  std::string url = container.value("ModelDataUrl", "");
  if (url.empty() && container.contains("ModelDataSource"))
    url = container["ModelDataSource"].value("S3DataSource", Json::object()).value("S3Uri", "");
  if (url.empty())
    return Status::InvalidArgument(
        "the container needs ModelDataUrl, ModelDataSource or ModelPackageName");
  // cairn://<group>:<n> names a version already in the registry; cairn://<group>@<alias> an
  // alias, which the endpoint's instances follow as it moves.
  if (url.rfind("cairn://", 0) == 0) {
    const std::string ref = url.substr(8);
    if (auto v = c.registry.Resolve(ref); !v.ok())
      return Status::InvalidArgument("ModelDataUrl " + url + ": " + v.status().message());
    return ref;
  }
  PublishOptions opts;
  opts.description = "SageMaker model " + model;
  auto v = ImportVersion(c.registry, model, url, opts);
  if (!v.ok()) return Status::InvalidArgument("ModelDataUrl " + url + ": " + v.status().message());
  return v->ref();
}

}  // namespace

Result<Json> CreateModel(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelName"));
  if (Status st = ValidateName("model name", name); !st.ok())
    return Status::InvalidArgument(st.message());
  RecordStore<ModelRecord> models(c.registry.store());
  if (models.Exists(name)) return Exists(c, "model", "model", name);
  Json container = in.value("PrimaryContainer", Json::object());
  if (container.empty() && in.contains("Containers") && !in["Containers"].empty())
    container = in["Containers"][0];
  const Json env = container.is_object() ? container.value("Environment", Json::object()) : Json();
  CAIRN_RETURN_IF_ERROR(CheckEnvironment(env));
  ModelRecord record;
  record.name = name;
  CAIRN_ASSIGN_OR_RETURN(record.ref, ContainerVersion(c, name, container));
  record.image = container.value("Image", "");
  record.environment = container.value("Environment", Json::object());
  record.role = in.value("ExecutionRoleArn", "");
  record.created_ms = NowMs();
  // Create-if-absent: of two racing creates one wins; the other's imported version stays as an
  // ordinary version of the group.
  Status st = models.Create(record);
  if (st.code() == Status::Code::kAlreadyExists) return Exists(c, "model", "model", name);
  CAIRN_RETURN_IF_ERROR(st);
  return Json{{"ModelArn", c.Arn("model", name)}};
}

Result<Json> DescribeModel(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelName"));
  CAIRN_ASSIGN_OR_RETURN(const ModelRecord r, Find<ModelRecord>(c, name));
  return Json{
      {"ModelName", r.name},
      {"ModelArn", c.Arn("model", r.name)},
      {"PrimaryContainer",
       {{"Image", r.image}, {"Environment", r.environment}, {"ModelDataUrl", "cairn://" + r.ref}}},
      {"ExecutionRoleArn", r.role},
      {"CreationTime", Seconds(r.created_ms)}};
}

Result<Json> DeleteModel(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "ModelName"));
  CAIRN_RETURN_IF_ERROR(Find<ModelRecord>(c, name).status());
  CAIRN_RETURN_IF_ERROR(RecordStore<ModelRecord>(c.registry.store()).Delete(name));
  return Json::object();
}

Result<Json> CreateEndpointConfig(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointConfigName"));
  const Json variants = in.value("ProductionVariants", Json::array());
  CAIRN_ASSIGN_OR_RETURN(const auto specs, ParseVariants(variants));
  for (const auto& s : specs) CAIRN_RETURN_IF_ERROR(Find<ModelRecord>(c, s.model).status());
  EndpointConfigRecord record;
  record.name = name;
  record.variants = variants;
  record.created_ms = NowMs();
  Status st = RecordStore<EndpointConfigRecord>(c.registry.store()).Create(record);
  if (st.code() == Status::Code::kAlreadyExists)  // of racing creates exactly one wins
    return Status::AlreadyExists("Cannot create already existing endpoint configuration \"" +
                                 c.Arn("endpoint-config", name) + "\".");
  CAIRN_RETURN_IF_ERROR(st);
  return Json{{"EndpointConfigArn", c.Arn("endpoint-config", name)}};
}

Result<Json> DescribeEndpointConfig(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointConfigName"));
  CAIRN_ASSIGN_OR_RETURN(const EndpointConfigRecord r, Find<EndpointConfigRecord>(c, name));
  return Json{{"EndpointConfigName", r.name},
              {"EndpointConfigArn", c.Arn("endpoint-config", r.name)},
              {"ProductionVariants", r.variants},
              {"CreationTime", Seconds(r.created_ms)}};
}

Result<Json> DeleteEndpointConfig(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointConfigName"));
  CAIRN_RETURN_IF_ERROR(Find<EndpointConfigRecord>(c, name).status());
  CAIRN_RETURN_IF_ERROR(RecordStore<EndpointConfigRecord>(c.registry.store()).Delete(name));
  return Json::object();
}

Result<Json> CreateEndpoint(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointName"));
  CAIRN_ASSIGN_OR_RETURN(const std::string config, RequiredString(in, "EndpointConfigName"));
  CAIRN_RETURN_IF_ERROR(Find<EndpointConfigRecord>(c, config).status());
  EndpointRecord record;
  record.name = name;
  record.config = config;
  record.status = EndpointStatus::kCreating;
  record.created_ms = record.modified_ms = NowMs();
  Status st = c.endpoints->Create(record);
  if (st.code() == Status::Code::kAlreadyExists) return Exists(c, "endpoint", "endpoint", name);
  CAIRN_RETURN_IF_ERROR(st);
  return Json{{"EndpointArn", c.Arn("endpoint", name)}};
}

Result<Json> UpdateEndpoint(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointName"));
  CAIRN_ASSIGN_OR_RETURN(const std::string config, RequiredString(in, "EndpointConfigName"));
  CAIRN_RETURN_IF_ERROR(Find<EndpointRecord>(c, name).status());
  CAIRN_RETURN_IF_ERROR(Find<EndpointConfigRecord>(c, config).status());
  CAIRN_RETURN_IF_ERROR(c.endpoints->Update(name, config, in.value("DeploymentConfig", Json())));
  return Json{{"EndpointArn", c.Arn("endpoint", name)}};
}

Result<Json> UpdateEndpointWeightsAndCapacities(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointName"));
  CAIRN_RETURN_IF_ERROR(Find<EndpointRecord>(c, name).status());
  CAIRN_RETURN_IF_ERROR(
      c.endpoints->UpdateWeights(name, in.value("DesiredWeightsAndCapacities", Json::array())));
  return Json{{"EndpointArn", c.Arn("endpoint", name)}};
}

Result<Json> DescribeEndpoint(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointName"));
  CAIRN_ASSIGN_OR_RETURN(const EndpointRecord r, Find<EndpointRecord>(c, name));
  Json out = {{"EndpointName", r.name},
              {"EndpointArn", c.Arn("endpoint", r.name)},
              {"EndpointConfigName", r.config},
              {"EndpointStatus", EndpointStatusName(r.status)},
              {"CreationTime", Seconds(r.created_ms)},
              {"LastModifiedTime", Seconds(r.modified_ms)}};
  if (!r.failure.empty()) out["FailureReason"] = r.failure;
  // cairn's own (botocore drops it): what `cairn endpoints rollback` moves back to.
  if (!r.previous_config.empty()) out["CairnPreviousEndpointConfigName"] = r.previous_config;
  c.endpoints->Describe(name, out);
  return out;
}

Result<Json> ListEndpoints(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(auto records, RecordStore<EndpointRecord>(c.registry.store()).List());
  Json items = Json::array();
  for (const auto& r : records) {
    items.push_back({{"EndpointName", r.name},
                     {"EndpointArn", c.Arn("endpoint", r.name)},
                     {"CreationTime", Seconds(r.created_ms)},
                     {"LastModifiedTime", Seconds(r.modified_ms)},
                     {"EndpointStatus", EndpointStatusName(r.status)}});
  }
  return Page(items, in, "Endpoints");
}

Result<Json> DeleteEndpoint(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "EndpointName"));
  CAIRN_RETURN_IF_ERROR(Find<EndpointRecord>(c, name).status());
  CAIRN_RETURN_IF_ERROR(c.endpoints->Remove(name));
  return Json::object();
}

}  // namespace cairn::api
