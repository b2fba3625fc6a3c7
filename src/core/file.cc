#include "cairn/core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace cairn {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Result<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(path, errno);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (p == MAP_FAILED) return Status::FromErrno("mmap " + path, errno);
    m->data_ = static_cast<const uint8_t*>(p);
    m->mapped_ = true;
  }
  return std::shared_ptr<const MappedFile>(std::move(m));
}

std::shared_ptr<const MappedFile> MappedFile::FromString(std::string bytes, std::string name) {
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->owned_ = std::move(bytes);
  m->path_ = std::move(name);
  m->size_ = m->owned_.size();
  m->data_ = m->size_ ? reinterpret_cast<const uint8_t*>(m->owned_.data()) : nullptr;
  return m;
}

std::shared_ptr<const MappedFile> MappedFile::FromMemory(const uint8_t* data, size_t size,
                                                         std::shared_ptr<const void> owner,
                                                         std::string name) {
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->owner_ = std::move(owner);
  m->path_ = std::move(name);
  m->size_ = size;
  m->data_ = size ? data : nullptr;
  return m;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(const std::string& path) {
  std::unique_ptr<AtomicFileWriter> w(new AtomicFileWriter());
  w->path_ = path;
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), ".tmp-%08x", rd());
    w->tmp_path_ = path + suffix;
    int fd = ::open(w->tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      w->fd_ = UniqueFd(fd);
      return w;
    }
    if (errno != EEXIST) {
      w->tmp_path_.clear();
      return Status::FromErrno("cannot create a file beside " + path, errno);
    }
  }
  w->tmp_path_.clear();
  return Status::IOError("cannot find a free temporary name beside " + path);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

Status AtomicFileWriter::WriteAt(uint64_t offset, const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_.get(), p, std::min<size_t>(size, 1 << 30), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path_, errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status AtomicFileWriter::Append(const void* data, size_t size) {
  CAIRN_RETURN_IF_ERROR(WriteAt(pos_, data, size));
  pos_ += size;
  return Status::OK();
}

Status AtomicFileWriter::Commit(bool sync) {
  if (committed_) return Status::Internal("AtomicFileWriter committed twice");
  // The file must be as long as the append position even if its tail was only Seek()ed over.
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return Status::FromErrno("stat " + tmp_path_, errno);
  if (static_cast<uint64_t>(st.st_size) < pos_ &&
      ::ftruncate(fd_.get(), static_cast<off_t>(pos_)) != 0) {
    return Status::FromErrno("truncate " + tmp_path_, errno);
  }
  if (sync && ::fsync(fd_.get()) != 0) return Status::FromErrno("fsync " + tmp_path_, errno);
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return Status::FromErrno("rename to " + path_, errno);
  }
  committed_ = true;
  fd_ = UniqueFd();
  return Status::OK();
}

Result<std::string> ReadFileToString(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(path, errno);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  CAIRN_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::Create(path));
  CAIRN_RETURN_IF_ERROR(w->Append(contents));
  return w->Commit();
}

}  // namespace cairn
