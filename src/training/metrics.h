// Private to training: SageMaker metric definitions applied to log lines. The first capture group
// of a definition's regex (ECMAScript syntax, searched anywhere in the line) is the value.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "cairn/training/job.h"

namespace cairn::training {

class MetricParser {
 public:
  // Fails with a clear message on a regex that does not compile or has no capture group.
  static Result<MetricParser> Create(const std::vector<MetricDefinition>& defs);
  // Appends the metrics found in one line.
  void Parse(const std::string& line, int64_t now_ms, std::vector<MetricPoint>* out) const;

 private:
  std::vector<std::pair<std::string, std::regex>> defs_;
};

}  // namespace cairn::training
