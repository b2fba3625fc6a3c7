// STS and IAM over AWS's query protocol (query.h): the little the SageMaker SDK asks of them.
// sagemaker.get_execution_role() and Session.default_bucket() call sts:GetCallerIdentity (the
// caller's ARN and account), then iam:GetRole for the role's path. Shapes from botocore's
// sts/2011-06-15 and iam/2010-05-08 service models.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/core/text.h"
#include "cairn/net/url.h"
#include "cairn/training/job.h"
#include "query.h"

namespace cairn::api {

namespace {

const char* Namespace(const std::string& service) {
  return service == "sts"          ? "https://sts.amazonaws.com/doc/2011-06-15/"
         : service == "monitoring" ? "http://monitoring.amazonaws.com/doc/2010-08-01/"
                                   : "https://iam.amazonaws.com/doc/2010-05-08/";
}

}  // namespace

int64_t ParseTimeMs(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos)
    return static_cast<int64_t>(std::stod(s) * 1000);
  std::tm tm{};
  if (s.size() < 19 || ::strptime(s.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr)
    return -1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000;
}

std::vector<std::string> FormList(const Form& form, const std::string& name) {
  std::vector<std::string> out;
  for (int i = 1;; ++i) {
    auto it = form.find(name + ".member." + std::to_string(i));
    if (it == form.end()) return out;
    out.push_back(it->second);
  }
}

std::string Number(double v) {
  char num[40];
  std::snprintf(num, sizeof(num), "%.17g", v);
  return num;
}

namespace {

net::HttpResponse Xml(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/xml";
  r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + std::move(body);
  return r;
}

std::string RequestId() { return "cairn-" + std::to_string(NowMs()); }

}  // namespace

net::HttpResponse QueryAnswer(const std::string& service, const std::string& action,
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
    return QueryAnswer(service, action,
                       "<Arn>" + XmlEscape(role) + "</Arn><UserId>" + XmlEscape(access_key) +
                           "</UserId><Account>" + XmlEscape(c.options.account) + "</Account>");
  }
  if (service == "iam" && action == "GetRole") {
    const std::string name = form["RoleName"];
    const std::string role_name = role.substr(role.rfind('/') + 1);
    if (name != role_name)
      return QueryError(service, 404, "NoSuchEntity",
                        "The role with name " + name + " cannot be found.");
    return QueryAnswer(service, action,
                       "<Role><Path>/</Path><RoleName>" + XmlEscape(role_name) +
                           "</RoleName><RoleId>AROACAIRN" + XmlEscape(c.options.account) +
                           "</RoleId><Arn>" + XmlEscape(role) +
                           "</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate></Role>");
  }
  if (service == "monitoring") return HandleCloudWatch(c, action, form);
  return QueryError(service, 400, "InvalidAction",
                    "cairn server does not implement " + service + ":" +
                        (action.empty() ? std::string("(no Action)") : action));
}

}  // namespace cairn::api
