// Private to api: batch transform (CreateTransformJob), on the same serving code as endpoints.
// A job starts its model's cairn-serve instances (TransformResources.InstanceCount, output to
// CloudWatch Logs group /aws/sagemaker/TransformJobs, stream <job>/<instance>), reads every
// input object (an S3Prefix: every key that starts with it; or a ManifestFile), splits it
// (SplitType Line: one record a line; None: the object is one record), batches the records
// (MultiRecord: as many lines as fit in MaxPayloadInMB; SingleRecord: one each), sends the
// batches to /invocations with at most MaxConcurrentTransforms in flight (ContentType, Accept),
// and writes the answers, in order, to <S3OutputPath>/<the key's path below the prefix>.out
// (AssembleWith Line: each answer ends with a newline; None: joined as they are). A model error
// fails the job with the record's batch named. StopTransformJob stops between batches.
// (https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html; request shapes from
// botocore's sagemaker service model.)
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "api.h"
#include "cairn/core/thread_pool.h"
#include "records.h"

namespace cairn::api {

struct TransformJobRecord {
  static constexpr const char* kKind = "transform-jobs";
  std::string name, model;
  std::string status = "InProgress";  // InProgress, Completed, Failed, Stopping, Stopped
  std::string failure;
  Json request = Json::object();  // CreateTransformJob's request, echoed by Describe
  int64_t created_ms = 0, started_ms = 0, ended_ms = 0;
  int64_t ready_ms = 0;  // when every instance answered /ping (records flow from then on)
  int64_t objects_done = 0, records_done = 0;  // progress
  Json ToJson() const;
  static Result<TransformJobRecord> FromJson(const Json& j);
};

// Cuts an input object, fed in pieces as it arrives, into request bodies: with `split_line`, its
// lines (a last line without its newline included, empty lines and a line's final '\r' dropped)
// as records, `multi_record` packing as many as fit in `max_payload` bytes into one body (joined
// by newlines, each ending in one), else one record a body; without, the whole object as one
// body. Each body goes to `emit` as soon as it is complete; an error `emit` returns stops the
// cutting and is returned. Memory: a body and a line at most (about 2 x `max_payload` bytes).
// kInvalidArgument when a record (or the object) is larger than `max_payload` bytes.
class BatchCutter {
 public:
  using Emit = std::function<Status(std::string body)>;
  BatchCutter(bool split_line, bool multi_record, size_t max_payload, Emit emit)
      : split_line_(split_line), multi_(multi_record), max_(max_payload), emit_(std::move(emit)) {}
  Status Feed(std::string_view bytes);
  Status Finish();  // the last line and body
  int64_t records() const { return records_; }

 private:
  Status Line(std::string_view line);
  bool split_line_, multi_;
  size_t max_;
  Emit emit_;
  std::string partial_;  // a line not yet ended (SplitType Line), or the object so far (None)
  std::string batch_;
  int64_t records_ = 0;
};

// The bodies of a whole object, as BatchCutter cuts them; `*records` gets the number of records.
Result<std::vector<std::string>> TransformBatches(const std::string& object, bool split_line,
                                                  bool multi_record, size_t max_payload,
                                                  int64_t* records);

// Checks a CreateTransformJob request (fields, limits, what cairn supports); kInvalidArgument
// naming the field.
Status ValidateTransformRequest(const Json& in);

class TransformJobs {
 public:
  explicit TransformJobs(Context& c) : c_(c) {}
  // Asks every running job to stop, and waits for them (their records say Stopped).
  ~TransformJobs();
  // Writes the record (create-if-absent: kAlreadyExists if the name was ever used) and runs the
  // job in the background.
  Status Start(const TransformJobRecord& record);
  // Stopping, then Stopped once the batch in flight is answered. kInvalidArgument unless the job
  // is InProgress; kNotFound without a record.
  Status Stop(const std::string& name);
  // At start-up: jobs a previous process was running (InProgress, Stopping) are Failed.
  Status FailOrphans();

 private:
  // A job this server runs. Its record is written only under `write_mu` (by the job's thread,
  // and by Stop), so that a Stop never overwrites the record of a job that just ended.
  struct Running {
    std::atomic<bool> stop{false};
    std::mutex write_mu;
    bool ended = false;  // the final record is written (under write_mu)
  };
  void Run(const std::string& name, Running& job);
  RecordStore<TransformJobRecord> records() {
    return RecordStore<TransformJobRecord>(c_.registry.store());
  }
  Context& c_;
  Gate jobs_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Running>> running_;
};

}  // namespace cairn::api
