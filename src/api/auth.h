// Private to api: verifying AWS Signature Version 4 on incoming requests, with the same signing
// code the S3 client uses (storage/sigv4). The error codes are those AWS returns and boto3 maps.
#pragma once

#include <ctime>
#include <map>
#include <set>
#include <string>

#include "cairn/net/http_server.h"

namespace cairn::api {

struct AuthError {
  int http_status = 403;
  std::string code;  // "" when the request is authentic
  std::string message;
  std::string service;     // an authentic request's credential scope: "sagemaker", "sts", ...
  std::string access_key;  // and who signed it
};

// Checks the Authorization header (AWS's "Signature Version 4 signing process"): a known access
// key; a credential scope of `region` and one of `services`; host and x-amz-date among the signed
// headers, each signed header present; the body's SHA-256; a date within 15 minutes of `now`
// (seconds since the epoch); and the signature, compared in constant time. The code is empty for
// an authentic request, else AWS's: MissingAuthenticationTokenException,
// IncompleteSignatureException, UnrecognizedClientException, InvalidSignatureException,
// XAmzContentSHA256Mismatch.
AuthError VerifySigV4(const net::HttpRequest& request,
                      const std::map<std::string, std::string>& credentials,
                      const std::string& region, const std::set<std::string>& services,
                      std::time_t now);

}  // namespace cairn::api
