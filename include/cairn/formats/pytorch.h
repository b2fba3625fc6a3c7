// PyTorch's torch.save format (the zip container used since 1.6), read and written without
// LibTorch and without executing anything.
#pragma once

#include <memory>
#include <string>

#include "cairn/core/file.h"
#include "cairn/formats/value.h"

namespace cairn {

// Reads a file written by torch.save (state dicts, keep_vars state dicts, nested checkpoints).
// Tensor bytes are not copied: tensors borrow from a mapping of the file that they keep alive.
// Errors: kCorrupt for broken files, kUnsafe for pickles that name globals other than the few
// needed for tensors and containers, kUnsupported for valid but unhandled content (legacy pre-1.6
// files, TorchScript archives, exotic dtypes), with a message that says what to do.
Result<Value> ReadPyTorch(const std::string& path);
Result<Value> ReadPyTorch(std::shared_ptr<const MappedFile> file);

// Writes `root` so that torch.load (1.13, also weights_only=True when the tree holds only
// tensors, ints, strings, bools, None and containers) returns the same object. Each storage is
// written once (views and tied weights stay shared); records are 64-byte aligned. The file
// appears under `path` only once complete.
struct WriteOptions {
  bool sync = true;  // fsync before the file appears under its name
};
Status WritePyTorch(const std::string& path, const Value& root, const WriteOptions& options = {});

// True when the bytes start like a zip archive (a torch.save file or a TorchScript archive).
bool LooksLikeZip(const uint8_t* data, size_t size);
// True when the bytes start with the pickled magic number of the legacy (pre-1.6) format.
bool LooksLikeLegacyTorchSave(const uint8_t* data, size_t size);

}  // namespace cairn
