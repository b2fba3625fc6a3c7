#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "cairn/formats/pytorch.h"
#include "pickle.h"
#include "zip.h"

namespace cairn {
// The legacy (pre-1.6) format starts with a pickled magic number 0x1950a86a20f9469cfc6c.
bool LooksLikeLegacyTorchSave(const uint8_t* d, size_t n) {
  static const uint8_t kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                   0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return n >= sizeof(kMagic) && std::memcmp(d, kMagic, sizeof(kMagic)) == 0;
}

bool LooksLikeZip(const uint8_t* data, size_t size) {
  return size >= 4 && std::memcmp(data, "PK\x03\x04", 4) == 0;
}

Result<Value> ReadPyTorch(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  auto r = ReadPyTorch(std::move(file));
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Result<Value> ReadPyTorch(std::shared_ptr<const MappedFile> file) {
  const uint8_t* d = file->data();
  const size_t n = file->size();
  if (LooksLikeLegacyTorchSave(d, n)) {
    return Status::Unsupported(
        "this file uses the legacy torch.save format of PyTorch before 1.6; convert it with "
        "python3 -c \"import torch,sys; torch.save(torch.load(sys.argv[1]), sys.argv[2])\" IN OUT");
  }
  if (!LooksLikeZip(d, n)) return Status::Corrupt("not a torch.save file (no zip header)");
  CAIRN_ASSIGN_OR_RETURN(auto entries, zip::ReadDirectory(*file));
  if (entries.empty()) return Status::Corrupt("empty zip archive");
  // All records live under one folder, named after the first record's.
  const std::string& first = entries[0].name;
  const size_t slash = first.find('/');
  if (slash == std::string::npos)
    return Status::Corrupt("zip record '" + first + "' has no folder");
  const std::string prefix = first.substr(0, slash + 1);
  std::unordered_map<std::string, const zip::Entry*> by_name;
  const zip::Entry* compressed = nullptr;
  for (const auto& e : entries) {
    if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
    by_name.emplace(e.name.substr(prefix.size()), &e);
    if (e.compressed && compressed == nullptr) compressed = &e;
  }
  if (by_name.count("constants.pkl")) {
    return Status::Unsupported(
        "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; load it "
        "with torch.jit.load / torch::jit::load");
  }
  if (compressed != nullptr) {
    return Status::Unsupported("zip record " + compressed->name +
                               " is compressed; torch.save stores every record uncompressed "
                               "(was this file re-zipped?)");
  }
  if (auto it = by_name.find("byteorder"); it != by_name.end()) {
    std::string order(reinterpret_cast<const char*>(d + it->second->data_offset),
                      std::min<uint64_t>(it->second->size, 16));
    if (order != "little") return Status::Unsupported("big-endian checkpoints are not supported");
  }
  auto pkl = by_name.find("data.pkl");
  if (pkl == by_name.end()) return Status::Corrupt("no data.pkl record in the archive");

  std::unordered_map<std::string, std::shared_ptr<const Storage>> storages;
  auto load = [&](DType dtype, const std::string& key,
                  int64_t numel) -> Result<std::shared_ptr<const Storage>> {
    if (auto it = storages.find(key); it != storages.end()) {
      if (it->second->dtype != dtype) {
        return Status::Corrupt("storage " + key + " is used with two different dtypes");
      }
      return it->second;
    }
    auto rec = by_name.find("data/" + key);
    if (rec == by_name.end()) return Status::Corrupt("storage record data/" + key + " is missing");
    const uint64_t es = DTypeSize(dtype);
    if (numel < 0 || static_cast<uint64_t>(numel) > rec->second->size / es) {
      return Status::Corrupt("storage " + key + " claims " + std::to_string(numel) +
                             " elements but its record holds " + std::to_string(rec->second->size) +
                             " bytes");
    }
    auto s = Storage::Borrowed(dtype, d + rec->second->data_offset, numel * es, file);
    storages.emplace(key, s);
    return s;
  };
  return pickle::Unpickle(d + pkl->second->data_offset, pkl->second->size, load);
}

}  // namespace cairn
