#include "metrics.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cairn/core/clock.h"
#include "cairn/registry/layout.h"

namespace cairn::api {

namespace {

using Json = nlohmann::json;

constexpr int64_t kMinuteMs = 60'000;
constexpr int kFlushEverySeconds = 2;
constexpr int64_t kPruneEveryMs = 3'600'000;
constexpr int64_t kMaxDeletesPerPass = 2'000;
constexpr const char* kVariantsDir = "_variants/";  // <endpoint>/_variants/<variant>
constexpr const char* kMetrics[] = {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors",
                                    "ModelLatency", "OverheadLatency"};

int64_t Floor(int64_t t, int64_t step) { return t - ((t % step) + step) % step; }

// The empty object that names a variant with metrics.
std::string VariantNameKey(const std::string& endpoint, const std::string& variant) {
  return layout::EndpointMetricsPrefix(endpoint) + kVariantsDir + variant;
}

// "<minute ms>-<server>.json" -> minute ms, or -1 (a variant's name under _variants/, another
// object).
int64_t MinuteOf(const std::string& key) {
  const size_t slash = key.rfind('/');
  const std::string name = key.substr(slash == std::string::npos ? 0 : slash + 1);
  const size_t dash = name.find('-');
  if (dash == 0 || dash == std::string::npos || dash > 18 ||
      name.find_first_not_of("0123456789") != dash || name.size() < 5 ||
      name.compare(name.size() - 5, 5, ".json") != 0 ||
      key.find(std::string("/") + kVariantsDir) != std::string::npos)
    return -1;
  return std::atoll(name.c_str());
}

}  // namespace

void MetricStat::Add(double v, bool histogram) {
  min = n ? std::min(min, v) : v;
  max = n ? std::max(max, v) : v;
  sum += v;
  ++n;
  if (histogram) {
    const double b = v > 1 ? std::ceil(std::log(v) / std::log(kBinRatio)) : 0;
    ++bins[static_cast<int32_t>(std::min(b, 2000.0))];
  }
}

void MetricStat::Merge(const MetricStat& o) {
  if (!o.n) return;
  min = n ? std::min(min, o.min) : o.min;
  max = n ? std::max(max, o.max) : o.max;
  sum += o.sum;
  n += o.n;
  for (const auto& [b, k] : o.bins) bins[b] += k;
}

bool MetricStat::IsPercentile(const std::string& s) {
  // p<digits>[.<digits>], from p0.1 to p100 (CloudWatch's range for extended statistics)
  if (s.size() < 2 || s.size() > 8 || s[0] != 'p') return false;
  size_t dots = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '.') {  // at most two decimals, as CloudWatch's pNN.NN
      if (++dots > 1 || i == 1 || i + 1 == s.size() || s.size() - i - 1 > 2) return false;
    } else if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  const double p = std::strtod(s.c_str() + 1, nullptr);
  return p >= 0.1 && p <= 100;
}

