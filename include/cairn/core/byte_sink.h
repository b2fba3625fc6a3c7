// ByteSink: where streamed bytes go (an object read from a store, an HTTP response body).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "cairn/core/status.h"

namespace cairn {

// Receives bytes in order, in pieces. Returning an error stops the transfer, and that Status is
// what the transfer returns.
using ByteSink = std::function<Status(const uint8_t* data, size_t size)>;

}  // namespace cairn
