#include "cairn/storage/local_store.h"
#include "cairn/storage/object_store.h"

namespace cairn {

Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& uri) {
  if (uri.compare(0, 7, "file://") == 0) {
    std::string path = uri.substr(7);
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("'" + uri + "': a file:// URI needs an absolute path");
    }
    return OpenLocalStore(path);
  }
  if (uri.compare(0, 5, "s3://") == 0) {
    return Status::Unsupported("'" + uri + "': S3 stores are not available in this build yet");
  }
  if (uri.find("://") != std::string::npos) {
    return Status::InvalidArgument("'" + uri + "': unknown store scheme (use file:// or s3://)");
  }
  return OpenLocalStore(uri);
}

}  // namespace cairn
