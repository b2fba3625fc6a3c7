#include "transform_jobs.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
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

Status BatchCutter::Line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return Status::OK();
  if (line.size() + 1 > max_)
    return Status::InvalidArgument("record " + std::to_string(records_ + 1) + " (" +
                                   std::to_string(line.size()) +
                                   " bytes) is larger than MaxPayloadInMB");
  ++records_;
  if (!batch_.empty() && (!multi_ || batch_.size() + line.size() + 1 > max_)) {
    std::string full = std::move(batch_);
    batch_.clear();
    CAIRN_RETURN_IF_ERROR(emit_(std::move(full)));
  }
  batch_.append(line);
  batch_.push_back('\n');
  return Status::OK();
}

Status BatchCutter::Feed(std::string_view bytes) {
  if (!split_line_) {
    if (partial_.size() + bytes.size() > max_)
      return Status::InvalidArgument("the object (over " + std::to_string(max_) +
                                     " bytes) is larger than MaxPayloadInMB");
    partial_.append(bytes);
    return Status::OK();
  }
  for (size_t start = 0; start < bytes.size();) {
    const size_t nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) {
      partial_.append(bytes.substr(start));
      // One byte over the payload is allowed for the '\r' a line may end with.
      if (partial_.size() > max_)
        return Status::InvalidArgument("record " + std::to_string(records_ + 1) + " (over " +
                                       std::to_string(max_) +
                                       " bytes) is larger than MaxPayloadInMB");
      return Status::OK();
    }
    if (partial_.empty()) {
      CAIRN_RETURN_IF_ERROR(Line(bytes.substr(start, nl - start)));
    } else {
      partial_.append(bytes.substr(start, nl - start));
      CAIRN_RETURN_IF_ERROR(Line(partial_));
      partial_.clear();
    }
    start = nl + 1;
  }
  return Status::OK();
}

Status BatchCutter::Finish() {
  if (!split_line_) {
    records_ = 1;
    std::string whole = std::move(partial_);
    partial_.clear();
    return emit_(std::move(whole));
  }
  if (!partial_.empty()) CAIRN_RETURN_IF_ERROR(Line(partial_));
  partial_.clear();
  if (batch_.empty()) return Status::OK();
  std::string last = std::move(batch_);
  batch_.clear();
  return emit_(std::move(last));
}

Result<std::vector<std::string>> TransformBatches(const std::string& object, bool split_line,
                                                  bool multi_record, size_t max_payload,
                                                  int64_t* records) {
  std::vector<std::string> out;
  BatchCutter cut(split_line, multi_record, max_payload, [&](std::string body) {
    out.push_back(std::move(body));
    return Status::OK();
  });
  *records = 0;
  CAIRN_RETURN_IF_ERROR(cut.Feed(object));
  CAIRN_RETURN_IF_ERROR(cut.Finish());
  *records = cut.records();
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
    for (auto& [name, job] : running_) job->stop = true;
  }
  jobs_.Close();
}

Status TransformJobs::Start(const TransformJobRecord& record) {
  CAIRN_RETURN_IF_ERROR(records().Create(record));
  // Its lease says which server runs it, so that another one starting does not fail it (a
  // transform job is not taken over: it fails with the server that runs it).
  if (c_.leases) (void)c_.leases->Acquire("transform-job", record.name);
  if (!jobs_.Enter()) return Status::Internal("cairn server is stopping");
  auto job = std::make_shared<Running>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_[record.name] = job;
  }
  std::thread([this, name = record.name, job] {
    Run(name, *job);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(name);
    }
    if (c_.leases) c_.leases->Release("transform-job", name);
    jobs_.Leave();
  }).detach();
  return Status::OK();
}

Status TransformJobs::Stop(const std::string& name) {
  std::shared_ptr<Running> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = running_.find(name); it != running_.end()) job = it->second;
  }
  auto not_in_progress = [&](const std::string& status) {
    return Status::InvalidArgument("Transform job " + name + " is " + status +
                                   "; only an InProgress job can be stopped.");
  };
  if (!job) {  // ended, or run by another server
    CAIRN_ASSIGN_OR_RETURN(TransformJobRecord r, records().Get(name));
    if (r.status != "InProgress") return not_in_progress(r.status);
    return Status::InvalidArgument("Transform job " + name + " is not run by this server");
  }
  // Under the job's write lock its record is the last one written: read, judged and replaced
  // with no write of the job's thread in between.
  std::lock_guard<std::mutex> lock(job->write_mu);
  CAIRN_ASSIGN_OR_RETURN(TransformJobRecord r, records().Get(name));
  if (job->ended || r.status != "InProgress") return not_in_progress(r.status);
  job->stop = true;
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
    // What its output spool left (the spool and the writer's temporary files).
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator(c_.options.work_root + "/transform-output", ec))
      if (e.path().filename().string().rfind(r.name + ".out", 0) == 0)
        std::filesystem::remove(e.path(), ec);
    r.ended_ms = NowMs();
    if (Status st = records().Put(r); !st.ok())  // the others are still looked at
      std::fprintf(stderr, "cairn server: cannot mark transform job %s Failed: %s\n",
                   r.name.c_str(), st.ToString().c_str());
  }
  return Status::OK();
}

}  // namespace cairn::api
