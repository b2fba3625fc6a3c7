// Large buffers that are reused instead of mapped afresh. On virtual machines that hand free
// memory back to the host, every fresh page is a slow host fault: loading 1.25 GiB of weights
// into new memory spends more time faulting pages in than hashing the bytes. A buffer released
// here (say, by the version a hot swap retired) is kept, marked MADV_FREE so that the kernel may
// still take its pages under memory pressure, and handed to the next Acquire of about its size,
// whose writes then land on pages that are already mapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cairn/core/status.h"

namespace cairn {

class BufferPool {
 public:
  // Keeps at most `capacity_bytes` of released buffers (oldest dropped first). 0 keeps none.
  explicit BufferPool(uint64_t capacity_bytes);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // The process's pool: CAIRN_BUFFER_POOL_BYTES (bytes; 0 disables) or a quarter of physical
  // memory.
  static BufferPool& Default();

  // A writable buffer of at least `size` bytes whose contents are unspecified (old bytes of a
  // reused buffer, or zeros): for callers that overwrite every byte they read. A pooled buffer
  // of `size` to `size` + size/4 + 2 MiB bytes is reused, else a new anonymous mapping is made.
  // Buffers under 1 MiB are never pooled. The buffer goes back to the pool when the last
  // reference is dropped (safe after the pool is destroyed: it is then unmapped).
  // Errors: kResourceExhausted-like errno status when mmap fails (ENOMEM).
  Result<std::shared_ptr<uint8_t>> Acquire(size_t size);

  uint64_t pooled_bytes() const;  // released buffers kept now
  uint64_t reused() const;        // Acquire calls answered from the pool so far

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace cairn
