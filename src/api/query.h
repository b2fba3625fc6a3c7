// Private to api: AWS's query protocol (a form body Action=...&Version=..., XML answers), as STS,
// IAM and CloudWatch speak it to Debian's botocore. query_ops.cc answers STS and IAM;
// cloudwatch_ops.cc answers CloudWatch (service "monitoring").
#pragma once

#include <map>
#include <string>

#include "api.h"

namespace cairn::api {

using Form = std::map<std::string, std::string>;

// <Action>Response><Action>Result>result</...Result><ResponseMetadata>...</...Response>.
net::HttpResponse QueryAnswer(const std::string& service, const std::string& action,
                              const std::string& result);
// <ErrorResponse><Error><Type>Sender</Type><Code>code</Code>... with `status`.
net::HttpResponse QueryError(const std::string& service, int status, const std::string& code,
                             const std::string& message);
// ISO 8601 as botocore sends timestamps ("2026-11-30T00:41:31Z", fractions and offsets
// dropped), or epoch seconds; -1 if neither.
int64_t ParseTimeMs(const std::string& s);
// The values of a query list: `<name>.member.1`, `<name>.member.2`, ... in order.
std::vector<std::string> FormList(const Form& form, const std::string& name);
// "%.17g": a double as XML and JSON want it.
std::string Number(double v);

// CloudWatch (cloudwatch_ops.cc): GetMetricStatistics, GetMetricData, PutMetricAlarm,
// DescribeAlarms, DeleteAlarms.
net::HttpResponse HandleCloudWatch(Context& c, const std::string& action, Form& form);

}  // namespace cairn::api
