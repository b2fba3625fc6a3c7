// Private to the formats layer: the restricted unpickler and the pickler behind the PyTorch
// format. Only protocol-2 style pickles of tensors and plain containers are understood.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cairn/formats/value.h"

namespace cairn::pickle {

// Returns the storage that a persistent id ('storage', torch.<T>Storage, key, location, numel)
// refers to. Must return the same Storage object for the same key (views share storages).
using StorageLoader = std::function<Result<std::shared_ptr<const Storage>>(
    DType dtype, const std::string& key, int64_t numel)>;

// Rebuilds the object a torch.save pickle describes. Only the globals needed for tensors and
// containers are known; any other global is refused with kUnsafe before anything else happens.
// Never executes anything, never reads outside [data, data+size).
Result<Value> Unpickle(const uint8_t* data, size_t size, const StorageLoader& load);

// Pickles `root` as torch.save (1.13) does, with protocol 2 and only the opcodes and globals that
// torch.load(weights_only=True) accepts. Each distinct Storage becomes a record key "0", "1", ...
// in first-seen order; `storages` receives them in key order.
Result<std::string> Pickle(const Value& root,
                           std::vector<std::shared_ptr<const Storage>>* storages);

}  // namespace cairn::pickle
