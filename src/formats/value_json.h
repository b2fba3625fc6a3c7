// Private to the formats layer: a checkpoint's structure as JSON, kept in safetensors'
// __metadata__ so that a nested checkpoint survives PyTorch -> safetensors -> PyTorch.
//
// Encoding: null, true/false, integers, strings and arrays (lists) map to themselves; floats are
// JSON numbers with a fraction ({"$float": "nan"|"inf"|"-inf"} for the rest);
// {"$tuple": [...]}, {"$dict": [[k, v], ...]}, {"$odict": [[k, v], ...], "$attrs": {...}},
// {"$bytes": "<hex>"}, and {"$tensor": "<name>", "requires_grad": b, "parameter": b}.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/formats/value.h"

namespace cairn::structure {

using Json = nlohmann::ordered_json;

// Encodes `root`; every tensor is replaced by a reference to its flattened name and appended to
// `tensors` (in traversal order). Fails if two tensors would get the same name.
Result<Json> Encode(const Value& root, std::vector<NamedTensor>* tensors);

// Rebuilds the tree, taking each referenced tensor from `tensors` by name.
Result<Value> Decode(const Json& j,
                     const std::unordered_map<std::string, std::shared_ptr<const Tensor>>& tensors);

}  // namespace cairn::structure
