// safetensors: an 8-byte header length, a JSON header, then a flat buffer of tensors.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/formats/value.h"

namespace cairn {

struct SafetensorsContents {
  std::vector<NamedTensor> tensors;  // in buffer order; each borrows from the mapped file
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, in header order
};

// Maps the file and validates it by the format's rules before handing anything out: header at
// most 100 MB of JSON, known dtypes, shapes whose byte size matches their offsets, offsets that
// cover the buffer exactly with no hole or overlap, no duplicate names, __metadata__ of strings.
Result<SafetensorsContents> ReadSafetensors(const std::string& path);
Result<SafetensorsContents> ReadSafetensors(std::shared_ptr<const MappedFile> file);

// Writes tensors (any strides; written contiguous) with every tensor naturally aligned: tensors
// are ordered by descending element size, keeping the given order among equals, and the header
// is padded with spaces to a multiple of 8. Names must be unique.
Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::vector<std::pair<std::string, std::string>>& metadata);

inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

}  // namespace cairn
