// cairn builtin ALGORITHM ARGS...: the built-in algorithms, run as a job's program.
#include "cairn/training/linear_learner.h"
#include "commands.h"

namespace cairn::cli {

int RunBuiltin(const std::string& algorithm, const std::vector<std::string>& args) {
  if (algorithm == "linear-learner") return RunLinearLearner(args);
  return Fail(Status::InvalidArgument("no built-in algorithm '" + algorithm + "'"));
}

}  // namespace cairn::cli
