// Native serving with LibTorch, no Python in the process: TorchScript files (torch::jit::load) and
// state dicts with an architecture description (cairn-model.json, as the linear learner writes).
// Requests arriving together are run as one batch (ServeOptions::max_batch_size / delay).
// Bodies: application/json (nested lists of numbers), text/csv (rows), application/x-npy (float32,
// float64, int64 or int32, C order); answers in the first of those the Accept header names.
#pragma once

#include "cairn/serving/model.h"

namespace cairn {

Result<std::shared_ptr<LoadedModel>> LoadNativeModel(const std::string& model_dir,
                                                     const ServeOptions& options);

}  // namespace cairn
