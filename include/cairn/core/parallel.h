// Runs independent pieces of work on a few threads.
#pragma once

#include <cstddef>
#include <functional>

#include "cairn/core/status.h"

namespace cairn {

// The number of threads to use for CPU-bound work: $CAIRN_THREADS when set, else the hardware
// concurrency, at least 1.
size_t DefaultParallelism();

// Calls fn(i) for i in [0, n) on up to `threads` threads (0 = DefaultParallelism()), handing out
// indices in order. Returns the first error in index order; once an error is seen, indices not yet
// started are skipped. fn must be safe to call concurrently for different i.
Status ParallelFor(size_t n, const std::function<Status(size_t)>& fn, size_t threads = 0);

}  // namespace cairn
