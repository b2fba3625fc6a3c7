#include "cairn/formats/tensor.h"

#include <cstring>
#include <limits>

namespace cairn {

std::shared_ptr<const Storage> Storage::Owned(DType dtype, std::vector<uint8_t> bytes) {
  auto buf = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  auto s = std::make_shared<Storage>();
  s->dtype = dtype;
  s->data = buf->data();
  s->nbytes = buf->size();
  s->owner = std::move(buf);
  return s;
}

std::shared_ptr<const Storage> Storage::Borrowed(DType dtype, const uint8_t* data, size_t nbytes,
                                                 std::shared_ptr<const void> owner) {
  auto s = std::make_shared<Storage>();
  s->dtype = dtype;
  s->data = data;
  s->nbytes = nbytes;
  s->owner = std::move(owner);
  return s;
}

std::vector<int64_t> Tensor::ContiguousStrides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

Result<Tensor> Tensor::FromBytes(DType dtype, std::vector<int64_t> shape,
                                 std::vector<uint8_t> bytes) {
  Tensor t;
  t.dtype = dtype;
  t.strides = ContiguousStrides(shape);
  t.shape = std::move(shape);
  t.storage = Storage::Owned(dtype, std::move(bytes));
  CAIRN_RETURN_IF_ERROR(t.Validate());
  if (t.nbytes() != t.storage->nbytes) {
    return Status::InvalidArgument("tensor of " + std::to_string(t.nbytes()) +
                                   " bytes built from " + std::to_string(t.storage->nbytes) +
                                   " bytes");
  }
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (shape[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

Status Tensor::Validate() const {
  if (storage == nullptr) return Status::Corrupt("tensor without storage");
  if (storage->dtype != dtype) return Status::Corrupt("tensor dtype differs from its storage's");
  if (strides.size() != shape.size()) {
    return Status::Corrupt("tensor has " + std::to_string(shape.size()) + " dimensions but " +
                           std::to_string(strides.size()) + " strides");
  }
  if (shape.size() > 64) return Status::Corrupt("tensor has more than 64 dimensions");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t numel = 1;
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) return Status::Corrupt("tensor has a negative dimension");
    if (strides[i] < 0) return Status::Unsupported("tensor has a negative stride");
    if (shape[i] == 0) empty = true;
    if (shape[i] > 0 && numel > kMax / shape[i]) return Status::Corrupt("tensor shape overflows");
    numel *= shape[i];
  }
  if (numel > kMax / 8) return Status::Corrupt("tensor shape is absurdly large");
  if (storage_offset < 0) return Status::Corrupt("tensor has a negative storage offset");
  const int64_t storage_numel = static_cast<int64_t>(storage->numel());
  if (empty) {
    if (storage_offset > storage_numel) return Status::Corrupt("storage offset past its storage");
    return Status::OK();
  }
  // The last element the view touches must lie inside the storage.
  int64_t last = storage_offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t span = shape[i] - 1;
    if (strides[i] != 0 && span > (kMax - last) / strides[i]) {
      return Status::Corrupt("tensor view overflows");
    }
    last += span * strides[i];
  }
  if (last >= storage_numel) {
    return Status::Corrupt("tensor view reaches element " + std::to_string(last) +
                           " of a storage of " + std::to_string(storage_numel) + " elements");
  }
  return Status::OK();
}

const uint8_t* Tensor::contiguous_data() const {
  if (!is_contiguous()) return nullptr;
  return storage->data + static_cast<size_t>(storage_offset) * DTypeSize(dtype);
}

void Tensor::ForEachRun(const std::function<void(const uint8_t*, size_t)>& fn) const {
  const int64_t n = numel();
  if (n == 0) return;
  const size_t es = DTypeSize(dtype);
  if (const uint8_t* p = contiguous_data()) {
    fn(p, static_cast<size_t>(n) * es);
    return;
  }
  // Walk the outer dimensions; emit the innermost contiguous block at a time.
  const size_t nd = shape.size();
  size_t inner = nd;  // dims [inner, nd) are contiguous together
  int64_t block = 1;
  while (inner > 0 && strides[inner - 1] == block) {
    block *= shape[inner - 1];
    --inner;
  }
  std::vector<int64_t> idx(inner, 0);
  const size_t run = static_cast<size_t>(block) * es;
  for (;;) {
    int64_t off = storage_offset;
    for (size_t d = 0; d < inner; ++d) off += idx[d] * strides[d];
    fn(storage->data + static_cast<size_t>(off) * es, run);
    size_t d = inner;
    while (d > 0) {
      --d;
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
      if (d == 0) return;
    }
    if (inner == 0) return;
  }
}

std::vector<uint8_t> Tensor::ContiguousBytes() const {
  std::vector<uint8_t> out;
  out.reserve(nbytes());
  ForEachRun([&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); });
  return out;
}

Sha256Digest Tensor::Sha256() const {
  cairn::Sha256 h;
  ForEachRun([&](const uint8_t* p, size_t n) { h.Update(p, n); });
  return h.Finish();
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

double Tensor::ElementAsDouble(int64_t i) const {
  // Map the flat row-major index to a storage offset.
  int64_t off = storage_offset;
  for (size_t d = shape.size(); d-- > 0;) {
    off += (i % shape[d]) * strides[d];
    i /= shape[d];
  }
  const uint8_t* p = storage->data + static_cast<size_t>(off) * DTypeSize(dtype);
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (dtype) {
    case DType::kF32:
      return load(float{});
    case DType::kF64:
      return load(double{});
    case DType::kF16:
      return HalfToFloat(load(uint16_t{}));
    case DType::kBF16:
      return BFloat16ToFloat(load(uint16_t{}));
    case DType::kI64:
      return static_cast<double>(load(int64_t{}));
    case DType::kI32:
      return load(int32_t{});
    case DType::kI16:
      return load(int16_t{});
    case DType::kI8:
      return load(int8_t{});
    case DType::kU8:
      return load(uint8_t{});
    case DType::kBool:
      return load(uint8_t{}) != 0 ? 1.0 : 0.0;
  }
  return 0;
}

}  // namespace cairn
