// Private to the registry: content-defined chunking (a gear rolling hash, as in FastCDC), so that
// bytes that did not change between versions cut into the same chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cairn::registry {

struct ChunkParams {
  // Chunks of min_size + ~avg_size on average (1.25 MiB; min_size must be >= 64). A model
  // file's tensors are MBs each, so unchanged tensors still dedup nearly whole, while a 1 GiB
  // file is ~800 objects (not ~16000 at 64 KiB), which keeps per-object costs (a PUT, an
  // fsync) small against the bytes.
  size_t min_size = 256 << 10;
  size_t avg_size = 1 << 20;  // rounded down to a power of two: the cut mask has log2 bits
  size_t max_size = 4 << 20;
};

// Positions i (sorted) where the gear hash of data[i-63..i] has the cut mask's bits clear: the
// places a chunk may end (after byte i). Scanned in parallel blocks.
std::vector<size_t> CutCandidates(const uint8_t* data, size_t size, size_t avg_size);

// Cut points of `data`: the end offset of each chunk, the last one == size (none for size 0).
std::vector<size_t> ChunkEnds(const uint8_t* data, size_t size, const ChunkParams& params = {});

}  // namespace cairn::registry
