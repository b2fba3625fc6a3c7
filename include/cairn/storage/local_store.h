// A store in a local directory: each object is a file under the root, named by its key.
//
// Puts write a temporary file under <root>/.cairn-tmp, fsync it, then rename it into place
// (create-if-absent with renameat2(RENAME_NOREPLACE), which fails if the target exists: exactly
// one of any number of racing writers wins, across processes). If-match puts hold an flock on a
// per-key lock file while they compare and rename. Directories are fsynced after renames.
// A key cannot be both an object and a "folder" of other objects (S3 allows it; a file system
// does not): such a put fails with kInvalidArgument.
#pragma once

#include <memory>
#include <string>

#include "cairn/storage/object_store.h"

namespace cairn {

Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root);

}  // namespace cairn
