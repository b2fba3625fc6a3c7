// Private to api: CloudWatch metric alarms over SageMaker's endpoint metrics (metrics.h), as
// PutMetricAlarm defines them: a statistic of one metric over `period` seconds, compared with a
// threshold in `evaluation_periods` consecutive periods, of which `datapoints_to_alarm` must
// breach. cairn evaluates every alarm every few seconds (and on demand, for DescribeAlarms and
// deployments) over periods that end now, and keeps the state (OK / ALARM / INSUFFICIENT_DATA),
// with its reason and time, in the alarm's record: api/alarms/<name>.json.
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api.h"
#include "cairn/core/thread_pool.h"
#include "records.h"

namespace cairn::api {

struct AlarmRecord {
  static constexpr const char* kKind = "alarms";
  std::string name, description;
  std::string namespace_, metric, statistic;  // statistic: Average, Sum, Minimum, Maximum, ...
  Json dimensions = Json::array();            // [{"Name": ..., "Value": ...}]
  int64_t period = 60;                        // seconds, a multiple of 10
  int64_t evaluation_periods = 1, datapoints_to_alarm = 1;
  double threshold = 0;
  std::string comparison;                 // GreaterThanThreshold, ...
  std::string treat_missing = "missing";  // missing, ignore, breaching, notBreaching
  std::string state = "INSUFFICIENT_DATA", state_reason = "Unchecked: Initial alarm creation";
  int64_t state_updated_ms = 0, updated_ms = 0;
  Json ToJson() const;
  static Result<AlarmRecord> FromJson(const Json& j);
};

// The alarm a PutMetricAlarm form describes, checked; kInvalidArgument naming the bad field.
Result<AlarmRecord> AlarmFromForm(const std::map<std::string, std::string>& form);

class Alarms {
 public:
  explicit Alarms(Context& c);
  ~Alarms();  // stops the evaluator
  // Evaluates `alarm` now; when its state changed, the new state is saved and true returned.
  Result<bool> Evaluate(AlarmRecord& alarm);
  // Evaluates the named alarms now; those in ALARM. Unknown names are skipped.
  std::vector<AlarmRecord> InAlarm(const std::vector<std::string>& names);

 private:
  Context& c_;
  std::unique_ptr<Periodic> evaluator_;  // every alarm, every 5 s
};

}  // namespace cairn::api
