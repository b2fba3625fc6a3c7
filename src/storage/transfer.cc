#include "cairn/storage/transfer.h"

#include <filesystem>

#include "cairn/core/file.h"
#include "cairn/core/sha256.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

std::string Trimmed(std::string key) {
  while (!key.empty() && key.back() == '/') key.pop_back();
  return key;
}

Result<std::vector<std::string>> LocalFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(fs::relative(it->path(), dir).generic_string());
  }
  if (ec) return Status::FromErrno("walk " + dir, ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

Status CopyLocal(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  const fs::path tmp = to.string() + ".cairn-tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) return Status::FromErrno("copy " + from.string() + " to " + to.string(), ec.value());
  return Status::OK();
}

}  // namespace

std::string JoinUri(const std::string& uri, const std::string& rel) {
  std::string base = Trimmed(uri);
  if (rel.empty()) return base;
  return base.empty() ? rel : base + "/" + rel;
}

Result<uint64_t> DownloadVersion(ObjectStore& store, const std::string& key,
                                 const std::string& version_id, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(path));
  uint64_t written = 0;
  CAIRN_RETURN_IF_ERROR(store.GetVersion(key, version_id, [&](const uint8_t* d, size_t n) {
    written += n;
    return out->Append(d, n);
  }));
  CAIRN_RETURN_IF_ERROR(out->Commit(false));
  return written;
}

Result<std::vector<std::string>> DownloadTree(const std::string& uri, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::FromErrno("create " + dir, ec.value());
  const ObjectLocation loc = SplitObjectUri(uri);
  const std::string key = Trimmed(loc.key);
  std::vector<std::string> written;
  if (!loc.remote()) {
    if (fs::is_regular_file(key)) {
      const std::string name = fs::path(key).filename().string();
      CAIRN_RETURN_IF_ERROR(CopyLocal(key, fs::path(dir) / name));
      return std::vector<std::string>{name};
    }
    if (!fs::is_directory(key)) return Status::NotFound(uri + ": no such file or folder");
    CAIRN_ASSIGN_OR_RETURN(auto files, LocalFiles(key));
    for (const auto& rel : files)
      CAIRN_RETURN_IF_ERROR(CopyLocal(fs::path(key) / rel, fs::path(dir) / rel));
    return files;
  }
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(loc.store_uri));
  if (!loc.version_id.empty()) {  // one pinned object version
    const std::string name = fs::path(key).filename().string();
    CAIRN_RETURN_IF_ERROR(
        DownloadVersion(*store, key, loc.version_id, (fs::path(dir) / name).string()).status());
    return std::vector<std::string>{name};
  }
  const std::string prefix = key.empty() ? "" : key + "/";
  CAIRN_ASSIGN_OR_RETURN(auto objects, store->List(prefix));
  if (objects.empty() && !key.empty()) {
    auto head = store->Head(key);  // a single object
    if (head.ok()) {
      const std::string name = fs::path(key).filename().string();
      DownloadOptions no_sync;
      no_sync.sync = false;
      CAIRN_RETURN_IF_ERROR(
          store->Download(key, (fs::path(dir) / name).string(), no_sync).status());
      return std::vector<std::string>{name};
    }
    if (head.status().code() != Status::Code::kNotFound) return head.status();
  }
  for (const auto& o : objects) {
    const std::string rel = o.key.substr(prefix.size());
    if (rel.empty() || rel.back() == '/') continue;  // "folder" markers some tools create
    CAIRN_RETURN_IF_ERROR(ValidateKey(rel).WithContext("object under " + uri));
    const fs::path dst = fs::path(dir) / rel;
    fs::create_directories(dst.parent_path(), ec);
    DownloadOptions no_sync;
    no_sync.sync = false;
    CAIRN_RETURN_IF_ERROR(store->Download(o.key, dst.string(), no_sync).status());
    written.push_back(rel);
  }
  std::sort(written.begin(), written.end());
  return written;
}

Status UploadFile(const std::string& path, const std::string& uri) {
  const ObjectLocation loc = SplitObjectUri(uri);
  if (!loc.remote()) return CopyLocal(path, loc.key);
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(loc.store_uri));
  CAIRN_ASSIGN_OR_RETURN(auto src, FileSource::Open(path));
  return store->Put(loc.key, *src).status().WithContext("upload " + path + " to " + uri);
}

Status UploadTree(const std::string& dir, const std::string& uri) {
  CAIRN_ASSIGN_OR_RETURN(auto files, LocalFiles(dir));
  const ObjectLocation loc = SplitObjectUri(uri);
  std::unique_ptr<ObjectStore> store;
  if (loc.remote()) {
    CAIRN_ASSIGN_OR_RETURN(store, OpenStore(loc.store_uri));
  }
  for (const auto& rel : files) {
    const std::string from = (fs::path(dir) / rel).string();
    if (!store) {
      CAIRN_RETURN_IF_ERROR(CopyLocal(from, fs::path(loc.key) / rel));
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto src, FileSource::Open(from));
    CAIRN_RETURN_IF_ERROR(store->Put(JoinUri(loc.key, rel), *src).status().WithContext(from));
  }
  return Status::OK();
}

Status DeleteUri(const std::string& uri) {
  const ObjectLocation loc = SplitObjectUri(uri);
  if (!loc.remote()) {
    std::error_code ec;
    fs::remove(loc.key, ec);
    return ec ? Status::FromErrno("delete " + loc.key, ec.value()) : Status::OK();
  }
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(loc.store_uri));
  Status st = store->Delete(loc.key);
  return st.code() == Status::Code::kNotFound ? Status::OK() : st;
}

Result<std::string> TreeDigest(const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(auto files, LocalFiles(dir));
  Sha256 all;
  for (const auto& rel : files) {
    CAIRN_ASSIGN_OR_RETURN(auto m, MappedFile::Open((fs::path(dir) / rel).string()));
    all.Update(rel + "\n" + std::to_string(m->size()) + "\n" + Sha256Hex(m->data(), m->size()) +
               "\n");
  }
  return ToHex(all.Finish());
}

}  // namespace cairn
