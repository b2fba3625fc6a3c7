#include "chunk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "cairn/core/file.h"

namespace cairn::registry {

std::string ChunkCache::DefaultDir() {
  if (const char* d = std::getenv("CAIRN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/cairn/chunks";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/cairn/chunks";
}

bool ChunkCache::Get(const std::string& sha256, uint8_t* dest, uint64_t size) const {
  UniqueFd fd(::open(Path(sha256).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) return false;
  for (uint64_t off = 0; off < size;) {
    ssize_t n = ::pread(fd.get(), dest + off, size - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<uint64_t>(n);
  }
  return true;
}

void ChunkCache::Put(const std::string& sha256, const uint8_t* data, uint64_t size) const {
  const std::string path = Path(sha256);
  std::error_code ec;
  std::filesystem::create_directories(path.substr(0, path.find_last_of('/')), ec);
  const std::string tmp = path + ".tmp-" + std::to_string(std::random_device{}());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return;
    for (uint64_t off = 0; off < size;) {
      ssize_t n = ::write(fd.get(), data + off, size - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::unlink(tmp.c_str());
        return;
      }
      off += static_cast<uint64_t>(n);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

void ChunkCache::Drop(const std::string& sha256) const { ::unlink(Path(sha256).c_str()); }

}  // namespace cairn::registry
