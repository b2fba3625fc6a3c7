#include "alarms.h"

#include <chrono>
#include <cstdio>

#include "cairn/core/clock.h"
#include "cairn/core/text.h"
#include "metrics.h"
#include "query.h"

namespace cairn::api {

namespace {

constexpr int kEvaluateEverySeconds = 5;

bool Compare(const std::string& op, double v, double threshold) {
  if (op == "GreaterThanOrEqualToThreshold") return v >= threshold;
  if (op == "GreaterThanThreshold") return v > threshold;
  if (op == "LessThanThreshold") return v < threshold;
  if (op == "LessThanOrEqualToThreshold") return v <= threshold;
  return false;
}

const char* Words(const std::string& op) {
  if (op == "GreaterThanOrEqualToThreshold") return "greater than or equal to";
  if (op == "GreaterThanThreshold") return "greater than";
  if (op == "LessThanThreshold") return "less than";
  return "less than or equal to";
}

int64_t Int(const std::map<std::string, std::string>& f, const std::string& k, int64_t dflt) {
  auto it = f.find(k);
  if (it == f.end() || it->second.empty()) return dflt;
  if (it->second.find_first_not_of("0123456789") != std::string::npos || it->second.size() > 12)
    return -1;
  return std::atoll(it->second.c_str());
}

}  // namespace

Json AlarmRecord::ToJson() const {
  return {{"name", name},
          {"description", description},
          {"namespace", namespace_},
          {"metric", metric},
          {"statistic", statistic},
          {"dimensions", dimensions},
          {"period", period},
          {"evaluation_periods", evaluation_periods},
          {"datapoints_to_alarm", datapoints_to_alarm},
          {"threshold", threshold},
          {"comparison", comparison},
          {"treat_missing", treat_missing},
          {"state", state},
          {"state_reason", state_reason},
          {"state_updated_ms", state_updated_ms},
          {"updated_ms", updated_ms}};
}

Result<AlarmRecord> AlarmRecord::FromJson(const Json& j) {
  if (!j.is_object()) return Status::Corrupt("alarm record is not an object");
  AlarmRecord r;
  r.name = j.value("name", "");
  r.description = j.value("description", "");
  r.namespace_ = j.value("namespace", "");
  r.metric = j.value("metric", "");
  r.statistic = j.value("statistic", "");
  r.dimensions = j.value("dimensions", Json::array());
  r.period = j.value("period", int64_t{60});
  r.evaluation_periods = j.value("evaluation_periods", int64_t{1});
  r.datapoints_to_alarm = j.value("datapoints_to_alarm", int64_t{1});
  r.threshold = j.value("threshold", 0.0);
  r.comparison = j.value("comparison", "");
  r.treat_missing = j.value("treat_missing", "missing");
  r.state = j.value("state", "INSUFFICIENT_DATA");
  r.state_reason = j.value("state_reason", "");
  r.state_updated_ms = j.value("state_updated_ms", int64_t{0});
  r.updated_ms = j.value("updated_ms", int64_t{0});
  if (r.name.empty()) return Status::Corrupt("alarm record without a name");
  return r;
}

Result<AlarmRecord> AlarmFromForm(const std::map<std::string, std::string>& f) {
  auto get = [&](const std::string& k) {
    auto it = f.find(k);
    return it == f.end() ? std::string() : it->second;
  };
  AlarmRecord a;
  a.name = get("AlarmName");
  if (a.name.empty() || a.name.size() > 255 || a.name.find('/') != std::string::npos)
    return Status::InvalidArgument("AlarmName must be 1 to 255 characters, without '/'");
  a.description = get("AlarmDescription");
  a.namespace_ = get("Namespace");
  a.metric = get("MetricName");
  if (a.namespace_.empty() || a.metric.empty())
    return Status::InvalidArgument("Namespace and MetricName are required (metric math is not)");
  a.statistic = get("Statistic");
  if (!MetricStat{}.Get(a.statistic))
    return Status::InvalidArgument(
        "Statistic must be SampleCount, Average, Sum, Minimum or Maximum (percentiles are not "
        "kept)");
  for (int i = 1; f.count("Dimensions.member." + std::to_string(i) + ".Name"); ++i) {
    const std::string p = "Dimensions.member." + std::to_string(i);
    a.dimensions.push_back({{"Name", get(p + ".Name")}, {"Value", get(p + ".Value")}});
  }
  a.period = Int(f, "Period", -1);
  a.evaluation_periods = Int(f, "EvaluationPeriods", -1);
  a.datapoints_to_alarm = Int(f, "DatapointsToAlarm", a.evaluation_periods);
  if (a.period <= 0 || a.period > EndpointMetrics::kMaxPeriodSeconds || a.period % 10 != 0)
    return Status::InvalidArgument("Period must be a multiple of 10 seconds, at most a year");
  if (a.evaluation_periods < 1 || a.evaluation_periods > 1440 || a.datapoints_to_alarm < 1 ||
      a.datapoints_to_alarm > a.evaluation_periods)
    return Status::InvalidArgument(
        "EvaluationPeriods must be 1..1440 and DatapointsToAlarm 1..EvaluationPeriods");
  const std::string t = get("Threshold");
  char* end = nullptr;
  a.threshold = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0') return Status::InvalidArgument("Threshold must be a number");
  a.comparison = get("ComparisonOperator");
  if (a.comparison != "GreaterThanOrEqualToThreshold" && a.comparison != "GreaterThanThreshold" &&
      a.comparison != "LessThanThreshold" && a.comparison != "LessThanOrEqualToThreshold")
    return Status::InvalidArgument("ComparisonOperator " + a.comparison + " is not supported");
  a.treat_missing = get("TreatMissingData").empty() ? "missing" : get("TreatMissingData");
  if (a.treat_missing != "missing" && a.treat_missing != "ignore" &&
      a.treat_missing != "breaching" && a.treat_missing != "notBreaching")
    return Status::InvalidArgument(
        "TreatMissingData is missing, ignore, breaching or notBreaching");
  a.updated_ms = a.state_updated_ms = NowMs();
  return a;
}

Alarms::Alarms(Context& c) : c_(c) {
  evaluator_ = std::make_unique<Periodic>(std::chrono::seconds(kEvaluateEverySeconds), [this] {
    auto all = RecordStore<AlarmRecord>(c_.registry.store()).List();
    if (!all.ok()) return;
    for (auto& a : *all) (void)Evaluate(a);
  });
}

Alarms::~Alarms() = default;  // evaluator_ stops and joins

Result<bool> Alarms::Evaluate(AlarmRecord& a) {
  std::string endpoint, variant;
  for (const auto& d : a.dimensions) {
    if (d.value("Name", "") == "EndpointName") endpoint = d.value("Value", "");
    if (d.value("Name", "") == "VariantName") variant = d.value("Value", "");
  }
  const int64_t period_ms = a.period * 1000;
  const int64_t bucket = EndpointMetrics::kBucketMs;
  const int64_t end = NowMs() / bucket * bucket + bucket;  // the bucket filling now included
  const int64_t start = end - a.evaluation_periods * period_ms;
  std::map<int64_t, MetricStat> series;
  if (a.namespace_ == EndpointMetrics::kNamespace && !endpoint.empty() && c_.metrics) {
    CAIRN_ASSIGN_OR_RETURN(series,
                           c_.metrics->Query(endpoint, variant, a.metric, start, end, a.period));
  }
  int64_t points = 0, breaching = 0;
  std::string values;
  for (int64_t t = start; t < end; t += period_ms) {
    auto it = series.find(t);
    if (it == series.end() || it->second.n == 0) {
      if (a.treat_missing == "breaching") ++breaching, ++points;
      if (a.treat_missing == "notBreaching") ++points;
      continue;
    }
    const auto got = it->second.Get(a.statistic);
    if (!got) continue;  // a percentile of samples that kept no histogram: no datapoint
    const double v = *got;
    ++points;
    breaching += Compare(a.comparison, v, a.threshold);
    values += (values.empty() ? "" : ", ") + Number(v) + " (" + Iso8601(t) + ")";
  }
  std::string state, reason;
  if (breaching >= a.datapoints_to_alarm) {
    state = "ALARM";
    reason = "Threshold Crossed: " + std::to_string(breaching) + " out of the last " +
             std::to_string(a.evaluation_periods) + " datapoints [" + values + "] were " +
             Words(a.comparison) + " the threshold (" + Number(a.threshold) + ").";
  } else if (points == 0) {
    if (a.treat_missing == "ignore") return false;  // the state is kept
    state = "INSUFFICIENT_DATA";
    reason = "Insufficient Data: no datapoints in the last " +
             std::to_string(a.evaluation_periods) + " periods of " + std::to_string(a.period) +
             " s.";
  } else {
    state = "OK";
    reason = "Threshold Crossed: " + std::to_string(breaching) + " out of the last " +
             std::to_string(a.evaluation_periods) + " datapoints [" + values + "] were " +
             Words(a.comparison) + " the threshold (" + Number(a.threshold) + "); fewer than the " +
             std::to_string(a.datapoints_to_alarm) + " needed to alarm.";
  }
  if (state == a.state) return false;
  // Written over the record as it is now: an alarm deleted or redefined meanwhile is left alone.
  RecordStore<AlarmRecord> records(c_.registry.store());
  auto now = records.Get(a.name);
  if (!now.ok() || now->updated_ms != a.updated_ms) return false;
  a.state = state;
  a.state_reason = reason;
  a.state_updated_ms = NowMs();
  CAIRN_RETURN_IF_ERROR(records.Put(a));
  std::fprintf(stderr, "cairn server: alarm %s is %s: %s\n", a.name.c_str(), state.c_str(),
               reason.c_str());
  return true;
}

std::vector<AlarmRecord> Alarms::InAlarm(const std::vector<std::string>& names) {
  std::vector<AlarmRecord> out;
  RecordStore<AlarmRecord> records(c_.registry.store());
  for (const auto& n : names) {
    auto a = records.Get(n);
    if (!a.ok()) continue;
    (void)Evaluate(*a);
    if (a->state == "ALARM") out.push_back(std::move(*a));
  }
  return out;
}

}  // namespace cairn::api
