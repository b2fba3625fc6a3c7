// Private to the formats layer: the subset of ZIP that torch.save writes (stored records, 64-byte
// aligned payloads, ZIP64 past 4 GiB).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/core/status.h"

namespace cairn::zip {

struct Entry {
  std::string name;
  uint64_t data_offset = 0;  // where the payload starts in the file
  uint64_t size = 0;
  uint32_t crc32 = 0;
  bool compressed = false;  // stored (method 0) or not
};

// Reads the central directory of a mapped zip. Every offset and size is checked against the
// file before it is used. Compressed records are listed (flagged) but never inflated here:
// callers refuse them, so no zip bomb gets through.
Result<std::vector<Entry>> ReadDirectory(const MappedFile& file);

// One record to write: its name and its payload as a list of byte runs.
struct Record {
  std::string name;
  std::vector<std::pair<const uint8_t*, size_t>> parts;
  uint64_t size() const {
    uint64_t n = 0;
    for (auto& p : parts) n += p.second;
    return n;
  }
};

// Writes records as a zip whose payloads start at multiples of 64 bytes, computing CRC-32s and
// copying payloads on several threads.
Status Write(AtomicFileWriter& out, const std::vector<Record>& records);

}  // namespace cairn::zip
