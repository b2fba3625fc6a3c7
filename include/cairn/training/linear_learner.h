// The built-in linear learner (SageMaker's `linear-learner`, in C++ on LibTorch). It runs as the
// program of a training job, under the same contract as a user's script: data from the `train`
// (and optional `validation`) channel as CSV with the label in the first column, hyperparameters
// as arguments, checkpoints every epoch in the checkpoint folder (a restarted job resumes from the
// newest), and on success model.pth with `linear.weight` and `linear.bias` (as the seed's
// SimpleModel has them, readable by torch.load) plus cairn-model.json, the architecture that
// native serving rebuilds the model from.
#pragma once

#include <string>
#include <vector>

namespace cairn {

// `args` are the job's hyperparameter arguments (--epochs 5 --learning_rate 0.1 ...); paths come
// from the SM_* environment. Returns the process exit status; SIGTERM saves the model and exits 0.
int RunLinearLearner(const std::vector<std::string>& args);

}  // namespace cairn
