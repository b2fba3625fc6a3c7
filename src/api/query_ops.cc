// STS and IAM over AWS's query protocol (a form body Action=...&Version=..., XML answers): the
// little the SageMaker SDK asks of them. sagemaker.get_execution_role() and
// Session.default_bucket() call sts:GetCallerIdentity (the caller's ARN and account), then
// iam:GetRole for the role's path. Shapes from botocore's sts/2011-06-15 and iam/2010-05-08
// service models.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <vector>

#include "api.h"
#include "cairn/core/clock.h"
#include "cairn/core/text.h"
#include "cairn/net/url.h"
#include "cairn/training/job.h"

namespace cairn::api {

namespace {

const char* Namespace(const std::string& service) {
  return service == "sts"          ? "https://sts.amazonaws.com/doc/2011-06-15/"
         : service == "monitoring" ? "http://monitoring.amazonaws.com/doc/2010-08-01/"
                                   : "https://iam.amazonaws.com/doc/2010-05-08/";
}

// ISO 8601 as botocore sends timestamps ("2026-11-30T00:41:31Z", fractions and offsets
// dropped), or epoch seconds; -1 if neither.
int64_t ParseTimeMs(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos)
    return static_cast<int64_t>(std::stod(s) * 1000);
  std::tm tm{};
  if (s.size() < 19 || ::strptime(s.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr)
    return -1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

net::HttpResponse Xml(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/xml";
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + std::move(body);
  return r;
}

std::string RequestId() { return "cairn-" + std::to_string(NowMs()); }

// <Action>Response><Action>Result>...</...Result><ResponseMetadata>...</...Response>
net::HttpResponse Answer(const std::string& service, const std::string& action,
                         const std::string& result) {
  return Xml(200, "<" + action + "Response xmlns=\"" + Namespace(service) + "\"><" + action +
                      "Result>" + result + "</" + action + "Result><ResponseMetadata><RequestId>" +
                      RequestId() + "</RequestId></ResponseMetadata></" + action + "Response>");
}

net::HttpResponse QueryError(const std::string& service, int status, const std::string& code,
                             const std::string& message) {
  net::HttpResponse r =
      Xml(status, std::string("<ErrorResponse xmlns=\"") + Namespace(service) +
                      "\"><Error><Type>Sender</Type><Code>" + code + "</Code><Message>" +
                      XmlEscape(message) + "</Message></Error><RequestId>" + RequestId() +
                      "</RequestId></ErrorResponse>");
  r.headers.emplace_back("x-amzn-ErrorType", code);
  return r;
}

// CloudWatch GetMetricStatistics over a training job's metric series (namespace
// /aws/sagemaker/TrainingJobs, dimension TrainingJobName; the series MetricDefinitions found in
// its log): what estimator.training_job_analytics reads. Points are grouped into Period-second
// buckets from StartTime.
net::HttpResponse MetricStatistics(Context& c, std::map<std::string, std::string>& form) {
  const std::string service = "monitoring";
  if (form["Namespace"] != "/aws/sagemaker/TrainingJobs")
    return Answer(service, "GetMetricStatistics",
                  "<Label>" + XmlEscape(form["MetricName"]) + "</Label><Datapoints/>");
  std::string job_name;
  for (int i = 1; form.count("Dimensions.member." + std::to_string(i) + ".Name"); ++i)
    if (form["Dimensions.member." + std::to_string(i) + ".Name"] == "TrainingJobName")
      job_name = form["Dimensions.member." + std::to_string(i) + ".Value"];
  const int64_t start = ParseTimeMs(form["StartTime"]), end = ParseTimeMs(form["EndTime"]);
  const int64_t period_ms = std::atoll(form["Period"].c_str()) * 1000;
  if (start < 0 || end < 0 || period_ms <= 0)
    return QueryError(service, 400, "InvalidParameterValue",
                      "StartTime, EndTime (ISO 8601) and a positive Period are required");
  std::vector<std::string> statistics;
  for (int i = 1; form.count("Statistics.member." + std::to_string(i)); ++i)
    statistics.push_back(form["Statistics.member." + std::to_string(i)]);
  struct Bucket {
    double sum = 0, min = 0, max = 0;
    int64_t n = 0;
  };
  std::map<int64_t, Bucket> buckets;
  auto job = JobStore(c.registry.store()).Load(job_name);
  if (job.ok()) {
    for (const auto& p : job->metrics) {
      if (p.name != form["MetricName"] || p.at_ms < start || p.at_ms >= end) continue;
      Bucket& b = buckets[(p.at_ms - start) / period_ms];
      b.min = b.n ? std::min(b.min, p.value) : p.value;
      b.max = b.n ? std::max(b.max, p.value) : p.value;
      b.sum += p.value;
      ++b.n;
    }
  }
  std::string points;
  for (const auto& [k, b] : buckets) {
    points += "<member><Timestamp>" + Iso8601(start + k * period_ms) + "</Timestamp>";
    for (const auto& s : statistics) {
      if (s != "Average" && s != "Sum" && s != "Minimum" && s != "Maximum" && s != "SampleCount")
        continue;  // CloudWatch's five statistics; percentiles are not kept
      const double v = s == "Average"   ? b.sum / b.n
                       : s == "Sum"     ? b.sum
                       : s == "Minimum" ? b.min
                       : s == "Maximum" ? b.max
                                        : static_cast<double>(b.n);
      char num[40];
      std::snprintf(num, sizeof(num), "%.17g", v);
      points += "<" + XmlEscape(s) + ">" + num + "</" + XmlEscape(s) + ">";
    }
    points += "<Unit>None</Unit></member>";
  }
  return Answer(service, "GetMetricStatistics",
                "<Label>" + XmlEscape(form["MetricName"]) + "</Label><Datapoints>" + points +
                    "</Datapoints>");
}

}  // namespace

std::string CallerRoleArn(const Context& c) {
  return c.options.role_arn.empty() ? "arn:aws:iam::" + c.options.account + ":role/cairn"
                                    : c.options.role_arn;
}

net::HttpResponse HandleQuery(Context& c, const std::string& service, const std::string& access_key,
                              const net::HttpRequest& req) {
  std::map<std::string, std::string> form;
  const size_t q = req.target.find('?');
  if (q != std::string::npos)
    for (auto& [k, v] : net::ParseForm(std::string_view(req.target).substr(q + 1))) form[k] = v;
  for (auto& [k, v] : net::ParseForm(req.body)) form[k] = v;
  const std::string action = form["Action"];
  const std::string role = CallerRoleArn(c);
  if (service == "sts" && action == "GetCallerIdentity") {
    return Answer(service, action,
                  "<Arn>" + XmlEscape(role) + "</Arn><UserId>" + XmlEscape(access_key) +
                      "</UserId><Account>" + XmlEscape(c.options.account) + "</Account>");
  }
  if (service == "iam" && action == "GetRole") {
    const std::string name = form["RoleName"];
    const std::string role_name = role.substr(role.rfind('/') + 1);
    if (name != role_name)
      return QueryError(service, 404, "NoSuchEntity",
                        "The role with name " + name + " cannot be found.");
    return Answer(service, action,
                  "<Role><Path>/</Path><RoleName>" + XmlEscape(role_name) +
                      "</RoleName><RoleId>AROACAIRN" + XmlEscape(c.options.account) +
                      "</RoleId><Arn>" + XmlEscape(role) +
                      "</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate></Role>");
  }
  if (service == "monitoring" && action == "GetMetricStatistics") return MetricStatistics(c, form);
  return QueryError(service, 400, "InvalidAction",
                    "cairn server does not implement " + service + ":" +
                        (action.empty() ? std::string("(no Action)") : action));
}

}  // namespace cairn::api
