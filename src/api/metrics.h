// Private to api: SageMaker's endpoint metrics as CloudWatch keeps them (namespace AWS/SageMaker,
// dimensions EndpointName and VariantName), per variant:
//   Invocations          1 per InvokeEndpoint (Sum: requests)
//   Invocation4XXErrors  1 or 0 per request (the model answered 4xx; Average: the error rate)
//   Invocation5XXErrors  1 or 0 per request (the model answered 5xx, or did not answer)
//   ModelLatency         microseconds the model took, as cairn server saw it
//   OverheadLatency      microseconds cairn server added (the whole request less ModelLatency)
// (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
//
// Samples are summed into 10-second buckets (count, sum, min, max: CloudWatch's five statistics
// follow) and written to the store every few seconds, one object per endpoint, variant, minute
// and server: api/metrics/AWS/SageMaker/<endpoint>/<variant>/<minute ms>-<server>.json. Reads
// merge every server's objects, so any server answers for all of them. A read lists only the
// keys of the minutes it asks for (a few key prefixes, EndpointMetrics::MinuteKeyPrefixes), and
// each server deletes every minute older than the retention (15 days by default: CloudWatch
// keeps 1-minute data points that long; it keeps coarser ones longer, cairn none) once an hour.
// Each variant that has metrics is named by an empty object <endpoint>/_variants/<variant>
// (VariantName's pattern, checked at CreateEndpointConfig, has no '_'), so that a read of every
// variant lists a few keys of each.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/core/thread_pool.h"
#include "cairn/storage/object_store.h"

namespace cairn::api {

// Statistics of the samples in one bucket or period. Latencies also keep a histogram of
// logarithmic bins (each kBinRatio wide: percentiles within 2%), for CloudWatch's extended
// statistics (p50, p99, p99.9: "pNN" or "pNN.N").
struct MetricStat {
  static constexpr double kBinRatio = 1.04;
  int64_t n = 0;  // SampleCount
  double sum = 0, min = 0, max = 0;
  std::map<int32_t, int64_t> bins;  // bin -> samples; bin b holds (kBinRatio^(b-1), kBinRatio^b]
  void Add(double v, bool histogram = false);
  void Merge(const MetricStat& o);
  // "Average", "Sum", "Minimum", "Maximum", "SampleCount", or a percentile "pNN[.N]" (from the
  // histogram; nullopt when these samples kept none); nullopt for anything else.
  std::optional<double> Get(const std::string& statistic) const;
  // The percentile (0.1 <= p <= 100) of the samples added with a histogram: the middle of the
  // bin holding the sample of rank ceil(p% of n), within 2%; nullopt when no sample was.
  std::optional<double> Percentile(double p) const;
  // Whether `statistic` names a percentile: p<digits>[.<one or two digits>], p0.1 .. p100.
  static bool IsPercentile(const std::string& statistic);
};

class EndpointMetrics {
 public:
  static constexpr int64_t kBucketMs = 10'000;
  static constexpr int64_t kMaxPeriodSeconds = 366 * 86400;  // a longer period is refused
  static constexpr const char* kNamespace = "AWS/SageMaker";
  static constexpr int64_t kDefaultRetentionDays = 15;
  // `server` names this writer's objects (unique per server process). Minutes older than
  // `retention_days` are deleted (0: kept for ever).
  EndpointMetrics(ObjectStore& store, std::string server,
                  int64_t retention_days = kDefaultRetentionDays);
  // Writes what is left and stops the writer thread.
  ~EndpointMetrics();

  // One InvokeEndpoint answered: `model_status` is the model's HTTP status (0: it did not
  // answer), latencies in microseconds.
  void Record(const std::string& endpoint, const std::string& variant, int model_status,
              double model_us, double overhead_us);
  // Writes the buckets changed since the last flush (the writer thread does so every 2 s).
  Status Flush();

  // The series `metric` of endpoint/variant ("" variant: every variant) from `start_ms` to
  // `end_ms`, grouped into periods of `period_s` seconds (a multiple of 10) from `start_ms`:
  // period start (ms) -> statistics. Reads the store (what this server has not flushed yet
  // included). kInvalidArgument for a bad period.
  Result<std::map<int64_t, MetricStat>> Query(const std::string& endpoint,
                                              const std::string& variant, const std::string& metric,
                                              int64_t start_ms, int64_t end_ms, int64_t period_s);

  // Counters since this server started, in Prometheus' text format (for cairn server's /metrics).
  std::string Prometheus();

  // Deletes the minutes (of every endpoint and server) that ended before `before_ms`, at most
  // `max_deletes`; the number deleted. Also names the variants whose minutes have no name yet
  // (written by an older cairn). The writer thread calls it once an hour with now less the
  // retention (every minute while a pass reaches its limit).
  Result<int64_t> Prune(int64_t before_ms, int64_t max_deletes = INT64_MAX);

  // Decimal key prefixes whose keys cover every minute stamp from `lo_ms` to `hi_ms` (13-digit
  // milliseconds, both included): at most 4, each a run of leading digits, so that a listing of
  // each reads the keys of about those minutes only (a few times more at worst). {""} (list
  // everything) when the two differ in their number of digits; {} when hi_ms < lo_ms.
  static std::vector<std::string> MinuteKeyPrefixes(int64_t lo_ms, int64_t hi_ms);

  static bool IsMetric(const std::string& name);

 private:
  using Key = std::tuple<std::string, std::string, int64_t>;  // endpoint, variant, minute ms
  // metric -> bucket ms -> stat
  using Minute = std::map<std::string, std::map<int64_t, MetricStat>>;
  ObjectStore& store_;
  const std::string server_;
  std::mutex flush_mu_;  // one Flush at a time, so snapshots of a minute land in order
  std::mutex mu_;
  std::map<Key, Minute> minutes_;  // recent minutes of this server
  std::map<Key, bool> dirty_;
  std::set<std::pair<std::string, std::string>> named_;  // variants whose _variants/ key is written
  const int64_t retention_ms_;
  int64_t next_prune_ms_ = 0;  // the writer thread's
  struct Totals {
    int64_t invocations = 0, e4xx = 0, e5xx = 0;
    double model_us = 0, overhead_us = 0;
  };
  std::map<std::pair<std::string, std::string>, Totals> totals_;
  std::unique_ptr<Periodic> writer_;  // flushes every 2 s; last member: stops first
};

}  // namespace cairn::api
