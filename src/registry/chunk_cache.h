// Private to the registry: a local content-addressed cache of chunks, shared by all versions
// and processes (files named by SHA-256, written under a temporary name then renamed, so
// readers see a whole chunk or none). Entries are checked by the caller's SHA-256 verification;
// a bad one is dropped and fetched again.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/core/status.h"

namespace cairn::registry {

class ChunkCache {
 public:
  explicit ChunkCache(std::string dir) : dir_(std::move(dir)) {}

  // Reads the chunk into dest if the cache has it with exactly `size` bytes.
  bool Get(const std::string& sha256, uint8_t* dest, uint64_t size) const;
  // Stores a verified chunk (best effort: a full disk only costs a later fetch).
  void Put(const std::string& sha256, const uint8_t* data, uint64_t size) const;
  void Drop(const std::string& sha256) const;

  // $CAIRN_CACHE_DIR, else $XDG_CACHE_HOME/cairn/chunks, else ~/.cache/cairn/chunks.
  static std::string DefaultDir();

 private:
  std::string Path(const std::string& sha256) const {
    return dir_ + "/" + sha256.substr(0, 2) + "/" + sha256;
  }
  std::string dir_;
};

}  // namespace cairn::registry
