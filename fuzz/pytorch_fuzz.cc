// libFuzzer target: the torch.save reader (zip directory, unpickler, tensor views).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cairn/formats/pytorch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = cairn::MappedFile::FromString(std::string(reinterpret_cast<const char*>(data), size),
                                            "fuzz.pth");
  auto r = cairn::ReadPyTorch(file);
  if (r.ok()) {
    for (const auto& nt : cairn::FlattenTensors(*r)) (void)nt.tensor->Sha256();  // touch bytes
  }
  return 0;
}
