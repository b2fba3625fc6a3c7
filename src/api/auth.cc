#include "auth.h"

#include <openssl/crypto.h>

#include <sstream>

#include "cairn/core/sha256.h"
#include "cairn/net/url.h"
#include "cairn/storage/sigv4.h"

namespace cairn::api {

namespace {

std::time_t ParseAmzDate(const std::string& s) {
  std::tm tm{};
  if (s.size() != 16 || ::strptime(s.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return -1;
  return ::timegm(&tm);
}

}  // namespace

AuthError VerifySigV4(const net::HttpRequest& req,
                      const std::map<std::string, std::string>& credentials,
                      const std::string& region, const std::set<std::string>& services,
                      std::time_t now) {
  const std::string auth = req.Header("authorization");
  if (auth.empty())
    return {403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  const std::string prefix = "AWS4-HMAC-SHA256 ";
  if (auth.compare(0, prefix.size(), prefix) != 0)
    return {400, "IncompleteSignatureException", "Authorization must be AWS4-HMAC-SHA256"};
  std::map<std::string, std::string> parts;
  std::stringstream ss(auth.substr(prefix.size()));
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    const size_t eq = item.find('=');
    if (eq != std::string::npos) parts[item.substr(0, eq)] = item.substr(eq + 1);
  }
  const std::string credential = parts["Credential"], signed_headers = parts["SignedHeaders"];
  const std::string signature = parts["Signature"];
  std::vector<std::string> scope;
  std::stringstream cs(credential);
  while (std::getline(cs, item, '/')) scope.push_back(item);
  if (scope.size() != 5 || signed_headers.empty() || signature.empty() ||
      scope[4] != "aws4_request")
    return {400, "IncompleteSignatureException", "the Authorization header is incomplete"};
  if (scope[2] != region)
    return {403, "InvalidSignatureException",
            "Credential should be scoped to a valid region, not '" + scope[2] +
                "': this cairn server's region is '" + region + "' (cairn server --region)."};
  if (!services.count(scope[3]))
    return {403, "InvalidSignatureException",
            "Credential should be scoped to correct service: '" + scope[3] + "' is not served."};
  auto key = credentials.find(scope[0]);
  if (key == credentials.end())
    return {403, "UnrecognizedClientException",
            "The security token included in the request is invalid."};
  const std::string amz_date = req.Header("x-amz-date");
  const std::time_t when = ParseAmzDate(amz_date);
  if (when < 0 || amz_date.substr(0, 8) != scope[1])
    return {400, "IncompleteSignatureException",
            "X-Amz-Date is missing or does not match the credential scope"};
  if (when > now + 15 * 60 || when < now - 15 * 60)
    return {403, "InvalidSignatureException",
            "Signature expired: " + amz_date + " is more than 15 minutes from the server's time"};
  sigv4::Request r;
  r.method = req.method;
  const std::string target = req.target;
  const size_t q = target.find('?');
  r.path = net::PercentDecode(target.substr(0, q));
  if (q != std::string::npos) {
    std::stringstream qs(target.substr(q + 1));
    while (std::getline(qs, item, '&')) {
      const size_t eq = item.find('=');
      r.query.emplace_back(net::PercentDecode(item.substr(0, eq)),
                           eq == std::string::npos ? "" : net::PercentDecode(item.substr(eq + 1)));
    }
  }
  sigv4::Credentials creds{scope[0], key->second, ""};
  std::stringstream hs(signed_headers);
  bool has_host = false, has_date = false;
  while (std::getline(hs, item, ';')) {
    bool present = false;
    for (const auto& h : req.headers) present = present || h.first == item;
    if (!present)
      return {400, "IncompleteSignatureException",
              "the signed header " + item + " is not in the request"};
    has_date = has_date || item == "x-amz-date";
    if (item == "host") {
      r.host = req.Header("host");
      has_host = true;
    } else if (item == "x-amz-security-token") {
      creds.session_token = req.Header(item);
    } else if (item != "x-amz-date") {
      r.headers.emplace_back(item, req.Header(item));
    }
  }
  if (!has_host || !has_date)
    return {400, "IncompleteSignatureException", "the Host and X-Amz-Date headers must be signed"};
  const std::string sent_hash = req.Header("x-amz-content-sha256");
  r.payload_sha256 =
      sent_hash.empty() || sent_hash == "UNSIGNED-PAYLOAD" ? Sha256Hex(req.body) : sent_hash;
  if (!sent_hash.empty() && sent_hash != "UNSIGNED-PAYLOAD" && sent_hash != Sha256Hex(req.body))
    return {400, "XAmzContentSHA256Mismatch", "the body does not match x-amz-content-sha256"};
  const sigv4::Signature expected = sigv4::Sign(r, creds, scope[2], scope[3], when);
  if (expected.signature.size() != signature.size() ||
      CRYPTO_memcmp(expected.signature.data(), signature.data(), signature.size()) != 0) {
    return {403, "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."};
  }
  return {200, "", "", scope[3], scope[0]};
}

}  // namespace cairn::api
