// The dashboard's HTTP edge: login and sessions, the built-in assets, the JSON the pages read,
// and the actions (each checked for its CSRF token). Errors are JSON {"error": message}.
#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/net/url.h"
#include "cairn/training/job.h"
#include "ui.h"

namespace cairn::api {
namespace {

constexpr const char* kCookie = "cairn_session";
// Scripts, styles and everything else only from cairn itself; no framing.
constexpr const char* kPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

net::HttpResponse Secure(net::HttpResponse r) {
  r.headers.emplace_back("Content-Security-Policy", kPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

net::HttpResponse JsonAnswer(int status, const Json& body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return Secure(std::move(r));
}

net::HttpResponse JsonError(int status, const std::string& message) {
  return JsonAnswer(status, Json{{"error", message}});
}

net::HttpResponse StatusError(const Status& st) {
  const int http = st.code() == Status::Code::kNotFound             ? 404
                   : st.code() == Status::Code::kInvalidArgument    ? 400
                   : st.code() == Status::Code::kPreconditionFailed ? 409
                                                                    : 500;
  return JsonError(http, st.message());
}

net::HttpResponse Redirect(const std::string& to) {
  net::HttpResponse r;
  r.status = 303;
  r.content_type = "text/plain";
  r.headers.emplace_back("Location", to);
  return Secure(std::move(r));
}

net::HttpResponse Asset(const std::string& name) {
  auto a = FindUiAsset(name);
  if (!a) return JsonError(404, "no such file: " + name);
  net::HttpResponse r;
  r.content_type = a->content_type;
  r.body = std::string(a->bytes);
  return Secure(std::move(r));
}

std::string CookieValue(const net::HttpRequest& req, const std::string& name) {
  const std::string cookies = req.Header("cookie");
  size_t pos = 0;
  while (pos < cookies.size()) {
    size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    std::string item = cookies.substr(pos, end - pos);
    const size_t start = item.find_first_not_of(' ');
    item = start == std::string::npos ? "" : item.substr(start);
    if (item.rfind(name + "=", 0) == 0) return item.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// "/ui/api/jobs/x%2Fy" with prefix "/ui/api/" -> {"jobs", "x/y"}; the query string is dropped.
std::vector<std::string> Segments(const std::string& target, size_t skip) {
  std::string path = target.substr(skip);
  if (const size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end > pos) out.push_back(net::PercentDecode(path.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

std::string QueryParam(const std::string& target, const std::string& key) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return "";
  for (const auto& [k, v] : net::ParseForm(std::string_view(target).substr(q + 1)))
    if (k == key) return v;
  return "";
}

Result<int64_t> VersionNumber(const std::string& s) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("not a version number: " + s);
  return std::stoll(s);
}

net::HttpResponse Answer(Result<Json> r) {
  return r.ok() ? JsonAnswer(200, *r) : StatusError(r.status());
}

net::HttpResponse Read(Context& c, const std::vector<std::string>& p, const std::string& target,
                       const UiSessions::Session& s, bool read_only) {
  const size_t n = p.size();
  if (n == 1 && p[0] == "session")
    return JsonAnswer(200, {{"user", s.access_key},
                            {"csrf_token", s.csrf_token},
                            {"read_only", read_only},
                            {"store", c.options.store}});
  if (n == 1 && p[0] == "groups") return Answer(UiGroups(c));
  if (n == 2 && p[0] == "groups") return Answer(UiVersions(c, p[1]));
  if (n == 3 && (p[0] == "versions" || p[0] == "tensors")) {
    auto v = VersionNumber(p[2]);
    if (!v.ok()) return StatusError(v.status());
    return Answer(p[0] == "versions" ? UiVersion(c, p[1], *v) : UiTensors(c, p[1], *v));
  }
  if (n == 3 && p[0] == "diff") return Answer(UiDiff(c, p[1], p[2]));
  if (n == 1 && p[0] == "jobs") return Answer(UiJobs(c));
  if (n == 2 && p[0] == "jobs") {
    const std::string lines = QueryParam(target, "log_lines");
    size_t n = 200;
    if (!lines.empty() &&
        (std::from_chars(lines.data(), lines.data() + lines.size(), n).ec != std::errc() ||
         lines.find_first_not_of("0123456789") != std::string::npos))
      return JsonError(400, "log_lines must be a number");
    return Answer(UiJob(c, p[1], std::min<size_t>(n, 5000)));
  }
  if (n == 1 && p[0] == "endpoints") return Answer(UiEndpoints(c));
  if (n == 2 && p[0] == "endpoints") return Answer(UiEndpoint(c, p[1], 15));
  return JsonError(404, "no such page");
}

Json Body(const net::HttpRequest& req) {
  Json in = Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  return in.is_object() ? in : Json();
}

std::string Field(const Json& in, const char* key) {
  return in.contains(key) && in[key].is_string() ? in[key].get<std::string>() : "";
}

net::HttpResponse Act(Context& c, const std::vector<std::string>& p, const net::HttpRequest& req,
                      const UiSessions::Session& session) {
  const Json in = Body(req);
  // Who the registry's events name: the access key logged in, through the dashboard.
  const std::string by = session.access_key + " (dashboard)";
  if (in.is_null()) return JsonError(400, "the request body is not a JSON object");
  if (p.size() == 1 && p[0] == "approval") {  // {"version": "g:3", "status": "Approved"}
    const std::string status = Field(in, "status");
    const Approval a = status == "Approved"   ? Approval::kApproved
                       : status == "Rejected" ? Approval::kRejected
                                              : Approval::kPendingManualApproval;
    if (status != "Approved" && status != "Rejected" && status != "PendingManualApproval")
      return JsonError(400, "status is Approved, Rejected or PendingManualApproval");
    Status st = c.registry.SetApproval(Field(in, "version"), a, by);
    return st.ok() ? JsonAnswer(200, {{"version", Field(in, "version")}, {"status", status}})
                   : StatusError(st);
  }
  if (p.size() == 1 && p[0] == "alias") {  // {"group", "alias", "version": n}
    if (!in.contains("version") || !in["version"].is_number_integer())
      return JsonError(400, "version must be a number");
    const int64_t v = in["version"].get<int64_t>();
    Status st = ValidateName("alias", Field(in, "alias"));
    if (st.ok()) st = c.registry.Resolve(Field(in, "group") + ":" + std::to_string(v)).status();
    if (st.ok()) st = c.registry.SetAlias(Field(in, "group"), Field(in, "alias"), v, by);
    return st.ok() ? JsonAnswer(200, {{"alias", Field(in, "alias")}, {"version", v}})
                   : StatusError(st);
  }
  if (p.size() == 1 && p[0] == "rollback") {  // {"group", "alias"}
    auto v = c.registry.Rollback(Field(in, "group"), Field(in, "alias"), by);
    return v.ok() ? JsonAnswer(200, {{"alias", Field(in, "alias")}, {"version", *v}})
                  : StatusError(v.status());
  }
  if (p.size() == 3 && p[0] == "jobs" && p[2] == "stop")
    return Answer(StopTrainingJob(c, Json{{"TrainingJobName", p[1]}}));
  return JsonError(404, "no such action");
}

net::HttpResponse Login(Context& c, UiSessions& sessions, const net::HttpRequest& req) {
  std::string key, secret;
  for (const auto& [k, v] : net::ParseForm(req.body)) {
    if (k == "access_key") key = v;
    if (k == "secret_key") secret = v;
  }
  auto it = c.options.credentials.find(key);
  const bool secret_ok =
      !key.empty() && it != c.options.credentials.end() && SameSecret(it->second, secret);
  const int64_t now = NowMs();
  switch (sessions.Attempt(key, secret_ok, now)) {
    case UiSessions::Login::kLocked:
      return Redirect("/ui/login?failed=locked");
    case UiSessions::Login::kWrong:
      return Redirect("/ui/login?failed=1");
    case UiSessions::Login::kOk:
      break;
  }
  auto [id, s] = sessions.Create(key, now);
  net::HttpResponse r = Redirect("/ui/");
  r.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=" + id +
                                           "; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=" +
                                           std::to_string(UiSessions::kLifetimeMs / 1000));
  return r;
}

}  // namespace

net::HttpResponse HandleUi(Context& c, UiSessions& sessions, const net::HttpRequest& req,
                           bool read_only) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  // What a visitor without a session may read: the login page and its stylesheet.
  if (req.method == "GET" && path == "/ui/login") {
    net::HttpResponse r = Asset("login.html");
    const std::string failed = QueryParam(req.target, "failed");
    const char* message = failed == "1"        ? "Wrong access key or secret key."
                          : failed == "locked" ? "Too many failed logins for this access key: "
                                                 "try again in 30 seconds."
                                               : nullptr;
    if (message)
      if (const size_t at = r.body.find("<!--message-->"); at != std::string::npos)
        r.body.replace(at, 14,
                       std::string("<p class=\"error\" id=\"login-error\">") + message + "</p>");
    return r;
  }
  if (req.method == "GET" && path == "/ui/static/style.css") return Asset("style.css");
  if (req.method == "POST" && path == "/ui/login") return Login(c, sessions, req);
  const std::string id = CookieValue(req, kCookie);
  const auto session = id.empty() ? std::nullopt : sessions.Find(id, NowMs());
  const bool api = path.rfind("/ui/api/", 0) == 0;
  if (!session) return api ? JsonError(401, "log in first (/ui/login)") : Redirect("/ui/login");
  if (req.method == "GET" && (path == "/ui" || path == "/ui/")) return Asset("index.html");
  if (req.method == "GET" && path.rfind("/ui/static/", 0) == 0) return Asset(path.substr(11));
  if (!api) {
    if (req.method == "POST" && path == "/ui/logout") {
      if (!SameSecret(req.Header("x-csrf-token"), session->csrf_token))
        return JsonError(403, "missing or wrong CSRF token");
      sessions.End(id);
      net::HttpResponse r = JsonAnswer(200, Json::object());
      r.headers.emplace_back(
          "Set-Cookie", std::string(kCookie) + "=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
      return r;
    }
    return JsonError(404, "no such page");
  }
  const auto segments = Segments(req.target, 8);
  try {
    if (req.method == "GET") return Read(c, segments, req.target, *session, read_only);
    if (req.method != "POST") return JsonError(405, "GET or POST");
    if (!SameSecret(req.Header("x-csrf-token"), session->csrf_token))
      return JsonError(403, "missing or wrong CSRF token");
    if (read_only) return JsonError(403, "this dashboard is read-only (cairn ui)");
    return Act(c, segments, req, *session);
  } catch (const std::exception& e) {  // a library's exception: a 500, never a dead server
    return JsonError(500, e.what());
  }
}

}  // namespace cairn::api
