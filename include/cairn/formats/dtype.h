// Element types of tensors, named as safetensors names them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace cairn {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64,
                                       DType::kI64, DType::kI32, DType::kI16,  DType::kI8,
                                       DType::kU8,  DType::kBool};

// "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
std::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);
size_t DTypeSize(DType t);
bool DTypeIsFloat(DType t);

// PyTorch's legacy storage class for a dtype ("FloatStorage", ...) and back.
std::string_view DTypeTorchStorage(DType t);
std::optional<DType> DTypeFromTorchStorage(std::string_view cls);

}  // namespace cairn
