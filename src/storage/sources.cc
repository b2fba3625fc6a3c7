#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cairn/core/file.h"
#include "cairn/storage/object_store.h"

namespace cairn {

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(path, errno);
  std::unique_ptr<FileSource> s(new FileSource());
  s->fd_ = fd;
  s->path_ = path;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::FromErrno(path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  s->size_ = static_cast<uint64_t>(st.st_size);
  return s;
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<size_t> FileSource::ReadAt(uint64_t offset, uint8_t* buf, size_t size) const {
  for (;;) {
    ssize_t n = ::pread(fd_, buf, size, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return Status::FromErrno("read " + path_, errno);
  }
}

Result<size_t> FileSource::Read(uint8_t* buf, size_t size) {
  CAIRN_ASSIGN_OR_RETURN(size_t n, ReadAt(pos_, buf, size));
  pos_ += n;
  return n;
}

Result<size_t> ByteSource::ReadAt(uint64_t, uint8_t*, size_t) const {
  return Status::Unsupported("this source has no positional reads");
}

Result<size_t> BufferSource::ReadAt(uint64_t offset, uint8_t* buf, size_t size) const {
  if (offset >= size_) return size_t{0};
  size_t n = std::min<uint64_t>(size, size_ - offset);
  std::memcpy(buf, data_ + offset, n);
  return n;
}

Result<size_t> BufferSource::Read(uint8_t* buf, size_t size) {
  size_t n = std::min(size, size_ - pos_);
  if (n) std::memcpy(buf, data_ + pos_, n);
  pos_ += n;
  return n;
}

Status ValidateKey(const std::string& key) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("invalid object key '" + key + "': " + why);
  };
  if (key.empty()) return bad("it is empty");
  if (key.size() > 1024) return bad("it is longer than 1024 bytes");
  if (key.find('\0') != std::string::npos) return bad("it contains a NUL byte");
  if (key.front() == '/') return bad("it starts with '/'");
  size_t start = 0;
  for (;;) {
    size_t end = key.find('/', start);
    std::string_view seg(key.data() + start, (end == std::string::npos ? key.size() : end) - start);
    if (seg.empty()) return bad("it has an empty path segment");
    if (seg == "." || seg == "..") return bad("it has a '.' or '..' segment");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return Status::OK();
}

Status ObjectStore::GetInto(const std::string& key, uint8_t* dest, uint64_t size, Sha256* hash) {
  uint64_t got = 0;
  CAIRN_RETURN_IF_ERROR(Get(key, [&](const uint8_t* d, size_t n) {
    if (got + n > size) return Status::Corrupt(key + " is longer than expected");
    std::memcpy(dest + got, d, n);
    if (hash) hash->Update(dest + got, n);
    got += n;
    return Status::OK();
  }));
  if (got != size) return Status::Corrupt(key + " is shorter than expected");
  return Status::OK();
}

Result<ObjectInfo> ObjectStore::Download(const std::string& key, const std::string& path,
                                         const DownloadOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(path));
  uint64_t written = 0;
  CAIRN_RETURN_IF_ERROR(Get(key, [&](const uint8_t* d, size_t n) {
    written += n;
    if (options.progress) options.progress(n);
    return out->Append(d, n);
  }));
  if (written != info.size) {
    return Status::IOError(key + ": the object changed while it was downloaded");
  }
  CAIRN_RETURN_IF_ERROR(out->Commit(options.sync));
  return info;
}

Status ObjectStore::GetVersion(const std::string& key, const std::string& version_id,
                               const ByteSink&) {
  return Status::Unsupported(uri() + " keeps one version of each object: no version " + version_id +
                             " of " + key);
}

Result<ObjectInfo> PutString(ObjectStore& store, const std::string& key, const std::string& data,
                             const PutOptions& options) {
  BufferSource src(data);
  return store.Put(key, src, options);
}

Result<std::string> GetString(ObjectStore& store, const std::string& key, ByteRange range) {
  std::string out;
  CAIRN_RETURN_IF_ERROR(store.Get(
      key,
      [&](const uint8_t* d, size_t n) {
        out.append(reinterpret_cast<const char*>(d), n);
        return Status::OK();
      },
      range));
  return out;
}

}  // namespace cairn
