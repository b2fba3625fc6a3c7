// AWS Signature Version 4 as pure functions: the same request, credentials and clock always give
// the same signature (tests use AWS's published examples). Used to sign S3 requests and, later,
// to verify requests that clients such as boto3 sign.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::sigv4 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
};

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // Host header value, with ":port" when not the scheme's default
  std::string path;    // the URI path, NOT yet encoded, e.g. "/bucket/my key.txt"
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers to sign
  std::string payload_sha256;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct Signature {
  std::string amz_date;       // the X-Amz-Date header to send (YYYYMMDDTHHMMSSZ)
  std::string authorization;  // the Authorization header to send
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // hex
};

// Signs `request` for `region` and `service` at `now` (seconds since the epoch, UTC). Signs the
// host and x-amz-date headers, x-amz-security-token when there is a session token, and every
// header in request.headers (names are lower-cased and values trimmed, as SigV4 requires).
Signature Sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::time_t now);

// URI encoding as SigV4 defines it: keeps A-Z a-z 0-9 - _ . ~; '/' is kept only when
// `keep_slash` (paths), else encoded (query names and values).
std::string UriEncode(std::string_view s, bool keep_slash);

// "YYYYMMDDTHHMMSSZ" for `now`.
std::string AmzDate(std::time_t now);

// HMAC-SHA256 of `data` with `key`, as raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace cairn::sigv4
