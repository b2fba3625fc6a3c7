// Weight files of either format behind one interface: detect, load, save, convert, compare.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/formats/value.h"

namespace cairn {

enum class WeightsFormat { kPyTorch, kSafetensors };

std::string_view FormatName(WeightsFormat f);  // "pytorch" | "safetensors"
// By extension: .safetensors -> safetensors; .pt .pth .bin .ckpt .tar -> pytorch.
Result<WeightsFormat> FormatForPath(const std::string& path);

struct Weights {
  WeightsFormat format;
  // For PyTorch files the unpickled object. For safetensors files the checkpoint recorded in
  // the metadata by SaveWeights when there is one, else an OrderedDict of name -> tensor.
  Value root;
  // safetensors' __metadata__ minus cairn's own entries (empty for PyTorch files).
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Loads a file of either format, chosen by its contents, not its name.
Result<Weights> LoadWeights(const std::string& path);
Result<Weights> LoadWeights(std::shared_ptr<const MappedFile> file);

// Saves in the format given by the extension. For safetensors, tensors are named by their path
// (FlattenTensors) and the non-tensor rest of a checkpoint is kept as JSON under the metadata
// key "cairn.checkpoint" (plus "format": "pt" as Hugging Face tools expect), so that
// LoadWeights gives back the same tree.
Status SaveWeights(const std::string& path, const Value& root,
                   const std::vector<std::pair<std::string, std::string>>& extra_metadata = {});

inline constexpr std::string_view kStructureMetadataKey = "cairn.checkpoint";

// The differences between the tensors of two checkpoints, matched by name.
struct TensorDiff {
  enum class Kind { kAdded, kRemoved, kChanged };
  Kind kind;
  std::string name;
  // e.g. "dtype F32 -> F16", "shape [2] -> [3]", "max |a-b| = 0.5, relative L2 = 0.01"
  std::string detail;
  // For value changes (same dtype and shape), element-wise in double precision:
  double max_abs_diff = 0;       // max_i |b_i - a_i|
  double rel_l2 = 0;             // ||b - a||_2 / ||a||_2 (infinity when a is all zeros)
  bool values_compared = false;  // the two fields above hold (same dtype and shape)
};
std::vector<TensorDiff> DiffTensors(const Value& a, const Value& b);

}  // namespace cairn
