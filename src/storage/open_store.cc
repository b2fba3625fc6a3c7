#include "cairn/storage/local_store.h"
#include "cairn/storage/object_store.h"
#include "cairn/storage/s3_store.h"

namespace cairn {

ObjectLocation SplitObjectUri(const std::string& uri) {
  ObjectLocation l;
  if (uri.compare(0, 5, "s3://") == 0) {
    size_t slash = uri.find('/', 5);
    l.store_uri = uri.substr(0, slash);
    l.key = slash == std::string::npos ? "" : uri.substr(slash + 1);
    if (const size_t q = l.key.find("?versionId="); q != std::string::npos) {
      l.version_id = l.key.substr(q + 11);
      l.key.resize(q);
    }
  } else {
    l.key = uri.compare(0, 7, "file://") == 0 ? uri.substr(7) : uri;
  }
  return l;
}

Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& uri) {
  if (uri.compare(0, 7, "file://") == 0) {
    std::string path = uri.substr(7);
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("'" + uri + "': a file:// URI needs an absolute path");
    }
    return OpenLocalStore(path);
  }
  if (ObjectLocation l = SplitObjectUri(uri); l.remote()) {
    CAIRN_ASSIGN_OR_RETURN(S3Options options, S3OptionsFromEnvironment());
    return OpenS3Store(l.store_uri.substr(5), l.key, std::move(options));
  }
  if (uri.find("://") != std::string::npos) {
    return Status::InvalidArgument("'" + uri + "': unknown store scheme (use file:// or s3://)");
  }
  return OpenLocalStore(uri);
}

}  // namespace cairn
