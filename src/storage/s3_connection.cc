#include <chrono>
#include <random>
#include <thread>

#include "cairn/core/sha256.h"
#include "s3_internal.h"

namespace cairn::s3 {

Connection::Connection(std::string bucket, S3Options options)
    : bucket_(std::move(bucket)), options_(std::move(options)) {
  scheme_host_ = options_.endpoint.empty() ? "https://s3." + options_.region + ".amazonaws.com"
                                           : options_.endpoint;
  size_t start = scheme_host_.find("://");
  host_ = scheme_host_.substr(start == std::string::npos ? 0 : start + 3);
  if (size_t slash = host_.find('/'); slash != std::string::npos) {
    scheme_host_.resize(scheme_host_.size() - (host_.size() - slash));
    host_.resize(slash);
  }
}

Result<net::Response> Connection::Send(const Call& call) {
  // Path-style addressing: /<bucket>/<key>.
  const std::string path = "/" + bucket_ + (call.key.empty() ? "" : "/" + call.key);
  std::string url = scheme_host_ + sigv4::UriEncode(path, true);
  std::string query;
  for (const auto& [k, v] : call.query) {
    query += (query.empty() ? "?" : "&") + sigv4::UriEncode(k, false) +
             (v.empty() ? "=" : "=" + sigv4::UriEncode(v, false));
  }
  url += query;

  // Small bodies (XML) are signed; large ones (object data) go as UNSIGNED-PAYLOAD, which S3
  // allows; TCP and TLS protect them in transit and cairn verifies content hashes above this.
  const uint8_t* body = call.body;
  std::string small;  // a small body from a reader is read here to be signed
  if (call.body_reader != nullptr && call.body_size <= 65536) {
    small.resize(call.body_size);
    for (size_t got = 0; got < small.size();) {
      CAIRN_ASSIGN_OR_RETURN(
          size_t n, (*call.body_reader)(got, reinterpret_cast<uint8_t*>(small.data() + got),
                                        small.size() - got));
      if (n == 0) return Status::IOError("the body's source ended early");
      got += n;
    }
    body = reinterpret_cast<const uint8_t*>(small.data());
  }
  const net::BodyReader* reader = body == nullptr ? call.body_reader : nullptr;
  const std::string payload = call.body_size == 0       ? Sha256Hex("")
                              : call.body_size <= 65536 ? Sha256Hex(body, call.body_size)
                                                        : "UNSIGNED-PAYLOAD";
  Status last;
  for (int attempt = 1;; ++attempt) {
    sigv4::Request sreq{call.method, host_, path, call.query, call.headers, payload};
    sreq.headers.emplace_back("x-amz-content-sha256", payload);
    auto sig = sigv4::Sign(sreq, options_.credentials, options_.region, "s3", std::time(nullptr));
    net::Request req{call.method, url, call.headers, body, call.body_size, reader, call.sink};
    req.headers.emplace_back("x-amz-content-sha256", payload);
    req.headers.emplace_back("x-amz-date", sig.amz_date);
    req.headers.emplace_back("Authorization", sig.authorization);
    if (!options_.credentials.session_token.empty()) {
      req.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
    }
    auto resp = client_.Perform(req);
    bool retryable;
    if (!resp.ok()) {
      last = resp.status();
      retryable = last.code() == Status::Code::kTransient;
    } else {
      const long s = resp->status;
      retryable = s == 429 || s >= 500 ||
                  (s == 409 && XmlFirst(resp->body, "Code") == "ConditionalRequestConflict");
      if (!retryable) return resp;
      last = ErrorFromResponse(*resp, call.method + " s3://" + bucket_ + "/" + call.key);
    }
    if (!retryable || !call.idempotent || attempt >= options_.max_attempts) return last;
    Backoff(attempt);
  }
}

void Backoff(int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double cap_ms = std::min(5000.0, 100.0 * (1 << std::min(attempt, 10)));
  std::this_thread::sleep_for(std::chrono::microseconds(
      static_cast<int64_t>(std::uniform_real_distribution<double>(0, cap_ms)(rng) * 1000)));
}

}  // namespace cairn::s3
