#include "api_client.h"

#include <cstdlib>
#include <ctime>

#include "cairn/core/sha256.h"

namespace cairn::cli {

namespace {
std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
}  // namespace

Result<ApiClient> ApiClient::Open(const std::string& server_flag) {
  ApiClient c;
  c.url_ = server_flag.empty() ? Env("CAIRN_SERVER_URL") : server_flag;
  if (c.url_.empty()) c.url_ = "http://127.0.0.1:8770";
  while (!c.url_.empty() && c.url_.back() == '/') c.url_.pop_back();
  const size_t scheme = c.url_.find("://");
  if (scheme == std::string::npos ||
      (c.url_.compare(0, scheme, "http") != 0 && c.url_.compare(0, scheme, "https") != 0) ||
      c.url_.find('/', scheme + 3) != std::string::npos || c.url_.size() == scheme + 3)
    return Status::InvalidArgument("the server URL must be http(s)://host[:port], not '" + c.url_ +
                                   "'");
  c.host_ = c.url_.substr(scheme + 3);
  c.credentials_.access_key = Env("AWS_ACCESS_KEY_ID");
  c.credentials_.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  c.credentials_.session_token = Env("AWS_SESSION_TOKEN");
  if (c.credentials_.access_key.empty()) {
    c.credentials_.access_key = Env("CAIRN_SERVER_ACCESS_KEY");
    c.credentials_.secret_key = Env("CAIRN_SERVER_SECRET_KEY");
    c.credentials_.session_token.clear();
  }
  if (c.credentials_.access_key.empty() || c.credentials_.secret_key.empty())
    return Status::InvalidArgument(
        "no keys for cairn server: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
        "CAIRN_SERVER_ACCESS_KEY and CAIRN_SERVER_SECRET_KEY)");
  c.region_ = Env("AWS_REGION");
  if (c.region_.empty()) c.region_ = Env("AWS_DEFAULT_REGION");
  if (c.region_.empty()) c.region_ = "us-east-1";
  c.http_ = std::make_shared<net::Client>();
  return c;
}

Result<nlohmann::json> ApiClient::Call(const std::string& operation,
                                       const nlohmann::json& request) {
  const std::string body = request.dump();
  sigv4::Request r;
  r.method = "POST";
  r.host = host_;
  r.path = "/";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "SageMaker." + operation}};
  r.payload_sha256 = Sha256Hex(body);
  const sigv4::Signature sig =
      sigv4::Sign(r, credentials_, region_, "sagemaker", std::time(nullptr));
  net::Headers headers = {{"Content-Type", "application/x-amz-json-1.1"},
                          {"X-Amz-Target", "SageMaker." + operation},
                          {"X-Amz-Date", sig.amz_date},
                          {"X-Amz-Content-Sha256", r.payload_sha256},
                          {"Authorization", sig.authorization}};
  if (!credentials_.session_token.empty())
    headers.emplace_back("X-Amz-Security-Token", credentials_.session_token);
  auto res = http_->Send("POST", url_ + "/", body, headers, 120);
  if (!res.ok())
    return Status::Transient("cairn server at " + url_ +
                             " did not answer: " + res.status().message());
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status >= 400) {
    std::string code = j.is_object() ? j.value("__type", "") : "";
    if (const size_t hash = code.rfind('#'); hash != std::string::npos)
      code = code.substr(hash + 1);
    const std::string message =
        j.is_object() ? j.value("message", j.value("Message", res->body)) : res->body;
    const std::string text =
        (code.empty() ? "HTTP " + std::to_string(res->status) : code) + ": " + message;
    return res->status >= 500 ? Status::Internal(text) : Status::InvalidArgument(text);
  }
  if (j.is_discarded()) return Status::Corrupt("cairn server answered with invalid JSON");
  return j;
}

}  // namespace cairn::cli
