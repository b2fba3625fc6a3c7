// Fuzzes the HTTP/1.1 request-head parser of cairn-serve (what any client on the network sends).
#include <cstdint>
#include <string_view>

#include "cairn/net/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::net::ParsedHead head;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto outcome = cairn::net::ParseHead(in, 6 * 1000 * 1000, &head);
  if (outcome.kind == cairn::net::ParseOutcome::kHead &&
      (head.head_size > size || head.body_size > 6 * 1000 * 1000)) {
    __builtin_trap();
  }
  return 0;
}
