#include "transform_jobs.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/registry/layout.h"
#include "endpoint_fleet.h"
#include "leases.h"

namespace cairn::api {

namespace {

constexpr int kMaxConcurrent = 64;

}  // namespace

Json TransformJobRecord::ToJson() const {
  return {{"name", name},
          {"model", model},
          {"status", status},
          {"failure", failure},
          {"request", request},
          {"created_ms", created_ms},
          {"started_ms", started_ms},
          {"ended_ms", ended_ms},
          {"ready_ms", ready_ms},
          {"objects_done", objects_done},
          {"records_done", records_done}};
}

Result<TransformJobRecord> TransformJobRecord::FromJson(const Json& j) {
  if (!j.is_object()) return Status::Corrupt("transform job record is not an object");
  TransformJobRecord r;
  r.name = j.value("name", "");
  r.model = j.value("model", "");
  r.status = j.value("status", "Failed");
  r.failure = j.value("failure", "");
  r.request = j.value("request", Json::object());
  r.created_ms = j.value("created_ms", int64_t{0});
  r.started_ms = j.value("started_ms", int64_t{0});
  r.ended_ms = j.value("ended_ms", int64_t{0});
  r.ready_ms = j.value("ready_ms", int64_t{0});
  r.objects_done = j.value("objects_done", int64_t{0});
  r.records_done = j.value("records_done", int64_t{0});
  if (r.name.empty()) return Status::Corrupt("transform job record without a name");
  return r;
}

Result<std::vector<std::string>> TransformBatches(const std::string& object, bool split_line,
                                                  bool multi_record, size_t max_payload,
                                                  int64_t* records) {
  std::vector<std::string> out;
  *records = 0;
  if (!split_line) {
    if (object.size() > max_payload)
      return Status::InvalidArgument("the object (" + std::to_string(object.size()) +
                                     " bytes) is larger than MaxPayloadInMB");
    *records = 1;
    out.push_back(object);
    return out;
  }
  std::string batch;
  for (size_t start = 0; start < object.size();) {
    size_t nl = object.find('\n', start);
    if (nl == std::string::npos) nl = object.size();
    std::string_view line(object.data() + start, nl - start);
    start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() + 1 > max_payload)
      return Status::InvalidArgument("record " + std::to_string(*records + 1) + " (" +
                                     std::to_string(line.size()) +
                                     " bytes) is larger than MaxPayloadInMB");
    ++*records;
    if (!batch.empty() && (!multi_record || batch.size() + line.size() + 1 > max_payload)) {
      out.push_back(std::move(batch));
      batch.clear();
    }
    batch.append(line);
    batch.push_back('\n');
  }
  if (!batch.empty()) out.push_back(std::move(batch));
  return out;
}

Status ValidateTransformRequest(const Json& in) {
  const Json input = in.value("TransformInput", Json::object());
  const Json source = input.value("DataSource", Json::object()).value("S3DataSource", Json());
  if (!source.is_object() || source.value("S3Uri", "").empty())
    return Status::InvalidArgument("TransformInput.DataSource.S3DataSource.S3Uri is required");
  const std::string split = input.value("SplitType", "None");
  if (split != "None" && split != "Line")
    return Status::InvalidArgument("SplitType " + split + " is not supported (None, Line)");
  if (input.value("CompressionType", "None") != "None")
    return Status::InvalidArgument("CompressionType Gzip is not supported");
  const std::string strategy = in.value("BatchStrategy", "MultiRecord");
  if (strategy != "MultiRecord" && strategy != "SingleRecord")
    return Status::InvalidArgument("BatchStrategy must be MultiRecord or SingleRecord");
  const Json output = in.value("TransformOutput", Json::object());
  if (output.value("S3OutputPath", "").empty())
    return Status::InvalidArgument("TransformOutput.S3OutputPath is required");
  const std::string assemble = output.value("AssembleWith", "None");
  if (assemble != "None" && assemble != "Line")
    return Status::InvalidArgument("AssembleWith must be None or Line");
  if (in.contains("Environment")) CAIRN_RETURN_IF_ERROR(CheckEnvironment(in["Environment"]));
  // DataProcessing's JSONPath filters and join change the output: refused rather than ignored.
  const Json dp = in.value("DataProcessing", Json::object());
  if (dp.value("InputFilter", "$") != "$" || dp.value("OutputFilter", "$") != "$" ||
      dp.value("JoinSource", "None") != "None")
    return Status::InvalidArgument(
        "DataProcessing (InputFilter, OutputFilter, JoinSource) is not supported");
  const int64_t payload = in.value("MaxPayloadInMB", int64_t{6});
  const int64_t concurrent = in.value("MaxConcurrentTransforms", int64_t{1});
  const int64_t count =
      in.value("TransformResources", Json::object()).value("InstanceCount", int64_t{1});
  if (payload < 0 || payload > 100) return Status::InvalidArgument("MaxPayloadInMB is 0..100");
  if (concurrent < 0 || concurrent > kMaxConcurrent)
    return Status::InvalidArgument("MaxConcurrentTransforms is 0.." +
                                   std::to_string(kMaxConcurrent));
  if (count < 1 || count > kMaxLocalInstances)
    return Status::InvalidArgument("TransformResources.InstanceCount must be 1.." +
                                   std::to_string(kMaxLocalInstances));
  return Status::OK();
}

TransformJobs::~TransformJobs() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, stop] : stops_) *stop = true;
  }
  jobs_.Close();
}

Status TransformJobs::Start(const TransformJobRecord& record) {
  CAIRN_RETURN_IF_ERROR(records().Create(record));
  // Its lease says which server runs it, so that another one starting does not fail it (a
  // transform job is not taken over: it fails with the server that runs it).
  if (c_.leases) (void)c_.leases->Acquire("transform-job", record.name);
  if (!jobs_.Enter()) return Status::Internal("cairn server is stopping");
  auto stop = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stops_[record.name] = stop;
  }
  std::thread([this, name = record.name, stop] {
    Run(name, stop);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stops_.erase(name);
    }
    if (c_.leases) c_.leases->Release("transform-job", name);
    jobs_.Leave();
  }).detach();
  return Status::OK();
}

Status TransformJobs::Stop(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(TransformJobRecord r, records().Get(name));
  if (r.status != "InProgress")
    return Status::InvalidArgument("Transform job " + name + " is " + r.status +
                                   "; only an InProgress job can be stopped.");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stops_.find(name);
  if (it == stops_.end())
    return Status::InvalidArgument("Transform job " + name + " is not run by this server");
  *it->second = true;
  r.status = "Stopping";
  return records().Put(r);
}

Status TransformJobs::FailOrphans() {
  CAIRN_ASSIGN_OR_RETURN(auto all, records().List());
  for (auto& r : all) {
    if (r.status != "InProgress" && r.status != "Stopping") continue;
    if (c_.leases) {  // run by another live server: not an orphan
      auto l = c_.leases->Read("transform-job", r.name);
      if (l.ok() && l->owner != c_.leases->id() && !c_.leases->Expired(*l)) continue;
    }
    r.status = "Failed";
    r.failure = "cairn server restarted while the job ran";
    r.ended_ms = NowMs();
    if (Status st = records().Put(r); !st.ok())  // the others are still looked at
      std::fprintf(stderr, "cairn server: cannot mark transform job %s Failed: %s\n",
                   r.name.c_str(), st.ToString().c_str());
  }
  return Status::OK();
}

}  // namespace cairn::api
