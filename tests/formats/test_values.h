// Builders of checkpoints for the formats tests.
#pragma once

#include <cstring>
#include <vector>

#include "cairn/formats/value.h"

namespace cairn::testing {

inline Tensor FloatTensor(std::vector<int64_t> shape, float start = 0) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<uint8_t> bytes(n * 4);
  for (int64_t i = 0; i < n; ++i) {
    float f = start + static_cast<float>(i);
    std::memcpy(&bytes[i * 4], &f, 4);
  }
  return *Tensor::FromBytes(DType::kF32, std::move(shape), std::move(bytes));
}

// A view of `base` with its own shape, strides and offset (sharing the storage).
inline Tensor View(const Tensor& base, std::vector<int64_t> shape, std::vector<int64_t> strides,
                   int64_t offset) {
  Tensor t = base;
  t.shape = std::move(shape);
  t.strides = std::move(strides);
  t.storage_offset = offset;
  return t;
}

// {"epoch": 5, "model": OrderedDict(w, w_t (view), bias) with _metadata, "opt": {...}}
inline Value SampleCheckpoint() {
  Tensor w = FloatTensor({2, 3});
  Value model = Value::Dict(true);
  model.dict().Set(Value::String("w"), Value::FromTensor(w));
  model.dict().Set(Value::String("w_t"), Value::FromTensor(View(w, {3, 2}, {1, 3}, 0)));
  model.dict().Set(Value::String("row1"), Value::FromTensor(View(w, {3}, {1}, 3)));
  Tensor p = FloatTensor({4}, 10);
  p.is_parameter = true;
  p.requires_grad = true;
  model.dict().Set(Value::String("param"), Value::FromTensor(p));
  Value meta = Value::Dict(true);
  Value version = Value::Dict();
  version.dict().Set(Value::String("version"), Value::Int(1));
  meta.dict().Set(Value::String(""), version);
  model.dict().attrs.emplace_back("_metadata", meta);

  Value state = Value::Dict();
  state.dict().Set(Value::Int(0), Value::FromTensor(FloatTensor({2}, 5)));
  Value opt = Value::Dict();
  opt.dict().Set(Value::String("state"), state);
  opt.dict().Set(Value::String("betas"), Value::Tuple({Value::Float(0.9), Value::Float(0.999)}));
  opt.dict().Set(Value::String("params"), Value::List({Value::Int(0), Value::Int(1)}));
  opt.dict().Set(Value::String("foreach"), Value());
  opt.dict().Set(Value::String("amsgrad"), Value::Bool(false));
  opt.dict().Set(Value::String("blob"), Value::BytesValue(std::string("\x00\xff\x80z", 4)));

  Value root = Value::Dict();
  root.dict().Set(Value::String("epoch"), Value::Int(5));
  root.dict().Set(Value::String("big"), Value::Int(-(int64_t{1} << 40)));
  root.dict().Set(Value::String("model"), model);
  root.dict().Set(Value::String("opt"), opt);
  return root;
}

}  // namespace cairn::testing
