#include "cairn/storage/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"

namespace cairn {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr uint64_t kHashedPiece = 256 << 10;  // stays in cache until hashed
constexpr const char* kTmpDir = ".cairn-tmp";
constexpr const char* kLockDir = ".cairn-locks";

std::string Etag(const struct stat& st) {
  char buf[80];
  std::snprintf(
      buf, sizeof(buf), "%llx-%llx-%llx", static_cast<unsigned long long>(st.st_ino),
      static_cast<unsigned long long>(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec),
      static_cast<unsigned long long>(st.st_size));
  return buf;
}

ObjectInfo Info(const std::string& key, const struct stat& st) {
  return ObjectInfo{key, static_cast<uint64_t>(st.st_size), Etag(st),
                    st.st_mtim.tv_sec * 1000LL + st.st_mtim.tv_nsec / 1000000};
}

// Creates `dir` and its parents. A concurrent Delete may remove an empty parent between our
// mkdirs (it tidies empty folders): then start again.
Status MkdirAll(const std::string& dir) {
  if (dir.empty()) return Status::OK();
  for (int attempt = 0;; ++attempt) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
      return S_ISDIR(st.st_mode) ? Status::OK() : Status(Status::Code::kAlreadyExists, dir);
    }
    size_t slash = dir.find_last_of('/');
    if (slash != std::string::npos && slash > 0)
      CAIRN_RETURN_IF_ERROR(MkdirAll(dir.substr(0, slash)));
    if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return Status::OK();
    if (errno != ENOENT || attempt >= 10) return Status::FromErrno(dir, errno);
  }
}

Status SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) return Status::FromErrno("fsync " + dir, errno);
  return Status::OK();
}

// Runs a rename; if it fails because a concurrent Delete removed the (then empty) parent folder
// between our mkdir and the rename, makes the folder again and retries.
template <typename Fn>
int RetryIfParentVanished(const std::string& path, Fn&& rename_fn) {
  for (int attempt = 0;; ++attempt) {
    int r = rename_fn();
    if (r == 0 || errno != ENOENT || attempt >= 10) return r;
    if (!MkdirAll(path.substr(0, path.find_last_of('/'))).ok()) return r;
  }
}

// An exclusive flock on a per-key lock file, released on destruction.
class KeyLock {
 public:
  static Result<KeyLock> Acquire(const std::string& root, const std::string& key) {
    std::string path = root + "/" + kLockDir + "/" + Sha256Hex(key);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::FromErrno("lock " + path, errno);
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return Status::FromErrno("lock " + path, errno);
    }
    return KeyLock(std::move(fd));
  }

 private:
  explicit KeyLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing the fd releases the lock
};