std::optional<double> MetricStat::Percentile(double p) const {
  int64_t total = 0;
  for (const auto& [b, k] : bins) total += k;
  if (total == 0) return std::nullopt;
  // The smallest rank r with r >= p% of the samples (in integers: no rounding of p / 100).
  // p has at most two decimals (IsPercentile): in hundredths it is an exact integer.
  const auto scaled = static_cast<__int128>(std::llround(p * 100));
  const auto rank = static_cast<int64_t>(std::max<__int128>(1, (scaled * total + 9'999) / 10'000));
  const double lo = std::min(min, max), hi = std::max(min, max);
  int64_t seen = 0;
  for (const auto& [b, k] : bins) {
    seen += k;
    if (seen >= rank)  // the bin's geometric middle (within 2%), within the samples' range
      return std::clamp(std::pow(kBinRatio, b - 0.5), lo, hi);
  }
  return hi;
}

std::optional<double> MetricStat::Get(const std::string& statistic) const {
  if (statistic == "Average") return n ? sum / static_cast<double>(n) : 0.0;
  if (statistic == "Sum") return sum;
  if (statistic == "Minimum") return min;
  if (statistic == "Maximum") return max;
  if (statistic == "SampleCount") return static_cast<double>(n);
  if (IsPercentile(statistic)) return Percentile(std::strtod(statistic.c_str() + 1, nullptr));
  return std::nullopt;
}

bool EndpointMetrics::IsMetric(const std::string& name) {
  return std::find(std::begin(kMetrics), std::end(kMetrics), name) != std::end(kMetrics);
}

EndpointMetrics::EndpointMetrics(ObjectStore& store, std::string server, int64_t retention_days)
    : store_(store),
      server_(std::move(server)),
      retention_ms_(std::max<int64_t>(retention_days, 0) * 86'400'000) {
  writer_ = std::make_unique<Periodic>(std::chrono::seconds(kFlushEverySeconds), [this] {
    if (Status st = Flush(); !st.ok())
      std::fprintf(stderr, "cairn server: endpoint metrics not written: %s\n",
                   st.ToString().c_str());
    const int64_t now = NowMs();
    if (retention_ms_ > 0 && now >= next_prune_ms_) {
      // A bounded pass (flushes wait for it); another soon while there is more to delete.
      auto pruned = Prune(now - retention_ms_, kMaxDeletesPerPass);
      const bool more = pruned.ok() && *pruned == kMaxDeletesPerPass;
      next_prune_ms_ = now + (more ? kMinuteMs : kPruneEveryMs);
      if (!pruned.ok())
        std::fprintf(stderr, "cairn server: old endpoint metrics not deleted: %s\n",
                     pruned.status().ToString().c_str());
    }
  });
}

std::vector<std::string> EndpointMetrics::MinuteKeyPrefixes(int64_t lo_ms, int64_t hi_ms) {
  lo_ms = std::max<int64_t>(lo_ms, 0);
  if (hi_ms < lo_ms) return {};
  const std::string lo = std::to_string(lo_ms), hi = std::to_string(hi_ms);
  if (lo.size() != hi.size()) return {""};
  // The finest power of ten g at which [lo, hi] spans at most 4 values of t / g: every t of as
  // many digits with the same t / g starts with those digits.
  int64_t g = 1;
  for (size_t k = 0; k < lo.size(); ++k) {
    const int64_t first = lo_ms / g, last = hi_ms / g;
    if (last - first < 4) {
      std::vector<std::string> out;
      for (int64_t q = first; q <= last; ++q) out.push_back(std::to_string(q));
      return out;
    }
    if (k + 1 == lo.size() || g > INT64_MAX / 10) break;
    g *= 10;
  }
  return {""};
}

Result<int64_t> EndpointMetrics::Prune(int64_t before_ms, int64_t max_deletes) {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_.List(layout::EndpointMetricsRoot()));
  // "<endpoint>/<variant>/..." of each key: the variants named, and those holding minutes.
  std::set<std::pair<std::string, std::string>> named, seen;
  const size_t root = layout::EndpointMetricsRoot().size();
  for (const auto& o : objects) {
    const size_t a = o.key.find('/', root);
    const size_t b = a == std::string::npos ? a : o.key.find('/', a + 1);
    if (b == std::string::npos) continue;
    const std::string endpoint = o.key.substr(root, a - root), dir = o.key.substr(a + 1, b - a);
    if (dir == kVariantsDir)
      named.insert({endpoint, o.key.substr(b + 1)});
    else if (MinuteOf(o.key) >= 0)
      seen.insert({endpoint, dir.substr(0, dir.size() - 1)});
  }
  // Variants whose minutes were written without their name (by a cairn before names were kept):
  // named now, so that reads of every variant see them.
  PutOptions o;
  o.sync = false;
  for (const auto& [endpoint, variant] : seen)
    if (!named.count({endpoint, variant}))
      CAIRN_RETURN_IF_ERROR(PutString(store_, VariantNameKey(endpoint, variant), "", o).status());
  int64_t deleted = 0;
  for (const auto& obj : objects) {
    const int64_t minute = MinuteOf(obj.key);
    if (minute < 0 || minute + kMinuteMs > before_ms) continue;
    if (deleted >= max_deletes) break;
    CAIRN_RETURN_IF_ERROR(store_.Delete(obj.key));
    ++deleted;
  }
  return deleted;
}

