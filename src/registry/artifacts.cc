#include "cairn/registry/artifacts.h"

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

bool IsTarGz(const std::string& uri) {
  auto ends = [&](const char* ext) {
    size_t n = std::strlen(ext);
    return uri.size() > n && uri.compare(uri.size() - n, n, ext) == 0;
  };
  return ends(".tar.gz") || ends(".tgz") || ends(".tar");
}

// "s3://bucket/a/b" -> store "s3://bucket", key "a/b"; a local path -> no store.
struct Target {
  std::unique_ptr<ObjectStore> store;
  std::string key;  // or the local path
};

Result<Target> Parse(const std::string& uri) {
  Target t;
  ObjectLocation l = SplitObjectUri(uri);
  if (l.remote()) {
    CAIRN_ASSIGN_OR_RETURN(t.store, OpenStore(l.store_uri));
  }
  t.key = l.key;
  while (!t.key.empty() && t.key.back() == '/') t.key.pop_back();
  return t;
}

}  // namespace

Status ExportVersion(Registry& registry, const std::string& ref, const std::string& uri) {
  CAIRN_ASSIGN_OR_RETURN(Target t, Parse(uri));
  TempDir tmp;
  if (!tmp.ok()) return Status::IOError("cannot create a temporary directory");
  CAIRN_RETURN_IF_ERROR(registry.Restore(ref, tmp / "model").status());
  if (IsTarGz(uri)) {
    const std::string tgz = t.store ? tmp / "model.tar.gz" : t.key;
    if (!t.store && fs::path(tgz).has_parent_path())
      fs::create_directories(fs::path(tgz).parent_path());
    CAIRN_RETURN_IF_ERROR(CreateTarGz(tmp / "model", tgz));
    if (!t.store) return Status::OK();
    CAIRN_ASSIGN_OR_RETURN(auto src, FileSource::Open(tgz));
    return t.store->Put(t.key, *src).status();
  }
  // An uncompressed prefix: every file under it.
  const fs::path root = tmp / "model";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string rel = fs::relative(it->path(), root).generic_string();
    if (t.store) {
      CAIRN_ASSIGN_OR_RETURN(auto src, FileSource::Open(it->path().string()));
      CAIRN_RETURN_IF_ERROR(t.store->Put(t.key.empty() ? rel : t.key + "/" + rel, *src).status());
    } else {
      const fs::path dst = fs::path(t.key) / rel;
      fs::create_directories(dst.parent_path());
      fs::copy_file(it->path(), dst, fs::copy_options::overwrite_existing, ec);
      if (ec) return Status::FromErrno("copy to " + dst.string(), ec.value());
    }
  }
  return ec ? Status::FromErrno("walk " + root.string(), ec.value()) : Status::OK();
}

Result<VersionInfo> ImportVersion(Registry& registry, const std::string& group,
                                  const std::string& uri, const PublishOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(Target t, Parse(uri));
  TempDir tmp;
  if (!tmp.ok()) return Status::IOError("cannot create a temporary directory");
  const std::string dir = tmp / "model";
  fs::create_directories(dir);
  PublishOptions opts = options;
  opts.lineage.emplace("imported_from", uri);
  if (IsTarGz(uri)) {
    std::string archive = t.key;
    if (t.store) {
      archive = tmp / "model.tar.gz";
      CAIRN_RETURN_IF_ERROR(t.store->Download(t.key, archive).status());
    }
    CAIRN_RETURN_IF_ERROR(ExtractTar(archive, dir));
  } else if (t.store) {
    const std::string prefix = t.key.empty() ? "" : t.key + "/";
    CAIRN_ASSIGN_OR_RETURN(auto objects, t.store->List(prefix));
    if (objects.empty()) return Status::NotFound("nothing under " + uri);
    for (const auto& o : objects) {
      const std::string rel = o.key.substr(prefix.size());
      CAIRN_RETURN_IF_ERROR(ValidateKey(rel));
      const fs::path dst = fs::path(dir) / rel;
      fs::create_directories(dst.parent_path());
      CAIRN_RETURN_IF_ERROR(t.store->Download(o.key, dst.string()).status());
    }
  } else {
    return registry.Publish(group, t.key, opts);  // a local directory: publish it as it is
  }
  return registry.Publish(group, dir, opts);
}

}  // namespace cairn