class LocalStore final : public ObjectStore {
 public:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}

  std::string uri() const override { return "file://" + root_; }

  Result<ObjectInfo> Head(const std::string& key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    struct stat st {};
    if (::stat(Path(key).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Missing(key);
    return Info(key, st);
  }

  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    UniqueFd fd(::open(Path(key).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
      return errno == ENOENT || errno == ENOTDIR ? Missing(key) : Status::FromErrno(key, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(key, errno);
    if (!S_ISREG(st.st_mode)) return Missing(key);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (range.offset > size || (range.offset == size && size > 0 && range.length.value_or(1) > 0)) {
      return Status::InvalidArgument("range starts at byte " + std::to_string(range.offset) +
                                     " of the " + std::to_string(size) + "-byte object " + key);
    }
    uint64_t end = range.length ? std::min(size, range.offset + *range.length) : size;
    std::vector<uint8_t> buf(std::min<uint64_t>(kChunk, std::max<uint64_t>(end - range.offset, 1)));
    for (uint64_t off = range.offset; off < end;) {
      ssize_t n = ::pread(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), end - off),
                          static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("read " + key, errno);
      if (n == 0) return Status::IOError(key + ": the file shrank while it was read");
      CAIRN_RETURN_IF_ERROR(sink(buf.data(), static_cast<size_t>(n)));
      off += static_cast<uint64_t>(n);
    }
    return Status::OK();
  }

  Status GetInto(const std::string& key, uint8_t* dest, uint64_t size, Sha256* hash) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    UniqueFd fd(::open(Path(key).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      return errno == ENOENT || errno == ENOTDIR ? Missing(key) : Status::FromErrno(key, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(key, errno);
    if (static_cast<uint64_t>(st.st_size) != size) {
      return Status::Corrupt(key + " has " + std::to_string(st.st_size) + " bytes, not " +
                             std::to_string(size));
    }
    // Read in pieces small enough to stay in the CPU's cache until the hash has seen them.
    const uint64_t piece = hash ? kHashedPiece : size;
    for (uint64_t off = 0; off < size;) {
      ssize_t n =
          ::pread(fd.get(), dest + off, std::min(piece, size - off), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("read " + key, errno);
      if (n == 0) return Status::Corrupt(key + ": the file shrank while it was read");
      if (hash) hash->Update(dest + off, static_cast<size_t>(n));
      off += static_cast<uint64_t>(n);
    }
    return Status::OK();
  }

  Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                         const PutOptions& options) override;

  // fsyncs exactly the files put without sync since the last call, and their folders (not
  // syncfs, which would also flush whatever else is dirty on the file system).
  Status Sync() override {
    std::vector<std::string> files;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files.swap(unsynced_);
    }
    std::set<std::string> dirs;
    for (const auto& f : files) dirs.insert(f.substr(0, f.find_last_of('/')));
    std::vector<std::string> all(files);
    all.insert(all.end(), dirs.begin(), dirs.end());
    return ParallelFor(all.size(), [&](size_t i) {
      UniqueFd fd(::open(all[i].c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::fsync(fd.get()) != 0) {
        return errno == ENOENT ? Status::OK() : Status::FromErrno("fsync " + all[i], errno);
      }
      return Status::OK();
    });
  }

  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    // Walk only the deepest directory that the prefix names whole.
    size_t slash = prefix.find_last_of('/');
    std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash);
    CAIRN_RETURN_IF_ERROR(Walk(dir, prefix, out));
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
    return out;
  }

  Status Delete(const std::string& key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    CAIRN_ASSIGN_OR_RETURN(KeyLock lock, KeyLock::Acquire(root_, key));
    const std::string path = Path(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
      if (errno == EISDIR) return Status::OK();  // a "folder", not an object
      return Status::FromErrno("delete " + key, errno);
    }
    // Remove parent folders left empty (best effort; another writer may be filling them).
    for (size_t s = key.find_last_of('/'); s != std::string::npos && s > 0;
         s = key.find_last_of('/', s - 1)) {
      if (::rmdir(Path(key.substr(0, s)).c_str()) != 0) break;
    }
    return Status::OK();
  }

 private:
  std::string Path(const std::string& key) const { return root_ + "/" + key; }
  Status CheckKey(const std::string& key) const {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    if (key.compare(0, 7, ".cairn-") == 0) {
      return Status::InvalidArgument("invalid object key '" + key + "': '.cairn-' is reserved");
    }
    return Status::OK();
  }
  Status Missing(const std::string& key) const {
    return Status::NotFound("no object '" + key + "' in " + uri());
  }
  Status Walk(const std::string& dir, const std::string& prefix, std::vector<ObjectInfo>& out);

  std::string root_;
  std::mutex mu_;
  std::vector<std::string> unsynced_;  // written with sync = false, awaiting Sync()
};

Status LocalStore::Walk(const std::string& dir, const std::string& prefix,
                        std::vector<ObjectInfo>& out) {
  const std::string path = dir.empty() ? root_ : Path(dir);
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
    return Status::FromErrno("list " + path, errno);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (dir.empty() && name.compare(0, 7, ".cairn-") == 0) continue;
    std::string key = dir.empty() ? name : dir + "/" + name;
    // Neither a key under the prefix nor a folder that could hold one: not even looked at (a
    // narrow prefix in a big folder costs a readdir, not a stat per entry).
    if (key.compare(0, prefix.size(), prefix) != 0 &&
        prefix.compare(0, key.size() + 1, key + "/") != 0)
      continue;
    struct stat st {};
    if (::lstat(Path(key).c_str(), &st) != 0) continue;  // removed meanwhile
    if (S_ISDIR(st.st_mode)) {
      // Descend only where keys under it can still match the prefix.
      std::string sub = key + "/";
      if (sub.compare(0, std::min(sub.size(), prefix.size()), prefix, 0,
                      std::min(sub.size(), prefix.size())) == 0) {
        CAIRN_RETURN_IF_ERROR(Walk(key, prefix, out));
      }
    } else if (S_ISREG(st.st_mode) && key.compare(0, prefix.size(), prefix) == 0) {
      out.push_back(Info(key, st));
    }
  }
  return Status::OK();
}

Result<ObjectInfo> LocalStore::Put(const std::string& key, ByteSource& source,
                                   const PutOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckKey(key));
  const std::string path = Path(key);
  if (Status st = MkdirAll(path.substr(0, path.find_last_of('/'))); !st.ok()) {
    if (st.code() == Status::Code::kAlreadyExists) {
      return Status::InvalidArgument("cannot store '" + key +
                                     "': a parent of it is an object in this local store");
    }
    return st;
  }
  // 1. Write the bytes to a temporary file and make them durable.
  std::random_device rd;
  char name[48];
  std::snprintf(name, sizeof(name), "/%s/%08x%08x", kTmpDir, rd(), rd());
  const std::string tmp = root_ + name;
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::FromErrno("create " + tmp, errno);
  struct Cleanup {
    const std::string& p;
    bool armed = true;
    ~Cleanup() {
      if (armed) ::unlink(p.c_str());
    }
  } cleanup{tmp};
  std::vector<uint8_t> buf(kChunk);
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(size_t n, source.Read(buf.data(), buf.size()));
    if (n == 0) break;
    for (size_t done = 0; done < n;) {
      ssize_t w = ::write(fd.get(), buf.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Status::FromErrno("write " + tmp, errno);
      done += static_cast<size_t>(w);
    }
  }
  if (options.sync && ::fsync(fd.get()) != 0) return Status::FromErrno("fsync " + tmp, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno("stat " + tmp, errno);

  // 2. Move it into place under the condition.
  if (options.condition == PutOptions::Condition::kIfAbsent) {
    if (RetryIfParentVanished(path, [&] {
          return ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
        }) != 0) {
      if (errno == EEXIST) return Status::PreconditionFailed("object '" + key + "' already exists");
      if (errno != EINVAL && errno != ENOSYS) return Status::FromErrno("rename to " + key, errno);
      // File systems without RENAME_NOREPLACE: link() also fails if the target exists.
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        if (errno == EEXIST)
          return Status::PreconditionFailed("object '" + key + "' already exists");
        return Status::FromErrno("link to " + key, errno);
      }
      ::unlink(tmp.c_str());
    }
  } else {
    CAIRN_ASSIGN_OR_RETURN(KeyLock lock, KeyLock::Acquire(root_, key));
    if (options.condition == PutOptions::Condition::kIfMatch) {
      struct stat cur {};
      if (::stat(path.c_str(), &cur) != 0 || Etag(cur) != options.if_match) {
        return Status::PreconditionFailed("object '" + key + "' does not have etag " +
                                          options.if_match);
      }
    }
    if (RetryIfParentVanished(path, [&] { return ::rename(tmp.c_str(), path.c_str()); }) != 0) {
      return Status::FromErrno("rename to " + key, errno);
    }
  }
  cleanup.armed = false;
  if (options.sync) {
    CAIRN_RETURN_IF_ERROR(SyncDir(path.substr(0, path.find_last_of('/'))));
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    unsynced_.push_back(path);
  }
  return Info(key, st);
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root_in) {
  if (root_in.empty()) return Status::InvalidArgument("empty store path");
  std::string root = root_in;
  if (root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) == nullptr) return Status::FromErrno("getcwd", errno);
    root = std::string(cwd) + "/" + root;
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  CAIRN_RETURN_IF_ERROR(MkdirAll(root + "/" + kTmpDir).WithContext("store " + root));
  CAIRN_RETURN_IF_ERROR(MkdirAll(root + "/" + kLockDir).WithContext("store " + root));
  return std::unique_ptr<ObjectStore>(new LocalStore(root));
}

}  // namespace cairn
