// Private to serving: request bodies to dense float arrays and back (JSON, CSV, NPY), as
// SageMaker's toolkit decodes and encodes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/core/status.h"

namespace cairn::serving {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major
};

// kInvalidArgument for a body that does not decode; kUnsupported for an unknown content type.
Result<Array> DecodeBody(const std::string& body, const std::string& content_type);
// kUnsupported when no type in `accept` (comma-separated) is one of JSON, CSV, NPY.
Result<std::string> EncodeBody(const Array& a, const std::string& accept,
                               std::string* content_type);

}  // namespace cairn::serving
