// libFuzzer target: the safetensors reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cairn/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = cairn::MappedFile::FromString(std::string(reinterpret_cast<const char*>(data), size),
                                            "fuzz.safetensors");
  auto r = cairn::ReadSafetensors(file);
  if (r.ok()) {
    for (const auto& nt : r->tensors) (void)nt.tensor->Sha256();  // touch every byte
  }
  return 0;
}
