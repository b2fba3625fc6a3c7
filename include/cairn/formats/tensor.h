// Tensors as cairn's formats layer sees them: a dtype, a shape and strides over a storage of raw
// little-endian bytes. No LibTorch here; storages are usually borrowed from a mapped file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cairn/core/sha256.h"
#include "cairn/core/status.h"
#include "cairn/formats/dtype.h"

namespace cairn {

// A flat run of bytes holding elements of one dtype. Either borrowed (data points into memory
// that `owner` keeps alive, such as a mapped file) or owned (`owner` holds the buffer).
// Immutable once built; safe to share between threads and tensors.
struct Storage {
  DType dtype = DType::kF32;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::shared_ptr<const void> owner;

  size_t numel() const { return nbytes / DTypeSize(dtype); }
  static std::shared_ptr<const Storage> Owned(DType dtype, std::vector<uint8_t> bytes);
  static std::shared_ptr<const Storage> Borrowed(DType dtype, const uint8_t* data, size_t nbytes,
                                                 std::shared_ptr<const void> owner);
};

// A strided view of a storage (PyTorch's model: offsets and strides count elements).
// Tensors that share a storage (views, tied weights) point at the same Storage object.
struct Tensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  int64_t storage_offset = 0;
  std::shared_ptr<const Storage> storage;
  bool requires_grad = false;
  bool is_parameter = false;  // a torch.nn.Parameter (state_dict(keep_vars=True))

  // A contiguous tensor that owns `bytes` (whose size must be numel * element size).
  static Result<Tensor> FromBytes(DType dtype, std::vector<int64_t> shape,
                                  std::vector<uint8_t> bytes);
  static std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& shape);

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
  bool is_contiguous() const;
  // Checks that shape, strides and offset stay inside the storage (without touching its bytes).
  Status Validate() const;

  // The values in row-major order as contiguous runs of bytes: one run for a contiguous tensor.
  void ForEachRun(const std::function<void(const uint8_t*, size_t)>& fn) const;
  // A pointer to the values when they are already contiguous in the storage, else nullptr.
  const uint8_t* contiguous_data() const;
  std::vector<uint8_t> ContiguousBytes() const;
  // SHA-256 of the values laid out contiguously, little-endian, in the tensor's dtype.
  Sha256Digest Sha256() const;
  // Copies the value at flat row-major index i into a double (any dtype; bool gives 0/1).
  double ElementAsDouble(int64_t i) const;
};

// Element conversions used for comparison and printing.
float HalfToFloat(uint16_t h);
float BFloat16ToFloat(uint16_t b);

}  // namespace cairn
