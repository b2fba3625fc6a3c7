#include "cairn/storage/local_store.h"
#include "cairn/storage/object_store.h"
#include "cairn/storage/s3_store.h"

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
    std::string rest = uri.substr(5);
    size_t slash = rest.find('/');
    std::string bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    CAIRN_ASSIGN_OR_RETURN(S3Options options, S3OptionsFromEnvironment());
    return OpenS3Store(bucket, prefix, std::move(options));
  }
  if (uri.find("://") != std::string::npos) {
    return Status::InvalidArgument("'" + uri + "': unknown store scheme (use file:// or s3://)");
  }
  return OpenLocalStore(uri);
}

}  // namespace cairn
