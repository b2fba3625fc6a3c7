// Private to api: copies a child's output (stdout and stderr on one pipe) into the store as log
// pieces (cairn/registry/log_pieces.h) of one stream, about once a second and at EOF, and echoes
// it to cairn server's stderr. CloudWatch Logs' API reads them back (logs_ops.cc): an endpoint
// instance's output is group /aws/sagemaker/Endpoints/<name>, stream "<variant>/<instance>", as
// SageMaker names them.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "cairn/core/subprocess.h"
#include "cairn/storage/object_store.h"

namespace cairn::api {

class LogPump {
 public:
  // Starts a thread reading `process`'s stdout pipe (SubprocessOptions::stdout_mode kPipe),
  // which must outlive the pump. Pieces go under `prefix` (layout::EndpointLogsPrefix).
  LogPump(ObjectStore& store, std::string prefix, std::string stream, Subprocess& process);
  // Reads what is left (up to EOF, or until the pipe stays quiet for a moment once the process
  // has ended), stores it, and joins the thread.
  ~LogPump();
  LogPump(const LogPump&) = delete;
  LogPump& operator=(const LogPump&) = delete;

 private:
  void Run();
  void Flush();

  ObjectStore& store_;
  const std::string prefix_, stream_;
  Subprocess& process_;
  std::string unsent_;
  int64_t seq_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace cairn::api
