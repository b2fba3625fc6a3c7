// Batch transform's operations (transform_jobs.h runs the jobs): CreateTransformJob,
// DescribeTransformJob, ListTransformJobs, StopTransformJob, shaped as botocore's sagemaker
// service model has them.
#include <algorithm>

#include "cairn/core/clock.h"
#include "transform_jobs.h"

namespace cairn::api {

namespace {

Result<TransformJobRecord> Load(Context& c, const std::string& name) {
  auto r = RecordStore<TransformJobRecord>(c.registry.store()).Get(name);
  if (r.status().code() == Status::Code::kNotFound)
    return Status::InvalidArgument("Could not find job " + name + ".");
  return r;
}

Json Summary(Context& c, const TransformJobRecord& r) {
  Json j = {{"TransformJobName", r.name},
            {"TransformJobArn", c.Arn("transform-job", r.name)},
            {"CreationTime", Seconds(r.created_ms)},
            {"TransformJobStatus", r.status}};
  if (r.ended_ms) j["TransformEndTime"] = Seconds(r.ended_ms);
  if (!r.failure.empty()) j["FailureReason"] = r.failure;
  return j;
}

}  // namespace

Result<Json> CreateTransformJob(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "TransformJobName"));
  if (Status st = ValidateName("transform job name", name); !st.ok())
    return Status::InvalidArgument(st.message());
  CAIRN_ASSIGN_OR_RETURN(const std::string model, RequiredString(in, "ModelName"));
  if (!RecordStore<ModelRecord>(c.registry.store()).Exists(model))
    return Status::InvalidArgument("Could not find model \"" + c.Arn("model", model) + "\".");
  CAIRN_RETURN_IF_ERROR(ValidateTransformRequest(in));
  TransformJobRecord r;
  r.name = name;
  r.model = model;
  r.request = in;
  r.request.erase("Tags");
  r.created_ms = NowMs();
  Status st = c.transforms->Start(r);
  if (st.code() == Status::Code::kAlreadyExists)
    return Status::InvalidArgument(
        "Job name must be unique within an AWS account and region, "
        "and a job with this name already exists (" +
        c.Arn("transform-job", name) + ")");
  CAIRN_RETURN_IF_ERROR(st);
  return Json{{"TransformJobArn", c.Arn("transform-job", name)}};
}

Result<Json> DescribeTransformJob(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "TransformJobName"));
  CAIRN_ASSIGN_OR_RETURN(const TransformJobRecord r, Load(c, name));
  Json out = Summary(c, r);
  out["ModelName"] = r.model;
  for (const char* k : {"MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy", "Environment",
                        "TransformInput", "TransformOutput", "TransformResources", "DataProcessing",
                        "ModelClientConfig", "ExperimentConfig"})
    if (r.request.contains(k)) out[k] = r.request[k];
  out.erase("TransformEndTime");
  if (r.started_ms) out["TransformStartTime"] = Seconds(r.started_ms);
  if (r.ended_ms) out["TransformEndTime"] = Seconds(r.ended_ms);
  // cairn's own (botocore drops it; `cairn transform-jobs describe` and raw JSON show it).
  out["CairnProgress"] = {{"ObjectsDone", r.objects_done}, {"RecordsDone", r.records_done}};
  if (r.ready_ms) out["CairnProgress"]["ModelServerReadyTime"] = Seconds(r.ready_ms);
  return out;
}

Result<Json> ListTransformJobs(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(auto all, RecordStore<TransformJobRecord>(c.registry.store()).List());
  const std::string contains = in.value("NameContains", ""), status = in.value("StatusEquals", "");
  const double after = in.value("CreationTimeAfter", -1.0),
               before = in.value("CreationTimeBefore", 1e18);
  Json items = Json::array();
  for (const auto& r : all) {
    const double created = Seconds(r.created_ms);
    if (r.name.find(contains) == std::string::npos || (!status.empty() && r.status != status) ||
        created <= after || created >= before)
      continue;
    items.push_back(Summary(c, r));
  }
  return SortedPage(std::move(items), in, "TransformJobSummaries", "TransformJobName",
                    "TransformJobStatus", "Descending");
}

Result<Json> StopTransformJob(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string name, RequiredString(in, "TransformJobName"));
  CAIRN_RETURN_IF_ERROR(Load(c, name).status());
  CAIRN_RETURN_IF_ERROR(c.transforms->Stop(name));
  return Json::object();
}

}  // namespace cairn::api
