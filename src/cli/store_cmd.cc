// cairn cp | ls | rm | cat: move bytes between local files and object stores.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cairn/storage/object_store.h"
#include "cairn/storage/transfer.h"
#include "commands.h"
#include "progress.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

// A place bytes can be: an object in a store (s3://bucket/key) or a local path.
struct Location {
  bool remote = false;
  std::string store_uri;   // "s3://bucket"
  std::string key;         // key or prefix inside the store ("" = whole bucket)
  std::string path;        // local path
  std::string version_id;  // ?versionId=: one object version
};

Location Parse(const std::string& arg) {
  ObjectLocation o = SplitObjectUri(arg);
  if (o.remote()) return Location{true, o.store_uri, o.key, "", o.version_id};
  return Location{false, "", "", o.key};
}

std::string BaseName(const std::string& key) { return key.substr(key.find_last_of('/') + 1); }

// Reads standard input ("cairn cp - s3://...").
class StdinSource : public ByteSource {
 public:
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Status::FromErrno("read stdin", errno);
    }
  }
};

// Counts bytes for the progress bar.
class ProgressSource : public ByteSource {
 public:
  ProgressSource(ByteSource& inner, Progress& p) : inner_(inner), p_(p) {}
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    auto n = inner_.Read(buf, size);
    if (n.ok()) p_.Add(*n);
    return n;
  }
  std::optional<uint64_t> size() const override { return inner_.size(); }
  // Parts of a file go up read straight from it, on several threads (Progress is thread-safe).
  bool positional() const override { return inner_.positional(); }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buf, size_t size) const override {
    auto n = inner_.ReadAt(offset, buf, size);
    if (n.ok()) p_.Add(*n);
    return n;
  }

 private:
  ByteSource& inner_;
  Progress& p_;
};

Status Upload(ObjectStore& store, const std::string& file, const std::string& key) {
  std::unique_ptr<ByteSource> src;
  if (file == "-") {
    src = std::make_unique<StdinSource>();
  } else {
    CAIRN_ASSIGN_OR_RETURN(src, FileSource::Open(file));
  }
  Progress bar("upload " + key, src->size().value_or(0));
  ProgressSource counted(*src, bar);
  return store.Put(key, counted).status();
}

Status DownloadTo(ObjectStore& store, const std::string& key, const std::string& path,
                  const std::string& version_id = "") {
  std::string target = path;
  if (fs::is_directory(target) || (!target.empty() && target.back() == '/')) {
    target = (fs::path(target) / BaseName(key)).string();
  }
  if (auto parent = fs::path(target).parent_path(); !parent.empty()) fs::create_directories(parent);
  if (!version_id.empty()) return DownloadVersion(store, key, version_id, target).status();
  CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, store.Head(key));
  Progress bar("download " + key, info.size);
  // Like other copy tools, cp does not fsync (the file still never appears half-written).
  DownloadOptions options{[&](uint64_t n) { bar.Add(n); }, /*sync=*/false};
  return store.Download(key, target, options).status();
}

Status Copy(const std::string& src_arg, const std::string& dst_arg, bool recursive) {
  Location src = Parse(src_arg), dst = Parse(dst_arg);
  if (!src.remote && !dst.remote) return Status::InvalidArgument("one side of cp must be s3://");
  if (!src.version_id.empty() && recursive)
    return Status::InvalidArgument("?versionId= names one object: cp it without -r");
  if (!dst.version_id.empty())
    return Status::InvalidArgument("?versionId= pins a version to read; a copy makes a new one");
  std::unique_ptr<ObjectStore> src_store, dst_store;
  if (src.remote) {
    CAIRN_ASSIGN_OR_RETURN(src_store, OpenStore(src.store_uri));
  }
  if (dst.remote) {
    CAIRN_ASSIGN_OR_RETURN(dst_store, OpenStore(dst.store_uri));
  }

  // Each (source, destination) pair to copy.
  std::vector<std::pair<std::string, std::string>> jobs;
  if (!recursive) {
    std::string dkey = dst.key;
    if (dst.remote && (dkey.empty() || dkey.back() == '/')) {
      dkey += BaseName(src.remote ? src.key : src.path);
    }
    jobs.emplace_back(src.remote ? src.key : src.path, dst.remote ? dkey : dst.path);
  } else if (src.remote) {
    std::string prefix = src.key.empty() || src.key.back() == '/' ? src.key : src.key + "/";
    CAIRN_ASSIGN_OR_RETURN(auto objects, src_store->List(prefix));
    for (const auto& o : objects) {
      std::string rel = o.key.substr(prefix.size());
      jobs.emplace_back(
          o.key, dst.remote
                     ? (dst.key.empty() || dst.key.back() == '/' ? dst.key : dst.key + "/") + rel
                     : (fs::path(dst.path) / rel).string());
    }
  } else {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(src.path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::string rel = fs::relative(it->path(), src.path).string();
      jobs.emplace_back(it->path().string(),
                        (dst.key.empty() || dst.key.back() == '/' ? dst.key : dst.key + "/") + rel);
    }
    if (ec) return Status::FromErrno(src.path, ec.value());
  }
  for (const auto& [from, to] : jobs) {
    if (!src.remote) {
      CAIRN_RETURN_IF_ERROR(Upload(*dst_store, from, to).WithContext(from));
    } else if (!dst.remote) {
      CAIRN_RETURN_IF_ERROR(
          DownloadTo(*src_store, from, to, src.version_id).WithContext(src.store_uri + "/" + from));
    } else {
      // Store to store: through a temporary local file, so both sides run at full speed.
      char tmpl[] = "/tmp/cairn-cp-XXXXXX";
      int fd = ::mkstemp(tmpl);
      if (fd < 0) return Status::FromErrno("mkstemp", errno);
      ::close(fd);
      Status st = src.version_id.empty()
                      ? src_store->Download(from, tmpl).status()
                      : DownloadVersion(*src_store, from, src.version_id, tmpl).status();
      if (st.ok()) st = Upload(*dst_store, tmpl, to);
      ::unlink(tmpl);
      CAIRN_RETURN_IF_ERROR(st.WithContext(from));
    }
  }
  return Status::OK();
}