EndpointMetrics::~EndpointMetrics() {
  writer_.reset();
  (void)Flush();
}

void EndpointMetrics::Record(const std::string& endpoint, const std::string& variant,
                             int model_status, double model_us, double overhead_us) {
  const int64_t now = NowMs();
  const int64_t bucket = Floor(now, kBucketMs);
  const bool e4 = model_status >= 400 && model_status < 500;
  const bool e5 = model_status >= 500 || model_status == 0;
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{endpoint, variant, Floor(now, kMinuteMs)};
  Minute& m = minutes_[key];
  m["Invocations"][bucket].Add(1);
  m["Invocation4XXErrors"][bucket].Add(e4 ? 1 : 0);
  m["Invocation5XXErrors"][bucket].Add(e5 ? 1 : 0);
  if (model_status != 0) m["ModelLatency"][bucket].Add(model_us, true);
  m["OverheadLatency"][bucket].Add(overhead_us, true);
  dirty_[key] = true;
  Totals& t = totals_[{endpoint, variant}];
  ++t.invocations;
  t.e4xx += e4;
  t.e5xx += e5;
  t.model_us += model_us;
  t.overhead_us += overhead_us;
}

Status EndpointMetrics::Flush() {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  std::vector<std::pair<Key, Json>> writes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, dirty] : dirty_) {
      if (!dirty) continue;
      Json j = Json::object();
      for (const auto& [metric, buckets] : minutes_[key])
        for (const auto& [b, s] : buckets) {
          Json v = Json::array({s.n, s.sum, s.min, s.max});
          if (!s.bins.empty()) {  // a fifth element: the histogram, bin -> samples
            Json h = Json::object();
            for (const auto& [bin, k] : s.bins) h[std::to_string(bin)] = k;
            v.push_back(std::move(h));
          }
          j[metric][std::to_string(b)] = std::move(v);
        }
      writes.emplace_back(key, std::move(j));
      dirty = false;
    }
  }
  Status first;
  for (const auto& [key, j] : writes) {
    const auto& [endpoint, variant, minute] = key;
    PutOptions o;
    o.sync = false;                            // metrics are best effort
    if (!named_.count({endpoint, variant})) {  // readers of every variant find this one
      Status st = PutString(store_, VariantNameKey(endpoint, variant), "", o).status();
      if (!st.ok()) {  // its minutes wait for it: never written where a reader would miss them
        std::lock_guard<std::mutex> lock(mu_);
        dirty_[key] = true;
        if (first.ok()) first = st;
        continue;
      }
      named_.insert({endpoint, variant});
    }
    o.content_type = "application/json";
    Status st = PutString(store_,
                          layout::EndpointMetricsPrefix(endpoint) + variant + "/" +
                              std::to_string(minute) + "-" + server_ + ".json",
                          j.dump(), o)
                    .status();
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      dirty_[key] = true;  // tried again at the next flush, with the samples still here
      if (first.ok()) first = st;
    }
  }
  // Minutes written and over are kept in the store only.
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t old = Floor(NowMs(), kMinuteMs) - 2 * kMinuteMs;
  for (auto it = minutes_.begin(); it != minutes_.end();) {
    if (std::get<2>(it->first) < old && !dirty_[it->first]) {
      dirty_.erase(it->first);
      it = minutes_.erase(it);
    } else {
      ++it;
    }
  }
  return first;
}

