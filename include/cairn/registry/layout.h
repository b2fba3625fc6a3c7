// Where everything lives in a cairn store: the one module that builds store keys, for the
// registry, training jobs and cairn server's records alike (docs/registry.md describes the
// layout). Pure functions; a "Prefix" ends in '/', a "Key" names one object.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace cairn::layout {

// A sequence number as 12 digits, so that keys list in numeric order.
inline std::string Seq(int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%012lld", static_cast<long long>(n));
  return buf;
}
// The number in ".../000000000042.json"; -1 if the key is not shaped so.
inline int64_t SeqOf(const std::string& key) {
  size_t slash = key.find_last_of('/');
  std::string name = key.substr(slash == std::string::npos ? 0 : slash + 1);
  if (name.size() != 17 || name.compare(12, 5, ".json") != 0) return -1;
  int64_t n = 0;
  for (int i = 0; i < 12; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}
// The first path segment of `key` after `prefix` ("a/b/c", "a/" -> "b"); nullopt when `key` does
// not start with `prefix` or nothing follows it.
inline std::optional<std::string> SegmentAfter(const std::string& key, const std::string& prefix) {
  if (key.compare(0, prefix.size(), prefix) != 0 || key.size() == prefix.size())
    return std::nullopt;
  const size_t end = key.find('/', prefix.size());
  return key.substr(prefix.size(),
                    end == std::string::npos ? std::string::npos : end - prefix.size());
}
// "<prefix><name>.json" -> name; nullopt for other keys.
inline std::optional<std::string> JsonNameAfter(const std::string& key, const std::string& prefix) {
  if (key.size() <= prefix.size() + 5 || key.compare(0, prefix.size(), prefix) != 0 ||
      key.compare(key.size() - 5, 5, ".json") != 0)
    return std::nullopt;
  std::string name = key.substr(prefix.size(), key.size() - prefix.size() - 5);
  if (name.find('/') != std::string::npos) return std::nullopt;
  return name;
}

// The registry: groups, versions, aliases, approvals, chunks, locks.
inline std::string GroupsPrefix() { return "registry/groups/"; }
inline std::string GroupPrefix(const std::string& g) { return GroupsPrefix() + g + "/"; }
inline std::string VersionsPrefix(const std::string& g) { return GroupPrefix(g) + "versions/"; }
inline std::string VersionKey(const std::string& g, int64_t v) {
  return VersionsPrefix(g) + Seq(v) + ".json";
}
inline std::string AliasesPrefix(const std::string& g) { return GroupPrefix(g) + "aliases/"; }
inline std::string AliasPrefix(const std::string& g, const std::string& a) {
  return AliasesPrefix(g) + a + "/";
}
inline std::string ApprovalPrefix(const std::string& g, int64_t v) {
  return GroupPrefix(g) + "approvals/" + Seq(v) + "/";
}
// The version index (registry/listing.cc): page p holds the manifests of versions
// p*kIndexPageSize+1 .. (p+1)*kIndexPageSize, written once (create-if-absent) when all exist.
constexpr int64_t kIndexPageSize = 100;
inline std::string IndexPrefix(const std::string& g) { return GroupPrefix(g) + "index/"; }
inline std::string IndexPageKey(const std::string& g, int64_t page) {
  return IndexPrefix(g) + Seq(page) + ".json";
}
inline std::string ChunksPrefix() { return "chunks/sha256/"; }
inline std::string ChunkKey(const std::string& sha256) {
  return ChunksPrefix() + sha256.substr(0, 2) + "/" + sha256;
}
inline std::string LocksPrefix() { return "registry/locks/"; }
// `kind` is "shared" or "exclusive"; `id` is unique to the holder.
inline std::string LockKey(const std::string& kind, const std::string& id) {
  return LocksPrefix() + kind + "-" + id + ".json";
}

// Training jobs (cairn train, CreateTrainingJob): records, logs, stop requests.
inline std::string JobsPrefix() { return "training/jobs/"; }
inline std::string JobKey(const std::string& job) { return JobsPrefix() + job + ".json"; }
inline std::string JobLogsPrefix(const std::string& job) { return "training/logs/" + job + "/"; }
inline std::string JobStopKey(const std::string& job) { return "training/stop/" + job; }
// A job run by a cluster scheduler: what the submitter stages for the nodes (code, local channels)
// and what the nodes hand back (algo-1's model and output data, each host's result).
inline std::string JobInputsPrefix(const std::string& job) {
  return "training/inputs/" + job + "/";
}
inline std::string JobOutputsPrefix(const std::string& job) {
  return "training/outputs/" + job + "/";
}

// Endpoints' logs (cairn server): log pieces of each instance, stream "<variant>/<instance>".
inline std::string EndpointLogsPrefix(const std::string& endpoint) {
  return "serving/logs/" + endpoint + "/";
}

// cairn server's SageMaker resources: one JSON record each, under api/<kind>/<name>.json, where
// kind is "models", "endpoint-configs", "endpoints" or "model-package-groups".
inline std::string ResourcesPrefix(const std::string& kind) { return "api/" + kind + "/"; }
inline std::string ResourceKey(const std::string& kind, const std::string& name) {
  return ResourcesPrefix(kind) + name + ".json";
}

// Transform jobs (cairn server): their logs, as log pieces of each instance.
inline std::string TransformLogsPrefix(const std::string& job) {
  return "transform/logs/" + job + "/";
}

// Endpoint metrics (namespace AWS/SageMaker), one object per variant, minute and server:
// <prefix><variant>/<minute ms>-<server>.json; each variant named by <prefix>_variants/<variant>.
inline std::string EndpointMetricsRoot() { return "api/metrics/AWS/SageMaker/"; }
inline std::string EndpointMetricsPrefix(const std::string& endpoint) {
  return EndpointMetricsRoot() + endpoint + "/";
}

// The tags of a resource, by its ARN ("arn:aws:sagemaker:<region>:<account>:<kind>/<name>").
// Who runs a running job or an endpoint when several cairn servers share the store (leases.h).
inline std::string LeaseKey(const std::string& kind, const std::string& name) {
  return "api/leases/" + kind + "/" + name + ".json";
}
inline std::string TagsKey(const std::string& arn) { return "api/tags/" + arn + ".json"; }

}  // namespace cairn::layout
