// Fuzzes cairn server's SigV4 verifier (src/api/auth.cc) with whole requests: a head parsed as
// the epoll server parses it, the rest as the body. No input can be authentic (that would need
// the secret key's HMAC), so an accepted request is a forgery: the target traps.
#include <cstdint>
#include <string_view>

#include "api/auth.h"
#include "cairn/net/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  cairn::net::ParsedHead head;
  auto outcome = cairn::net::ParseHead(in, 1 << 20, &head);
  if (outcome.kind != cairn::net::ParseOutcome::kHead) return 0;
  cairn::net::HttpRequest req = head.request;
  req.body = std::string(in.substr(head.head_size));
  static const std::map<std::string, std::string> kKeys = {{"AKIDEXAMPLE", "secret"},
                                                           {"cairn-key", "cairn-secret"}};
  // 2015-08-30T12:36:00Z, the date of AWS's published SigV4 examples.
  const auto auth = cairn::api::VerifySigV4(
      req, kKeys, "us-east-1", {"sagemaker", "logs", "sts", "iam", "monitoring"}, 1440938160);
  if (auth.code.empty()) __builtin_trap();  // accepted without the secret: a forgery
  if (auth.http_status < 400 || auth.http_status > 499) __builtin_trap();
  return 0;
}
