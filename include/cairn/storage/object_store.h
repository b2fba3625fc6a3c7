// ObjectStore: the seam between cairn and where its bytes live (a local directory, any S3).
//
// Keys are '/'-separated paths relative to the store's root: non-empty, at most 1024 bytes, no
// leading '/', no empty, "." or ".." segments, no NUL (ValidateKey). Every method is safe to call
// from several threads at once, and several processes may use one store concurrently.
//
// Errors callers can tell apart (Status::Code): kNotFound (no such object), kPreconditionFailed
// (a conditional put lost), kPermissionDenied (credentials or file modes), kTransient (retrying
// may succeed), kInvalidArgument (a bad key or range); anything else is kIOError.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/core/byte_sink.h"
#include "cairn/core/sha256.h"
#include "cairn/core/status.h"

namespace cairn {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;      // opaque; changes whenever the object is written
  int64_t mtime_ms = 0;  // last modification, milliseconds since the epoch
};

// Bytes in [offset, offset + length); length unset means "to the end".
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

// Told how many more bytes have been transferred; may be called from several threads at once.
using ProgressFn = std::function<void(uint64_t bytes)>;

struct DownloadOptions {
  ProgressFn progress;
  // fsync the file before it is renamed into place (survives a power cut). Without it the file
  // still never appears half-written, but a power cut may lose it, as with most copy tools.
  bool sync = true;
};

// Where a put reads its bytes from.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes; 0 means the end. Called from one thread at a time.
  virtual Result<size_t> Read(uint8_t* buf, size_t size) = 0;
  // The total size when known in advance (files, buffers).
  virtual std::optional<uint64_t> size() const { return std::nullopt; }
  // Positional reads, safe from several threads at once, for sources that have them (files,
  // buffers; `positional()` says so): parallel uploads then read each part straight from the
  // source when it is sent, with no copy held in memory. Independent of Read's position.
  virtual bool positional() const { return false; }
  virtual Result<size_t> ReadAt(uint64_t offset, uint8_t* buf, size_t size) const;
};

// A source over a file (read with pread; the file is opened by Open).
class FileSource : public ByteSource {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  Result<size_t> Read(uint8_t* buf, size_t size) override;
  std::optional<uint64_t> size() const override { return size_; }
  bool positional() const override { return true; }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buf, size_t size) const override;

 private:
  FileSource() = default;
  int fd_ = -1;
  uint64_t size_ = 0, pos_ = 0;
  std::string path_;
};

// A source over bytes in memory (not copied; they must outlive the source).
class BufferSource : public ByteSource {
 public:
  BufferSource(const void* data, size_t size)
      : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  explicit BufferSource(const std::string& s) : BufferSource(s.data(), s.size()) {}
  Result<size_t> Read(uint8_t* buf, size_t size) override;
  std::optional<uint64_t> size() const override { return size_; }
  bool positional() const override { return true; }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buf, size_t size) const override;

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

struct PutOptions {
  enum class Condition { kNone, kIfAbsent, kIfMatch };
  // kIfAbsent: fail with kPreconditionFailed if the key exists (S3's If-None-Match: *).
  // kIfMatch: fail with kPreconditionFailed unless the key exists with etag `if_match`.
  Condition condition = Condition::kNone;
  std::string if_match;
  std::string content_type = "application/octet-stream";
  // Durable when Put returns (fsync on a local store). With false, durability waits for the
  // next Sync(): for writing many objects and paying for one barrier.
  bool sync = true;

  static PutOptions IfAbsent() {
    PutOptions o;
    o.condition = Condition::kIfAbsent;
    return o;
  }
  static PutOptions IfMatch(std::string etag) {
    PutOptions o;
    o.condition = Condition::kIfMatch;
    o.if_match = std::move(etag);
    return o;
  }
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The URI this store was opened with, e.g. "file:///srv/models" or "s3://bucket/prefix".
  virtual std::string uri() const = 0;

  // Size, etag and time of one object. kNotFound when there is none.
  virtual Result<ObjectInfo> Head(const std::string& key) = 0;

  // Streams the object's bytes (or a range of them) into `sink`, never holding the whole object
  // in memory. kNotFound when there is none; kInvalidArgument for a range starting past the end.
  // If the sink fails, its error is returned and the transfer stops.
  virtual Status Get(const std::string& key, const ByteSink& sink, ByteRange range = {}) = 0;

  // Writes the object atomically: readers see the old object or the new one, never a part; a
  // put that fails (source error, crash, lost condition) leaves the old state untouched.
  virtual Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                                 const PutOptions& options = {}) = 0;

  // Every object whose key starts with `prefix` (all pages), sorted by key.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix) = 0;

  // Removes the object. Deleting a key that does not exist succeeds (as on S3).
  virtual Status Delete(const std::string& key) = 0;

  // Makes every put so far durable (on a local store: syncfs). A no-op where every put already
  // is (S3 acknowledges a PUT only once it is stored).
  virtual Status Sync() { return Status::OK(); }

  // Reads the whole object into `dest`, which has room for exactly `size` bytes; an object of
  // another size is kCorrupt. The default goes through Get; the local store preads straight in.
  // With `hash`, every byte is also fed to it, in order, right after it lands in `dest` (while
  // it is still in the CPU's cache: a verified read costs little more than the hash alone).
  virtual Status GetInto(const std::string& key, uint8_t* dest, uint64_t size,
                         Sha256* hash = nullptr);

  // Streams one version of the object (S3 versioning: GET ?versionId=), whichever is current.
  // kNotFound when the key has no such version; kUnsupported for a store without versions (the
  // default: the local store keeps one version of each key).
  virtual Status GetVersion(const std::string& key, const std::string& version_id,
                            const ByteSink& sink);

  // Whether a Delete leaves the object's bytes behind as noncurrent object versions (an S3
  // bucket with versioning that honours conditional headers, so cairn deletes as usual): the
  // space then comes back only through the bucket's lifecycle rule. False by default.
  virtual bool DeleteKeepsVersions() { return false; }

  // Copies the object into a local file: written under a temporary name, then renamed, so `path`
  // never holds a partial file. Returns the object's info. Stores may fetch parts in parallel
  // (S3 does); the default streams Get into the file.
  virtual Result<ObjectInfo> Download(const std::string& key, const std::string& path,
                                      const DownloadOptions& options = {});

 protected:
  ObjectStore() = default;
};

// Checks a key against the rules above; the message names the key and the rule it breaks.
Status ValidateKey(const std::string& key);

// Where an object lives, split from a URI: "s3://bucket/a/b" -> store "s3://bucket", key
// "a/b"; anything else ("file:///x", "x/y") is a local path -> store "", key = the path.
struct ObjectLocation {
  std::string store_uri;
  std::string key;
  // "s3://bucket/key?versionId=V": one object version, pinned (S3's versioning; the URI form
  // is the one AWS's consoles print). "" = the current object.
  std::string version_id;
  bool remote() const { return !store_uri.empty(); }
};
ObjectLocation SplitObjectUri(const std::string& uri);

// Opens a store by URI: "file:///abs/path", a plain path (relative or absolute), or
// "s3://bucket[/prefix]". A local directory is created if missing.
Result<std::unique_ptr<ObjectStore>> OpenStore(const std::string& uri);

// Convenience wrappers.
Result<ObjectInfo> PutString(ObjectStore& store, const std::string& key, const std::string& data,
                             const PutOptions& options = {});
Result<std::string> GetString(ObjectStore& store, const std::string& key, ByteRange range = {});

}  // namespace cairn
