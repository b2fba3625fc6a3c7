#include "cairn/formats/weights.h"

#include <unordered_map>

#include "cairn/formats/pytorch.h"
#include "cairn/formats/safetensors.h"
#include "value_json.h"

namespace cairn {

std::string_view FormatName(WeightsFormat f) {
  return f == WeightsFormat::kPyTorch ? "pytorch" : "safetensors";
}

Result<WeightsFormat> FormatForPath(const std::string& path) {
  auto ends = [&](std::string_view ext) {
    return path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".safetensors")) return WeightsFormat::kSafetensors;
  for (auto ext : {".pt", ".pth", ".bin", ".ckpt", ".tar"})
    if (ends(ext)) return WeightsFormat::kPyTorch;
  return Status::InvalidArgument(path +
                                 ": cannot tell the format from the extension (use .safetensors, "
                                 ".pt, .pth, .bin or .ckpt)");
}

Result<Weights> LoadWeights(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return LoadWeights(std::move(file));
}

Result<Weights> LoadWeights(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  // A zip (torch.save since 1.6) or a bare pickle (the legacy format) is PyTorch's.
  if (LooksLikeZip(file->data(), file->size()) ||
      LooksLikeLegacyTorchSave(file->data(), file->size())) {
    auto root = ReadPyTorch(file);
    if (!root.ok()) return root.status().WithContext(path);
    return Weights{WeightsFormat::kPyTorch, std::move(root).value(), {}};
  }
  auto st = ReadSafetensors(file);
  if (!st.ok()) return st.status().WithContext(path);
  Weights w{WeightsFormat::kSafetensors, Value(), {}};
  std::string structure;
  for (auto& [k, v] : st->metadata) {
    if (k == kStructureMetadataKey) {
      structure = v;
    } else {
      w.metadata.emplace_back(k, v);
    }
  }
  if (!structure.empty()) {
    auto j = structure::Json::parse(structure, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      return Status::Corrupt(path + ": metadata " + std::string(kStructureMetadataKey) +
                             " is not JSON");
    std::unordered_map<std::string, std::shared_ptr<const Tensor>> by_name;
    for (auto& nt : st->tensors) by_name.emplace(nt.name, nt.tensor);
    auto root = structure::Decode(j, by_name);
    if (!root.ok()) return root.status().WithContext(path);
    w.root = std::move(root).value();
    if (FlattenTensors(w.root).size() != st->tensors.size()) {
      return Status::Corrupt(path + ": the checkpoint structure does not name every tensor");
    }
    return w;
  }
  w.root = Value::Dict(/*ordered=*/true);
  for (auto& nt : st->tensors)
    w.root.dict().Set(Value::String(nt.name), Value::FromTensor(nt.tensor));
  return w;
}

Status SaveWeights(const std::string& path, const Value& root,
                   const std::vector<std::pair<std::string, std::string>>& extra_metadata) {
  CAIRN_ASSIGN_OR_RETURN(WeightsFormat f, FormatForPath(path));
  if (f == WeightsFormat::kPyTorch) return WritePyTorch(path, root);
  std::vector<NamedTensor> tensors;
  CAIRN_ASSIGN_OR_RETURN(structure::Json j, structure::Encode(root, &tensors));
  std::vector<std::pair<std::string, std::string>> metadata = {{"format", "pt"}};
  for (const auto& kv : extra_metadata)
    if (kv.first != "format" && kv.first != kStructureMetadataKey) metadata.push_back(kv);
  metadata.emplace_back(std::string(kStructureMetadataKey),
                        j.dump(-1, ' ', false, structure::Json::error_handler_t::replace));
  return WriteSafetensors(path, tensors, metadata);
}

}  // namespace cairn
