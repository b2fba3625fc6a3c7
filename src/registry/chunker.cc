#include "chunker.h"

#include <algorithm>
#include <array>
#include <bit>

#include "cairn/core/parallel.h"

namespace cairn::registry {
namespace {

// 256 pseudo-random 64-bit values (splitmix64 of the index): the gear table.
constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> g{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    g[i] = z ^ (z >> 31);
  }
  return g;
}
constexpr auto kGear = MakeGear();

// A mask with `bits` one-bits spread over the high half (FastCDC's normalized masks).
constexpr uint64_t Mask(int bits) {
  uint64_t m = 0;
  for (int i = 0; i < bits; ++i) m |= uint64_t{1} << (63 - 2 * i);
  return m;
}

// The gear hash at position i, h_i = (h_{i-1} << 1) + gear[data[i]], depends only on the 64
// bytes data[i-63..i]: older bytes are shifted out. So whether i is a candidate cut
// ((h_i & mask) == 0) is a property of the position alone, which lets blocks of the input be
// scanned independently (each warmed over the 63 bytes before it) and in parallel.
constexpr size_t kLaneBytes = 4 << 20;
constexpr size_t kLanes = 4;  // independent hash chains per loop: hides the chain's latency

uint64_t Warm(const uint8_t* data, size_t at) {
  uint64_t h = 0;
  for (size_t i = at >= 63 ? at - 63 : 0; i < at; ++i) h = (h << 1) + kGear[data[i]];
  return h;
}

void ScanOne(const uint8_t* data, size_t from, size_t to, uint64_t mask, std::vector<size_t>* out) {
  uint64_t h = Warm(data, from);
  for (size_t i = from; i < to; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask) == 0) out->push_back(i);
  }
}

// Rolls four hash chains, kLaneBytes apart, from offset i until one of them is at a candidate or
// the lanes end; returns that offset. No calls inside, so the chains stay in registers.
[[gnu::noinline]] size_t RollUntilCandidate(const uint8_t* p, size_t i, uint64_t mask,
                                            std::array<uint64_t, 4>& h) {
  uint64_t h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3];
  for (; i < kLaneBytes; ++i) {
    h0 = (h0 << 1) + kGear[p[i]];
    h1 = (h1 << 1) + kGear[p[i + kLaneBytes]];
    h2 = (h2 << 1) + kGear[p[i + 2 * kLaneBytes]];
    h3 = (h3 << 1) + kGear[p[i + 3 * kLaneBytes]];
    if (((h0 & mask) == 0) | ((h1 & mask) == 0) | ((h2 & mask) == 0) | ((h3 & mask) == 0)) break;
  }
  h = {h0, h1, h2, h3};
  return i;
}

// kLanes (4) lanes of kLaneBytes each, starting at `from`, as four independent hash chains in one
// loop, so the CPU overlaps their latencies.
void ScanLanes(const uint8_t* data, size_t from, uint64_t mask, std::vector<size_t>* out) {
  static_assert(kLanes == 4);
  std::array<uint64_t, kLanes> h;
  for (size_t l = 0; l < kLanes; ++l) h[l] = Warm(data, from + l * kLaneBytes);
  std::array<std::vector<size_t>, kLanes> found;
  for (size_t i = 0;; ++i) {
    i = RollUntilCandidate(data + from, i, mask, h);
    if (i == kLaneBytes) break;
    for (size_t l = 0; l < kLanes; ++l)
      if ((h[l] & mask) == 0) found[l].push_back(from + l * kLaneBytes + i);
  }
  for (auto& f : found) out->insert(out->end(), f.begin(), f.end());
}

}  // namespace

std::vector<size_t> CutCandidates(const uint8_t* data, size_t size, size_t avg_size) {
  const uint64_t mask = Mask(std::bit_width(avg_size) - 1);
  constexpr size_t kTask = kLanes * kLaneBytes;
  const size_t tasks = (size + kTask - 1) / kTask;
  std::vector<std::vector<size_t>> found(tasks);
  (void)ParallelFor(tasks, [&](size_t t) {
    const size_t from = t * kTask, to = std::min(size, from + kTask);
    if (to - from == kTask) {
      ScanLanes(data, from, mask, &found[t]);
    } else {
      ScanOne(data, from, to, mask, &found[t]);
    }
    return Status::OK();
  });
  std::vector<size_t> all;
  for (auto& f : found) all.insert(all.end(), f.begin(), f.end());
  return all;
}

std::vector<size_t> ChunkEnds(const uint8_t* data, size_t size, const ChunkParams& p) {
  // One mask for every position (no FastCDC "normalization"): whether a byte ends a chunk then
  // depends only on the 64 bytes before it, so after an edit the cuts fall back onto the old
  // ones at the first old cut past the minimum size. Normalized masks depend on the distance
  // from the chunk start and measured far worse here (a 1 MiB edit rewrote 7.5 of 16 MiB).
  // A chunk ends after the first candidate at least min_size into it, or at max_size.
  const std::vector<size_t> candidates = CutCandidates(data, size, p.avg_size);
  std::vector<size_t> ends;
  size_t start = 0, next = 0;
  while (start < size) {
    const size_t remaining = size - start;
    if (remaining <= p.min_size) {
      ends.push_back(size);
      break;
    }
    const size_t limit = start + std::min(remaining, p.max_size);
    while (next < candidates.size() && candidates[next] < start + p.min_size) ++next;
    start = next < candidates.size() && candidates[next] < limit ? candidates[next] + 1 : limit;
    ends.push_back(start);
  }
  return ends;
}

}  // namespace cairn::registry
