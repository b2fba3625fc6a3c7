// STS and IAM over AWS's query protocol (a form body Action=...&Version=..., XML answers): the
// little the SageMaker SDK asks of them. sagemaker.get_execution_role() and
// Session.default_bucket() call sts:GetCallerIdentity (the caller's ARN and account), then
// iam:GetRole for the role's path. Shapes from botocore's sts/2011-06-15 and iam/2010-05-08
// service models.
#include <map>

#include "api.h"
#include "cairn/core/clock.h"
#include "cairn/net/url.h"

namespace cairn::api {

namespace {

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* Namespace(const std::string& service) {
  return service == "sts" ? "https://sts.amazonaws.com/doc/2011-06-15/"
                          : "https://iam.amazonaws.com/doc/2010-05-08/";
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
  return QueryError(service, 400, "InvalidAction",
                    "cairn server does not implement " + service + ":" +
                        (action.empty() ? std::string("(no Action)") : action));
}

}  // namespace cairn::api
