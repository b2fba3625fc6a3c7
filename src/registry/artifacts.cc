#include "cairn/registry/artifacts.h"

#include "cairn/storage/transfer.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

namespace cairn {

namespace fs = std::filesystem;

namespace {

// A temporary directory removed with everything in it when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cairn-artifact-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  bool ok() const { return !path_.empty(); }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

bool IsTarGz(const std::string& uri_in) {
  const std::string uri = uri_in.substr(0, uri_in.find("?versionId="));
  auto ends = [&](const char* ext) {
    size_t n = std::strlen(ext);
    return uri.size() > n && uri.compare(uri.size() - n, n, ext) == 0;
  };
  return ends(".tar.gz") || ends(".tgz") || ends(".tar");
}

}  // namespace

Status ExportVersion(Registry& registry, const std::string& ref, const std::string& uri) {
  TempDir tmp;
  if (!tmp.ok()) return Status::IOError("cannot create a temporary directory");
  CAIRN_RETURN_IF_ERROR(registry.Restore(ref, tmp / "model").status());
  if (!IsTarGz(uri)) return UploadTree(tmp / "model", uri);  // an uncompressed prefix
  const ObjectLocation loc = SplitObjectUri(uri);
  const std::string tgz = loc.remote() ? tmp / "model.tar.gz" : loc.key;
  if (!loc.remote() && fs::path(tgz).has_parent_path())
    fs::create_directories(fs::path(tgz).parent_path());
  CAIRN_RETURN_IF_ERROR(CreateTarGz(tmp / "model", tgz));
  return loc.remote() ? UploadFile(tgz, uri) : Status::OK();
}

Result<VersionInfo> ImportVersion(Registry& registry, const std::string& group,
                                  const std::string& uri, const PublishOptions& options) {
  TempDir tmp;
  if (!tmp.ok()) return Status::IOError("cannot create a temporary directory");
  const std::string dir = tmp / "model";
  fs::create_directories(dir);
  PublishOptions opts = options;
  opts.lineage.emplace("imported_from", uri);
  const ObjectLocation loc = SplitObjectUri(uri);
  if (IsTarGz(uri)) {
    std::string archive = loc.key;
    if (loc.remote()) {
      CAIRN_ASSIGN_OR_RETURN(auto files, DownloadTree(uri, tmp / "archive"));
      if (files.size() != 1) return Status::NotFound("no archive at " + uri);
      archive = tmp / ("archive/" + files.front());
    }
    CAIRN_RETURN_IF_ERROR(ExtractTar(archive, dir));
  } else if (loc.remote()) {
    CAIRN_ASSIGN_OR_RETURN(auto files, DownloadTree(uri, dir));
    if (files.empty()) return Status::NotFound("nothing under " + uri);
  } else {
    return registry.Publish(group, loc.key, opts);  // a local directory: publish it as it is
  }
  return registry.Publish(group, dir, opts);
}

}  // namespace cairn
