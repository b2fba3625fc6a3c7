// Private to the registry: where things live in the store (see docs/registry.md).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace cairn::registry {

inline std::string Seq(int64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%012lld", static_cast<long long>(n));
  return buf;
}
inline std::string GroupPrefix(const std::string& g) { return "registry/groups/" + g + "/"; }
inline std::string VersionsPrefix(const std::string& g) { return GroupPrefix(g) + "versions/"; }
inline std::string VersionKey(const std::string& g, int64_t v) {
  return VersionsPrefix(g) + Seq(v) + ".json";
}
inline std::string AliasPrefix(const std::string& g, const std::string& a) {
  return GroupPrefix(g) + "aliases/" + a + "/";
}
inline std::string ApprovalPrefix(const std::string& g, int64_t v) {
  return GroupPrefix(g) + "approvals/" + Seq(v) + "/";
}
inline std::string ChunkKey(const std::string& sha256) {
  return "chunks/sha256/" + sha256.substr(0, 2) + "/" + sha256;
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

}  // namespace cairn::registry
