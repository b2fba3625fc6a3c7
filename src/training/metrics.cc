#include "metrics.h"

#include <cstdlib>

namespace cairn::training {

Result<MetricParser> MetricParser::Create(const std::vector<MetricDefinition>& defs) {
  MetricParser p;
  for (const auto& d : defs) {
    if (d.name.empty()) return Status::InvalidArgument("a metric definition has no name");
    try {
      std::regex re(d.regex, std::regex::ECMAScript);
      if (re.mark_count() < 1) {
        return Status::InvalidArgument("metric " + d.name + ": regex '" + d.regex +
                                       "' has no capture group for the value");
      }
      p.defs_.emplace_back(d.name, std::move(re));
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("metric " + d.name + ": bad regex '" + d.regex +
                                     "': " + e.what());
    }
  }
  return p;
}

void MetricParser::Parse(const std::string& line, int64_t now_ms,
                         std::vector<MetricPoint>* out) const {
  for (const auto& [name, re] : defs_) {
    std::smatch m;
    if (!std::regex_search(line, m, re) || !m[1].matched) continue;
    const std::string text = m[1].str();
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) continue;  // not a number
    out->push_back(MetricPoint{name, v, now_ms});
  }
}

}  // namespace cairn::training
