// Private to api: verifying AWS Signature Version 4 on incoming requests, with the same signing
// code the S3 client uses (storage/sigv4). The error codes are those AWS returns and boto3 maps.
#pragma once

#include <ctime>
#include <map>
#include <string>

#include "cairn/net/http_server.h"

namespace cairn::api {

struct AuthError {
  int http_status = 403;
  std::string code;  // "" when the request is authentic
  std::string message;
};

// Checks the Authorization header: a known access key, the signed headers, the body's SHA-256,
// a date within 15 minutes of `now`, and the signature.
AuthError VerifySigV4(const net::HttpRequest& request,
                      const std::map<std::string, std::string>& credentials, std::time_t now);

}  // namespace cairn::api