Status ListCmd(const std::string& arg, bool json) {
  Location l = Parse(arg);
  if (!l.remote) return Status::InvalidArgument("ls takes an s3:// URI");
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(l.store_uri));
  CAIRN_ASSIGN_OR_RETURN(auto objects, store->List(l.key));
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& o : objects)
      out.push_back({{"uri", l.store_uri + "/" + o.key},
                     {"size", o.size},
                     {"etag", o.etag},
                     {"mtime_ms", o.mtime_ms}});
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  for (const auto& o : objects) {
    std::time_t t = o.mtime_ms / 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    std::printf("%s %12llu %s/%s\n", when, static_cast<unsigned long long>(o.size),
                l.store_uri.c_str(), o.key.c_str());
  }
  return Status::OK();
}

Status RemoveCmd(const std::string& arg, bool recursive) {
  Location l = Parse(arg);
  if (!l.remote) return Status::InvalidArgument("rm takes an s3:// URI");
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(l.store_uri));
  if (!recursive) return store->Delete(l.key);
  std::string prefix = l.key.empty() || l.key.back() == '/' ? l.key : l.key + "/";
  CAIRN_ASSIGN_OR_RETURN(auto objects, store->List(prefix));
  for (const auto& o : objects) CAIRN_RETURN_IF_ERROR(store->Delete(o.key));
  return Status::OK();
}

Status CatCmd(const std::string& arg) {
  Location l = Parse(arg);
  if (!l.remote) return Status::InvalidArgument("cat takes an s3:// URI");
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(l.store_uri));
  return store->Get(l.key, [](const uint8_t* d, size_t n) {
    return std::fwrite(d, 1, n, stdout) == n ? Status::OK()
                                             : Status::IOError("write to stdout failed");
  });
}

int Run(const Status& st) { return st.ok() ? kExitOk : Fail(st); }

}  // namespace

void AddStoreCommands(CLI::App& app, Action* action) {
  struct Args {
    std::string a, b;
    bool recursive = false, json = false;
    std::string sse, sse_kms_key_id;
  };
  auto args = std::make_shared<Args>();
  auto* cp =
      app.add_subcommand("cp", "Copy files to, from and between object stores (s3://bucket/key)");
  cp->add_option("SRC", args->a, "local file, '-' for stdin, or s3:// URI")->required();
  cp->add_option("DST", args->b, "local path or s3:// URI")->required();
  cp->add_flag("-r,--recursive", args->recursive, "copy everything under a folder or prefix");
  cp->add_option("--sse", args->sse,
                 "server-side encryption of uploads: AES256 or aws:kms ($CAIRN_S3_SSE)");
  cp->add_option("--sse-kms-key-id", args->sse_kms_key_id,
                 "the KMS key for aws:kms ($CAIRN_S3_SSE_KMS_KEY_ID)");
  cp->callback([=] {
    *action = [=] {
      // The S3 store reads its settings from the environment, as every AWS tool does.
      if (!args->sse.empty()) ::setenv("CAIRN_S3_SSE", args->sse.c_str(), 1);
      if (!args->sse_kms_key_id.empty())
        ::setenv("CAIRN_S3_SSE_KMS_KEY_ID", args->sse_kms_key_id.c_str(), 1);
      return Run(Copy(args->a, args->b, args->recursive));
    };
  });

  auto* ls = app.add_subcommand("ls", "List the objects under an s3:// URI");
  ls->add_option("URI", args->a, "s3://bucket[/prefix]")->required();
  ls->add_flag("--json", args->json, "print JSON: uri, size, etag, mtime_ms of each object");
  ls->callback([=] { *action = [=] { return Run(ListCmd(args->a, args->json)); }; });

  auto* rm = app.add_subcommand("rm", "Delete an object (or, with -r, everything under a prefix)");
  rm->add_option("URI", args->a, "s3://bucket/key")->required();
  rm->add_flag("-r,--recursive", args->recursive, "delete everything under the prefix");
  rm->callback([=] { *action = [=] { return Run(RemoveCmd(args->a, args->recursive)); }; });

  auto* cat = app.add_subcommand("cat", "Write an object to standard output");
  cat->add_option("URI", args->a, "s3://bucket/key")->required();
  cat->callback([=] { *action = [=] { return Run(CatCmd(args->a)); }; });
}

}  // namespace cairn::cli
