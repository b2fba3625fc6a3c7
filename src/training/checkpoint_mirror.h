// Private to training: mirrors a local checkpoint folder to a store URI while a job runs, as
// SageMaker does: a file is uploaded once it is complete (closed after writing, or renamed into
// place), a file deleted locally is deleted at the URI, and changes are batched: nothing moves
// until Flush(), which the runner calls every few seconds and once at the end.
#pragma once

#include <map>
#include <set>
#include <string>

#include "cairn/core/file.h"
#include "cairn/core/status.h"

namespace cairn::training {

class CheckpointMirror {
 public:
  // Watches `dir` (and every folder created under it) with inotify.
  static Result<std::unique_ptr<CheckpointMirror>> Start(const std::string& dir,
                                                         const std::string& uri);
  // Uploads the files completed and deletes the files removed since the last flush.
  Status Flush();
  uint64_t uploads() const { return uploads_; }
  uint64_t deletes() const { return deletes_; }

 private:
  CheckpointMirror() = default;
  void Watch(const std::string& rel);  // adds a watch on dir/rel and marks its files
  void Drain();                        // reads pending inotify events into dirty_

  std::string dir_, uri_;
  UniqueFd fd_;
  std::map<int, std::string> watches_;  // watch descriptor -> folder (relative, "" = dir)
  std::set<std::string> dirty_;         // relative paths to upload or delete
  uint64_t uploads_ = 0, deletes_ = 0;
};

}  // namespace cairn::training
