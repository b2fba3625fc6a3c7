// Log pieces: how cairn keeps a process's output in the store, for CloudWatch Logs' API and
// `cairn jobs logs`. A stream (a training host "algo-1", an endpoint instance
// "AllTraffic/i-...") is a run of pieces, each one object <prefix><stream>/<seq> holding bytes
// as the process wrote them (lines may span pieces). Pieces are numbered from 1 per stream and
// written once; the object's mtime is when the output reached the store. Keys come from
// layout.h (JobLogsPrefix, EndpointLogsPrefix).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/storage/object_store.h"

namespace cairn {

struct LogPiece {
  std::string host;  // the stream: a training host, or an endpoint's "<variant>/<instance>"
  int64_t seq = 0;   // from 1, per stream
  std::string bytes;
  int64_t at_ms = 0;  // when the piece reached the store (its object's mtime), ms since epoch
};

// Writes piece `seq` of `stream` under `prefix` (which ends in '/'). Not synced: logs are best
// effort. Errors: the store's.
Status AppendLogPiece(ObjectStore& store, const std::string& prefix, const std::string& stream,
                      int64_t seq, const std::string& bytes);

// Every piece under `prefix`, by stream name then seq, skipping those with seq <= after[stream].
// With `stream_prefix`, only the streams whose names start with it are listed and read.
// Errors: the store's (a piece deleted while read is skipped).
Result<std::vector<LogPiece>> ReadLogPieces(ObjectStore& store, const std::string& prefix,
                                            const std::map<std::string, int64_t>& after,
                                            const std::string& stream_prefix = "");

}  // namespace cairn
