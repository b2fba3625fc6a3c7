// cairn-algorithm ALGORITHM ARGS...: cairn's built-in algorithms, run by `cairn train
// --algorithm` as a job's program (under the same contract as a user's script). A program of its
// own so that the cairn command itself never loads LibTorch (about a second of start-up).
#include <cstdio>
#include <string>
#include <vector>

#include "cairn/training/linear_learner.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cairn-algorithm linear-learner [--hyperparameter value]...\n");
    return 2;
  }
  const std::string algorithm = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (algorithm == "linear-learner") return cairn::RunLinearLearner(args);
  std::fprintf(stderr, "cairn-algorithm: no built-in algorithm '%s' (there is: linear-learner)\n",
               algorithm.c_str());
  return 2;
}
