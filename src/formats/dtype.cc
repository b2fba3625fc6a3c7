#include "cairn/formats/dtype.h"

namespace cairn {
namespace {

struct Info {
  DType type;
  std::string_view name;
  size_t size;
  std::string_view storage;
};

constexpr Info kInfo[] = {
    {DType::kF32, "F32", 4, "FloatStorage"},      {DType::kF16, "F16", 2, "HalfStorage"},
    {DType::kBF16, "BF16", 2, "BFloat16Storage"}, {DType::kF64, "F64", 8, "DoubleStorage"},
    {DType::kI64, "I64", 8, "LongStorage"},       {DType::kI32, "I32", 4, "IntStorage"},
    {DType::kI16, "I16", 2, "ShortStorage"},      {DType::kI8, "I8", 1, "CharStorage"},
    {DType::kU8, "U8", 1, "ByteStorage"},         {DType::kBool, "BOOL", 1, "BoolStorage"},
};

const Info& Get(DType t) { return kInfo[static_cast<int>(t)]; }

}  // namespace

std::string_view DTypeName(DType t) { return Get(t).name; }
size_t DTypeSize(DType t) { return Get(t).size; }
std::string_view DTypeTorchStorage(DType t) { return Get(t).storage; }

bool DTypeIsFloat(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64;
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

std::optional<DType> DTypeFromTorchStorage(std::string_view cls) {
  for (const auto& i : kInfo)
    if (i.storage == cls) return i.type;
  return std::nullopt;
}

}  // namespace cairn