Result<std::map<int64_t, MetricStat>> EndpointMetrics::Query(const std::string& endpoint,
                                                             const std::string& variant,
                                                             const std::string& metric,
                                                             int64_t start_ms, int64_t end_ms,
                                                             int64_t period_s) {
  if (period_s <= 0 || period_s > kMaxPeriodSeconds || period_s % (kBucketMs / 1000) != 0)
    return Status::InvalidArgument("Period must be a multiple of 10 seconds, at most a year");
  (void)Flush();  // this server's latest samples are read like everyone's
  std::map<int64_t, MetricStat> out;
  if (!IsMetric(metric) || end_ms <= start_ms) return out;
  const std::string prefix = layout::EndpointMetricsPrefix(endpoint);
  std::vector<std::string> variants;
  if (!variant.empty()) {
    variants.push_back(variant);
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto named, store_.List(prefix + kVariantsDir));
    for (const auto& o : named) variants.push_back(o.key.substr(o.key.rfind('/') + 1));
  }
  // The keys of the minutes asked for; a store written before variants were named: every key.
  std::vector<ObjectInfo> objects;
  if (variants.empty()) {
    CAIRN_ASSIGN_OR_RETURN(objects, store_.List(prefix));
  } else {
    const auto stamps = MinuteKeyPrefixes(Floor(start_ms, kMinuteMs), end_ms - 1);
    for (const auto& v : variants)
      for (const auto& stamp : stamps) {
        CAIRN_ASSIGN_OR_RETURN(auto some, store_.List(prefix + v + "/" + stamp));
        objects.insert(objects.end(), some.begin(), some.end());
      }
  }
  const int64_t period_ms = period_s * 1000;
  for (const auto& o : objects) {
    const int64_t minute = MinuteOf(o.key);
    if (minute < 0 || minute + kMinuteMs <= start_ms || minute >= end_ms) continue;
    auto text = GetString(store_, o.key);
    if (text.status().code() == Status::Code::kNotFound) continue;
    CAIRN_RETURN_IF_ERROR(text.status());
    const Json j = Json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains(metric)) continue;  // damaged or empty: skipped
    for (const auto& [b, v] : j[metric].items()) {
      const int64_t t = std::atoll(b.c_str());
      if (t < start_ms || t >= end_ms || !v.is_array() || v.size() < 4 || v.size() > 5 ||
          !v[0].is_number() || !v[1].is_number() || !v[2].is_number() || !v[3].is_number())
        continue;
      MetricStat s;
      s.n = v[0].get<int64_t>();
      s.sum = v[1].get<double>();
      s.min = v[2].get<double>();
      s.max = v[3].get<double>();
      if (v.size() == 5 && v[4].is_object())
        for (const auto& [bin, k] : v[4].items())  // a damaged count is dropped
          if (k.is_number_integer() && k.get<int64_t>() > 0 && k.get<int64_t>() <= s.n)
            s.bins[std::atoi(bin.c_str())] += k.get<int64_t>();
      out[start_ms + (t - start_ms) / period_ms * period_ms].Merge(s);
    }
  }
  return out;
}

std::string EndpointMetrics::Prometheus() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto family = [&](const char* name, const char* help, const char* type, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [k, t] : totals_) {
      char num[40];
      std::snprintf(num, sizeof(num), "%.17g", static_cast<double>(value(t)));
      out += std::string(name) + "{endpoint=\"" + k.first + "\",variant=\"" + k.second + "\"} " +
             num + "\n";
    }
  };
  family("cairn_endpoint_invocations_total", "InvokeEndpoint requests answered.", "counter",
         [](const Totals& t) { return t.invocations; });
  family("cairn_endpoint_invocation_4xx_errors_total", "Requests the model answered with 4xx.",
         "counter", [](const Totals& t) { return t.e4xx; });
  family("cairn_endpoint_invocation_5xx_errors_total",
         "Requests the model answered with 5xx, or did not answer.", "counter",
         [](const Totals& t) { return t.e5xx; });
  family("cairn_endpoint_model_latency_microseconds_total", "Time the model took, summed.",
         "counter", [](const Totals& t) { return t.model_us; });
  family("cairn_endpoint_overhead_latency_microseconds_total",
         "Time cairn server added to requests, summed.", "counter",
         [](const Totals& t) { return t.overhead_us; });
  return out;
}

}  // namespace cairn::api
