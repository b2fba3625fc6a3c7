// Fuzzes the decoders of request bodies (JSON, CSV, NPY) that native serving applies to whatever
// a client sends. The first byte picks the content type. Must never crash, hang or overrun.
#include <cstdint>
#include <string>

#include "serving/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kTypes[] = {"application/json", "text/csv", "application/x-npy"};
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto a = cairn::serving::DecodeBody(body, kTypes[data[0] % 3]);
  if (a.ok()) {
    int64_t n = 1;
    for (int64_t d : a->shape) n *= d;
    if (n != static_cast<int64_t>(a->values.size())) __builtin_trap();  // shape must match values
    std::string type;
    (void)cairn::serving::EncodeBody(*a, kTypes[data[0] / 3 % 3], &type);
  }
  return 0;
}
