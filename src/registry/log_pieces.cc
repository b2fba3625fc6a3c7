#include "cairn/registry/log_pieces.h"

#include <cstdio>
#include <cstdlib>

namespace cairn {

Status AppendLogPiece(ObjectStore& store, const std::string& prefix, const std::string& stream,
                      int64_t seq, const std::string& bytes) {
  char s[24];
  std::snprintf(s, sizeof(s), "%010lld", static_cast<long long>(seq));  // List order = seq order
  PutOptions o;
  o.sync = false;  // logs are best effort; records are what must be durable
  o.content_type = "text/plain";
  return PutString(store, prefix + stream + "/" + s, bytes, o).status();
}

Result<std::vector<LogPiece>> ReadLogPieces(ObjectStore& store, const std::string& prefix,
                                            const std::map<std::string, int64_t>& after,
                                            const std::string& stream_prefix) {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store.List(prefix + stream_prefix));
  std::vector<LogPiece> out;
  for (const auto& o : objects) {
    const std::string rest = o.key.substr(prefix.size());
    const size_t slash = rest.rfind('/');  // streams may hold '/', sequence numbers do not
    if (slash == std::string::npos || slash == 0) continue;
    LogPiece p{rest.substr(0, slash), std::atoll(rest.c_str() + slash + 1), "", o.mtime_ms};
    auto it = after.find(p.host);
    if (it != after.end() && p.seq <= it->second) continue;
    auto bytes = GetString(store, o.key);
    if (bytes.status().code() == Status::Code::kNotFound) continue;
    if (!bytes.ok()) return bytes.status();
    p.bytes = std::move(*bytes);
    out.push_back(std::move(p));
  }
  return out;  // List is sorted by key: by stream, then by seq (zero-padded)
}

}  // namespace cairn
