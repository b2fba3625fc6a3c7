// Wall-clock time as cairn records it: milliseconds since the Unix epoch (UTC).
#pragma once

#include <chrono>
#include <cstdint>

namespace cairn {

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace cairn
