// Small RAII file helpers: an owned fd, a read-only mapping, and a writer that never leaves a
// half-written file under its final name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/core/status.h"

namespace cairn {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

// A whole file mapped read-only (MAP_PRIVATE). Held by shared_ptr so that tensors pointing into
// it keep it alive. Thread-safe to read. An empty file maps to data() == nullptr, size() == 0.
// The bytes may change underneath if another process rewrites the file in place; cairn's own
// writers never do (they write a new file and rename it).
class MappedFile {
 public:
  static Result<std::shared_ptr<const MappedFile>> Open(const std::string& path);
  // Bytes already in memory, presented the same way (for tests, fuzzers and downloads).
  static std::shared_ptr<const MappedFile> FromString(std::string bytes, std::string name);
  // Presents `size` bytes at `data`, kept alive by `owner` (e.g. from BufferPool).
  static std::shared_ptr<const MappedFile> FromMemory(const uint8_t* data, size_t size,
                                                      std::shared_ptr<const void> owner,
                                                      std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  std::string owned_;                  // FromString's bytes
  std::shared_ptr<const void> owner_;  // keeps FromMemory's bytes alive
  bool mapped_ = false;
};

// Writes a file under a temporary name in the target's directory; Commit() fsyncs it and renames
// it over `path`. Destroyed without Commit(), it removes the temporary file: a crash or an error
// never leaves a partial file under the final name.
class AtomicFileWriter {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> Create(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status Append(const void* data, size_t size);
  Status Append(std::string_view s) { return Append(s.data(), s.size()); }
  // Writes at an absolute offset without moving the append position (for parallel writers).
  Status WriteAt(uint64_t offset, const void* data, size_t size);
  uint64_t position() const { return pos_; }
  // Moves the append position (the file grows when data is written past its end).
  void Seek(uint64_t pos) { pos_ = pos; }
  // Renames the file into place. With `sync` (the default) the data is fsynced first, so the file
  // survives a power cut once Commit returns; without it, only a crash of the process.
  Status Commit(bool sync = true);

 private:
  AtomicFileWriter() = default;
  UniqueFd fd_;
  std::string path_, tmp_path_;
  uint64_t pos_ = 0;
  bool committed_ = false;
};

Result<std::string> ReadFileToString(const std::string& path);
// Writes `contents` to `path` atomically (temporary file, fsync, rename).
Status WriteFileAtomically(const std::string& path, std::string_view contents);

}  // namespace cairn
