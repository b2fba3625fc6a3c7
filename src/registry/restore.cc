#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "cairn/core/buffer_pool.h"
#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "chunk_cache.h"
#include "manifest.h"

namespace cairn {

namespace fs = std::filesystem;
using namespace registry;
using namespace layout;

// Fetches a chunk into `dest` (exactly chunk.size bytes) from the cache or the store, and checks
// its SHA-256 there before anyone uses the bytes.
Status Registry::FetchChunk(const ChunkRef& chunk, uint8_t* dest, const std::string& where) {
  if (cache_ && cache_->Get(chunk.sha256, dest, chunk.size)) {
    if (Sha256Hex(dest, chunk.size) == chunk.sha256) return Status::OK();
    cache_->Drop(chunk.sha256);  // a damaged cache entry: fetch it again
  }
  Sha256 hash;  // fed as the bytes land, while they are in cache
  Status st = store_->GetInto(ChunkKey(chunk.sha256), dest, chunk.size, &hash);
  if (st.code() == Status::Code::kNotFound) return Status::Corrupt(where + " is missing");
  if (st.code() == Status::Code::kCorrupt)
    return Status::Corrupt(where + " is corrupt: " + st.message());
  if (!st.ok()) return st.WithContext(where);
  if (ToHex(hash.Finish()) != chunk.sha256) {
    return Status::Corrupt(where + " is corrupt (its bytes do not match its SHA-256)");
  }
  if (cache_) cache_->Put(chunk.sha256, dest, chunk.size);
  return Status::OK();
}

Result<std::shared_ptr<const MappedFile>> Registry::ReadFile(const std::string& ref,
                                                             const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(VersionInfo v, Resolve(ref));
  const FileEntry* f = nullptr;
  for (const auto& e : v.files)
    if (e.path == path) f = &e;
  if (f == nullptr) return Status::NotFound("no file " + path + " in " + v.ref());
  // Every byte is overwritten, so a buffer a released load left behind will do (no fresh pages).
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<uint8_t> buf, BufferPool::Default().Acquire(f->size));
  std::vector<uint64_t> offsets;
  uint64_t off = 0;
  for (const auto& c : f->chunks) {
    offsets.push_back(off);
    off += c.size;
  }
  CAIRN_RETURN_IF_ERROR(ParallelFor(f->chunks.size(), [&](size_t i) {
    return FetchChunk(f->chunks[i], buf.get() + offsets[i],
                      "chunk " + f->chunks[i].sha256 + " of " + f->path + " in " + v.ref());
  }));
  const uint8_t* data = buf.get();
  return MappedFile::FromMemory(data, f->size, std::move(buf), v.ref() + "/" + path);
}

Result<VersionInfo> Registry::Restore(const std::string& ref, const std::string& dir_in,
                                      const ProgressFn& progress) {
  CAIRN_ASSIGN_OR_RETURN(VersionInfo v, Resolve(ref));
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::error_code ec;
  if (fs::exists(dir, ec))
    return Status::AlreadyExists(dir + " already exists; restore needs a new directory");
  const fs::path parent = fs::absolute(dir).parent_path();
  fs::create_directories(parent, ec);
  if (ec) return Status::FromErrno("create " + parent.string(), ec.value());
  // Everything is written under a temporary name beside the target, then renamed.
  const std::string tmp = dir + ".cairn-restore-" + std::to_string(std::random_device{}());
  struct Cleanup {
    std::string path;
    bool armed = true;
    ~Cleanup() {
      std::error_code e;
      if (armed) fs::remove_all(path, e);
    }
  } cleanup{tmp};
  fs::create_directories(tmp, ec);
  if (ec) return Status::FromErrno("create " + tmp, ec.value());

  struct Job {
    size_t file;
    uint64_t offset;
    const ChunkRef* chunk;
  };
  std::vector<UniqueFd> fds;
  std::vector<Job> jobs;
  for (size_t i = 0; i < v.files.size(); ++i) {
    const FileEntry& f = v.files[i];
    const fs::path path = fs::path(tmp) / f.path;
    fs::create_directories(path.parent_path(), ec);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return Status::FromErrno("create " + path.string(), errno);
    if (::ftruncate(fd.get(), static_cast<off_t>(f.size)) != 0) {
      return Status::FromErrno("size " + path.string(), errno);
    }
    uint64_t off = 0;
    for (const ChunkRef& c : f.chunks) {
      jobs.push_back(Job{i, off, &c});
      off += c.size;
    }
    fds.push_back(std::move(fd));
  }
  // Fetch, verify and write chunks in parallel; no byte is written before its chunk checks out.
  CAIRN_RETURN_IF_ERROR(ParallelFor(jobs.size(), [&](size_t j) -> Status {
    const Job& job = jobs[j];
    const FileEntry& f = v.files[job.file];
    std::string data(job.chunk->size, '\0');
    CAIRN_RETURN_IF_ERROR(
        FetchChunk(*job.chunk, reinterpret_cast<uint8_t*>(data.data()),
                   "chunk " + job.chunk->sha256 + " of " + f.path + " in " + v.ref()));
    int fd = fds[job.file].get();
    for (size_t done = 0; done < data.size();) {
      ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                           static_cast<off_t>(job.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("write " + f.path, errno);
      done += static_cast<size_t>(n);
    }
    if (progress) progress(data.size());
    return Status::OK();
  }));
  for (size_t i = 0; i < fds.size(); ++i) {
    if (::fchmod(fds[i].get(), v.files[i].mode) != 0 || ::fsync(fds[i].get()) != 0) {
      return Status::FromErrno("finish " + v.files[i].path, errno);
    }
  }
  fds.clear();
  if (::rename(tmp.c_str(), dir.c_str()) != 0) return Status::FromErrno("rename to " + dir, errno);
  cleanup.armed = false;
  UniqueFd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (pfd.valid()) ::fsync(pfd.get());
  return v;
}

}  // namespace cairn
