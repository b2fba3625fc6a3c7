// CloudWatch (service "monitoring", the query protocol: query.h) over the series cairn keeps:
//   - namespace /aws/sagemaker/TrainingJobs, dimension TrainingJobName: a training job's
//     MetricDefinitions series found in its log (estimator.training_job_analytics reads them);
//   - namespace AWS/SageMaker, dimensions EndpointName and VariantName: SageMaker's endpoint
//     metrics (metrics.h); without VariantName, every variant's samples together.
// GetMetricStatistics, GetMetricData (MetricStat queries; no metric math), and metric alarms:
// PutMetricAlarm, DescribeAlarms, DeleteAlarms (alarms.h). Shapes from botocore's
// monitoring/2010-08-01 service model.
#include <algorithm>

#include "alarms.h"
#include "cairn/core/text.h"
#include "cairn/training/job.h"
#include "metrics.h"
#include "query.h"

namespace cairn::api {

namespace {

constexpr char kService[] = "monitoring";

std::map<std::string, std::string> Dimensions(const Form& form, const std::string& prefix) {
  std::map<std::string, std::string> out;
  for (int i = 1;; ++i) {
    const std::string p = prefix + "Dimensions.member." + std::to_string(i);
    auto name = form.find(p + ".Name");
    if (name == form.end()) return out;
    auto value = form.find(p + ".Value");
    out[name->second] = value == form.end() ? "" : value->second;
  }
}

// A series grouped into periods from `start_ms`: period start (ms) -> statistics.
Result<std::map<int64_t, MetricStat>> Series(Context& c, const std::string& ns,
                                             const std::string& metric,
                                             const std::map<std::string, std::string>& dims,
                                             int64_t start_ms, int64_t end_ms, int64_t period_s) {
  std::map<int64_t, MetricStat> out;
  auto dim = [&](const char* k) {
    auto it = dims.find(k);
    return it == dims.end() ? std::string() : it->second;
  };
  if (ns == EndpointMetrics::kNamespace) {
    if (dim("EndpointName").empty() || !c.metrics) return out;
    return c.metrics->Query(dim("EndpointName"), dim("VariantName"), metric, start_ms, end_ms,
                            period_s);
  }
  if (ns != "/aws/sagemaker/TrainingJobs") return out;
  auto job = JobStore(c.registry.store()).Load(dim("TrainingJobName"));
  if (!job.ok()) return out;
  const int64_t period_ms = period_s * 1000;
  for (const auto& p : job->metrics) {
    if (p.name != metric || p.at_ms < start_ms || p.at_ms >= end_ms) continue;
    out[start_ms + (p.at_ms - start_ms) / period_ms * period_ms].Add(p.value);
  }
  return out;
}

net::HttpResponse Error(const Status& st) {
  return QueryError(
      kService, st.code() == Status::Code::kNotFound ? 404 : 400,
      st.code() == Status::Code::kNotFound ? "ResourceNotFound" : "InvalidParameterValue",
      st.message());
}

net::HttpResponse GetMetricStatistics(Context& c, Form& form) {
  const int64_t start = ParseTimeMs(form["StartTime"]), end = ParseTimeMs(form["EndTime"]);
  const int64_t period = std::atoll(form["Period"].c_str());
  if (start < 0 || end < 0 || period <= 0 || period > EndpointMetrics::kMaxPeriodSeconds)
    return Error(Status::InvalidArgument(
        "StartTime, EndTime (ISO 8601) and a Period of 1 s to a year are required"));
  const std::vector<std::string> statistics = FormList(form, "Statistics");
  const std::vector<std::string> extended = FormList(form, "ExtendedStatistics");
  for (const auto& p : extended)
    if (!MetricStat::IsPercentile(p))
      return Error(Status::InvalidArgument("ExtendedStatistics: " + p +
                                           " is not a percentile (p0.1 to p100)"));
  auto series =
      Series(c, form["Namespace"], form["MetricName"], Dimensions(form, ""), start, end, period);
  if (!series.ok()) return Error(series.status());
  std::string points;
  for (const auto& [t, s] : *series) {
    points += "<member><Timestamp>" + Iso8601(t) + "</Timestamp>";
    for (const auto& name : statistics)
      if (auto v = s.Get(name))
        points += "<" + XmlEscape(name) + ">" + Number(*v) + "</" + XmlEscape(name) + ">";
    if (!extended.empty()) {
      points += "<ExtendedStatistics>";
      for (const auto& p : extended)
        if (auto v = s.Get(p))  // no histogram for these samples: no value, as CloudWatch
          points +=
              "<entry><key>" + XmlEscape(p) + "</key><value>" + Number(*v) + "</value></entry>";
      points += "</ExtendedStatistics>";
    }
    points += "<Unit>None</Unit></member>";
  }
  return QueryAnswer(kService, "GetMetricStatistics",
                     "<Label>" + XmlEscape(form["MetricName"]) + "</Label><Datapoints>" + points +
                         "</Datapoints>");
}

net::HttpResponse GetMetricData(Context& c, Form& form) {
  const int64_t start = ParseTimeMs(form["StartTime"]), end = ParseTimeMs(form["EndTime"]);
  if (start < 0 || end < 0)
    return Error(Status::InvalidArgument("StartTime and EndTime are required"));
  const bool ascending = form["ScanBy"] == "TimestampAscending";
  std::string results;
  for (int i = 1; form.count("MetricDataQueries.member." + std::to_string(i) + ".Id"); ++i) {
    const std::string q = "MetricDataQueries.member." + std::to_string(i) + ".";
    const std::string id = form[q + "Id"];
    if (form.count(q + "Expression"))
      return Error(Status::InvalidArgument("query " + id + ": metric math is not supported"));
    const std::string m = q + "MetricStat.";
    const std::string metric = form[m + "Metric.MetricName"];
    const std::string stat = form[m + "Stat"];
    const int64_t period = std::atoll(form[m + "Period"].c_str());
    if (metric.empty() || period <= 0 || period > EndpointMetrics::kMaxPeriodSeconds ||
        !(MetricStat{}.Get(stat) || MetricStat::IsPercentile(stat)))
      return Error(Status::InvalidArgument(
          "query " + id +
          ": MetricStat needs a MetricName, a Period and one of SampleCount, "
          "Average, Sum, Minimum, Maximum or a percentile (p99)"));
    auto series = Series(c, form[m + "Metric.Namespace"], metric, Dimensions(form, m + "Metric."),
                         start, end, period);
    if (!series.ok()) return Error(series.status());
    if (form[q + "ReturnData"] == "false") continue;
    std::vector<std::pair<int64_t, double>> points;
    for (const auto& [t, s] : *series)
      if (auto v = s.Get(stat)) points.emplace_back(t, *v);
    if (!ascending) std::reverse(points.begin(), points.end());
    std::string ts, values;
    for (const auto& [t, v] : points) {
      ts += "<member>" + Iso8601(t) + "</member>";
      values += "<member>" + Number(v) + "</member>";
    }
    const std::string label = form.count(q + "Label") ? form[q + "Label"] : metric;
    results += "<member><Id>" + XmlEscape(id) + "</Id><Label>" + XmlEscape(label) +
               "</Label><Timestamps>" + ts + "</Timestamps><Values>" + values +
               "</Values><StatusCode>Complete</StatusCode></member>";
  }
  return QueryAnswer(kService, "GetMetricData",
                     "<MetricDataResults>" + results + "</MetricDataResults><Messages/>");
}

std::string AlarmXml(Context& c, const AlarmRecord& a) {
  std::string dims;
  for (const auto& d : a.dimensions)
    dims += "<member><Name>" + XmlEscape(d.value("Name", "")) + "</Name><Value>" +
            XmlEscape(d.value("Value", "")) + "</Value></member>";
  return "<member><AlarmName>" + XmlEscape(a.name) +
         "</AlarmName><AlarmArn>arn:aws:cloudwatch:" + c.options.region + ":" + c.options.account +
         ":alarm:" + XmlEscape(a.name) + "</AlarmArn><AlarmDescription>" +
         XmlEscape(a.description) + "</AlarmDescription><AlarmConfigurationUpdatedTimestamp>" +
         Iso8601(a.updated_ms) +
         "</AlarmConfigurationUpdatedTimestamp><ActionsEnabled>true</ActionsEnabled>"
         "<StateValue>" +
         a.state + "</StateValue><StateReason>" + XmlEscape(a.state_reason) +
         "</StateReason><StateUpdatedTimestamp>" + Iso8601Ms(a.state_updated_ms) +
         "</StateUpdatedTimestamp><MetricName>" + XmlEscape(a.metric) + "</MetricName><Namespace>" +
         XmlEscape(a.namespace_) + "</Namespace><Statistic>" + a.statistic +
         "</Statistic><Dimensions>" + dims + "</Dimensions><Period>" + std::to_string(a.period) +
         "</Period><EvaluationPeriods>" + std::to_string(a.evaluation_periods) +
         "</EvaluationPeriods><DatapointsToAlarm>" + std::to_string(a.datapoints_to_alarm) +
         "</DatapointsToAlarm><Threshold>" + Number(a.threshold) +
         "</Threshold><ComparisonOperator>" + a.comparison +
         "</ComparisonOperator><TreatMissingData>" + a.treat_missing +
         "</TreatMissingData></member>";
}

net::HttpResponse PutMetricAlarm(Context& c, Form& form) {
  auto a = AlarmFromForm(form);
  if (!a.ok()) return Error(a.status());
  RecordStore<AlarmRecord> records(c.registry.store());
  // Putting an alarm again changes its definition; its state is evaluated anew.
  if (Status st = records.Put(*a); !st.ok()) return Error(st);
  if (c.alarms) (void)c.alarms->Evaluate(*a);
  return QueryAnswer(kService, "PutMetricAlarm", "");
}

net::HttpResponse DescribeAlarms(Context& c, Form& form) {
  RecordStore<AlarmRecord> records(c.registry.store());
  std::vector<std::string> names = FormList(form, "AlarmNames");
  if (names.empty()) {
    auto all = records.ListNames();
    if (!all.ok()) return Error(all.status());
    names = *all;
  }
  const std::string prefix = form["AlarmNamePrefix"], state = form["StateValue"];
  std::string xml;
  for (const auto& n : names) {
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    auto a = records.Get(n);
    if (!a.ok()) continue;  // asked for by name and absent: not listed, as CloudWatch does
    if (c.alarms) (void)c.alarms->Evaluate(*a);
    if (!state.empty() && a->state != state) continue;
    xml += AlarmXml(c, *a);
  }
  return QueryAnswer(kService, "DescribeAlarms",
                     "<MetricAlarms>" + xml + "</MetricAlarms><CompositeAlarms/>");
}

net::HttpResponse DeleteAlarms(Context& c, Form& form) {
  RecordStore<AlarmRecord> records(c.registry.store());
  for (const auto& n : FormList(form, "AlarmNames")) {
    if (!records.Exists(n))
      return QueryError(kService, 404, "ResourceNotFound", "alarm " + n + " does not exist");
  }
  for (const auto& n : FormList(form, "AlarmNames"))
    if (Status st = records.Delete(n); !st.ok() && st.code() != Status::Code::kNotFound)
      return Error(st);
  return QueryAnswer(kService, "DeleteAlarms", "");
}

}  // namespace

net::HttpResponse HandleCloudWatch(Context& c, const std::string& action, Form& form) {
  if (action == "GetMetricStatistics") return GetMetricStatistics(c, form);
  if (action == "GetMetricData") return GetMetricData(c, form);
  if (action == "PutMetricAlarm") return PutMetricAlarm(c, form);
  if (action == "DescribeAlarms") return DescribeAlarms(c, form);
  if (action == "DeleteAlarms") return DeleteAlarms(c, form);
  return QueryError(kService, 400, "InvalidAction",
                    "cairn server does not implement monitoring:" +
                        (action.empty() ? std::string("(no Action)") : action));
}

}  // namespace cairn::api
