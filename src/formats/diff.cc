#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "cairn/formats/weights.h"

namespace cairn {
namespace {

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Byte equality of the values (memcmp where both are contiguous: no hashing needed).
bool SameValues(const Tensor& x, const Tensor& y) {
  const uint8_t *px = x.contiguous_data(), *py = y.contiguous_data();
  if (px != nullptr && py != nullptr)
    return x.nbytes() == 0 || std::memcmp(px, py, x.nbytes()) == 0;
  return x.ContiguousBytes() == y.ContiguousBytes();
}

}  // namespace

std::vector<TensorDiff> DiffTensors(const Value& a, const Value& b) {
  std::vector<TensorDiff> out;
  auto ta = FlattenTensors(a), tb = FlattenTensors(b);
  std::unordered_map<std::string, const Tensor*> in_b;
  for (const auto& nt : tb) in_b.emplace(nt.name, nt.tensor.get());
  std::unordered_map<std::string, bool> in_a;
  for (const auto& nt : ta) {
    in_a.emplace(nt.name, true);
    auto it = in_b.find(nt.name);
    if (it == in_b.end()) {
      out.push_back({TensorDiff::Kind::kRemoved, nt.name, "", 0, 0});
      continue;
    }
    const Tensor &x = *nt.tensor, &y = *it->second;
    if (x.dtype != y.dtype) {
      out.push_back(
          {TensorDiff::Kind::kChanged, nt.name,
           "dtype " + std::string(DTypeName(x.dtype)) + " -> " + std::string(DTypeName(y.dtype)), 0,
           0});
      continue;
    }
    if (x.shape != y.shape) {
      out.push_back({TensorDiff::Kind::kChanged, nt.name,
                     "shape " + ShapeString(x.shape) + " -> " + ShapeString(y.shape), 0, 0});
      continue;
    }
    if (SameValues(x, y)) continue;
    // Sums in long double: squares of large F64 values stay finite.
    double max_diff = 0;
    long double diff_sq = 0, a_sq = 0;
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      const double xa = x.ElementAsDouble(i);
      double d = std::fabs(xa - y.ElementAsDouble(i));
      if (std::isnan(d)) d = INFINITY;  // NaN on one side only: as different as can be
      max_diff = std::max(max_diff, d);
      diff_sq += static_cast<long double>(d) * d;
      a_sq += static_cast<long double>(xa) * xa;
    }
    // ||b - a||_2 / ||a||_2: 0 when no value moved (bytes may differ: -0.0), infinitely large
    // for a change from all zeros (or from a NaN).
    const double rel_l2 = diff_sq == 0 ? 0.0
                          : a_sq > 0   ? static_cast<double>(std::sqrt(diff_sq / a_sq))
                                       : INFINITY;
    char buf[96];
    std::snprintf(buf, sizeof(buf), "max |a-b| = %.6g, relative L2 = %.6g", max_diff, rel_l2);
    out.push_back({TensorDiff::Kind::kChanged, nt.name, buf, max_diff, rel_l2, true});
  }
  for (const auto& nt : tb) {
    if (!in_a.count(nt.name)) out.push_back({TensorDiff::Kind::kAdded, nt.name, "", 0, 0});
  }
  return out;
}

}  // namespace cairn
