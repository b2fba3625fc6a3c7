// libFuzzer target: the restricted unpickler alone, with every storage key resolving to a small
// buffer, so the fuzzer spends its time on opcodes rather than on zip framing.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, std::shared_ptr<const cairn::Storage>> cache;
  cairn::pickle::StorageLoader load =
      [&](cairn::DType dt, const std::string& key,
          int64_t numel) -> cairn::Result<std::shared_ptr<const cairn::Storage>> {
    if (numel < 0 || numel > 64) return cairn::Status::Corrupt("too big");
    auto& s = cache[key];
    if (!s) s = cairn::Storage::Owned(dt, std::vector<uint8_t>(numel * cairn::DTypeSize(dt), 1));
    if (s->dtype != dt) return cairn::Status::Corrupt("dtype");
    return s;
  };
  auto r = cairn::pickle::Unpickle(data, size, load);
  if (r.ok()) {
    for (const auto& nt : cairn::FlattenTensors(*r)) (void)nt.tensor->Sha256();
    std::vector<std::shared_ptr<const cairn::Storage>> storages;
    (void)cairn::pickle::Pickle(*r, &storages);  // whatever was read can be written
  }
  return 0;
}
