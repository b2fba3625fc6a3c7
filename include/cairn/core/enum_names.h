// EnumNames: the one way an enum is named in records and APIs (SageMaker's status strings, say):
// a table of (value, name) pairs that converts both ways.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "cairn/core/status.h"

namespace cairn {

template <class E, size_t N>
class EnumNames {
 public:
  constexpr explicit EnumNames(std::array<std::pair<E, const char*>, N> names) : names_(names) {}

  // The name of `value`; "" for a value missing from the table.
  const char* Name(E value) const {
    for (const auto& [v, n] : names_)
      if (v == value) return n;
    return "";
  }
  // The value named `name`; kInvalidArgument naming `what` and the known names otherwise.
  Result<E> Parse(std::string_view name, std::string_view what) const {
    for (const auto& [v, n] : names_)
      if (name == n) return v;
    std::string known;
    for (const auto& [v, n] : names_) known += (known.empty() ? "" : ", ") + std::string(n);
    return Status::InvalidArgument("unknown " + std::string(what) + " '" + std::string(name) +
                                   "' (one of " + known + ")");
  }
  const std::array<std::pair<E, const char*>, N>& all() const { return names_; }

 private:
  std::array<std::pair<E, const char*>, N> names_;
};

}  // namespace cairn
