// Private to the storage layer: pieces of the S3 store shared by its files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cairn/core/text.h"
#include "cairn/net/http_client.h"
#include "cairn/storage/s3_store.h"

namespace cairn::s3 {

// The text of every <tag>...</tag> in an XML body, entities decoded (S3's XML is flat enough).
std::vector<std::string> XmlAll(const std::string& xml, const std::string& tag);
std::string XmlFirst(const std::string& xml, const std::string& tag);

// Turns a non-2xx response into the Status kinds of object_store.h, with S3's error code and
// message: 404 kNotFound, 403 kPermissionDenied, 412 kPreconditionFailed, 5xx/429/409
// kTransient, 400/416 kInvalidArgument.
Status ErrorFromResponse(const net::Response& resp, const std::string& what);

// RFC 1123 ("Wed, 21 Oct 2015 07:28:00 GMT") or ISO 8601 ("2015-10-21T07:28:00.000Z") to
// milliseconds since the epoch; 0 if it does not parse.
int64_t ParseHttpTime(const std::string& s);

// Sleeps before retry number `attempt` (1-based): full jitter over min(5 s, 100 ms * 2^n).
void Backoff(int attempt);

// Removes the quotes around an ETag.
std::string Unquote(const std::string& etag);

// The connection and signing half of the store: builds, signs and sends requests with retries.
class Connection {
 public:
  Connection(std::string bucket, S3Options options);

  struct Call {
    std::string method;
    std::string key;  // full key in the bucket ("" for bucket-level calls)
    std::vector<std::pair<std::string, std::string>> query;
    net::Headers headers;
    const uint8_t* body = nullptr;
    size_t body_size = 0;
    const net::BodyReader* body_reader = nullptr;  // instead of body: see net::Request
    const ByteSink* sink = nullptr;
    bool idempotent = true;
  };
  // Sends the call, retrying idempotent ones on transient failures; returns any HTTP response.
  Result<net::Response> Send(const Call& call);

  const std::string& bucket() const { return bucket_; }
  const std::string& endpoint() const { return scheme_host_; }
  const S3Options& options() const { return options_; }

 private:
  std::string bucket_;
  S3Options options_;
  std::string scheme_host_;  // "http://127.0.0.1:7480"
  std::string host_;         // "127.0.0.1:7480"
  net::Client client_;
};

// How conditional writes are made on a bucket: with the headers (kHeaders), or, on a versioned
// bucket that ignores them, by "the oldest object version wins" (s3_versioned.cc).
enum class WriteMode { kHeaders, kOldestVersionWins };

// kHeaders if the bucket honours If-None-Match: * and If-Match on PUT, kOldestVersionWins if it
// ignores them but keeps object versions (probed once per bucket and process with a throwaway
// key under `prefix`, removed afterwards, versions included);
// kUnsupported, saying why and what to do, if it does not (Ceph RGW with versioning enabled);
// the store's error if it could not be asked (asked again next time). s3_conditional.cc.
Result<WriteMode> CheckConditionalWrites(Connection& conn, const std::string& prefix);
// The verdict of an earlier CheckConditionalWrites in this process, if there was one.
std::optional<WriteMode> KnownWriteMode(Connection& conn);

// GetBucketVersioning's Status: "Enabled", "Suspended" or "" (never enabled).
Result<std::string> VersioningStatus(Connection& conn);

// Whether the bucket keeps object versions (versioning Enabled or Suspended): GET ?versioning,
// once per bucket and process; true when it cannot be told (readers then only check more).
bool BucketVersioned(Connection& conn);

// One entry of ListObjectVersions for a key.
struct KeyVersion {
  std::string id, etag;
  bool delete_marker = false;
  int64_t modified_ms = 0;  // LastModified
};
// The versions and delete markers of exactly `key` (a full key), newest first, every page.
Result<std::vector<KeyVersion>> ListKeyVersions(Connection& conn, const std::string& key);
// On a versioned bucket: the version of `key` a read must see. "" when the current version is
// plain (read it as is); the id of the version that counts when the current one was written by
// the oldest-version-wins protocol (it may have lost); kNotFound when none counts.
Result<std::string> VersionToRead(Connection& conn, const std::string& key);
// After a conditional PUT made version `mine` of `key` by the oldest-version-wins protocol: OK if
// it counts; otherwise it is removed and kPreconditionFailed returned, as the headers would have.
// `started_ms` (NowMs before the PUT): a settle running past a minute reports kTransient, the
// outcome unknown, so that no writer still settles when others prune (after two minutes).
Status SettleConditionalWrite(Connection& conn, const std::string& key, const std::string& mine,
                              const PutOptions& options, int64_t started_ms);
// Deletes `key` for good on a versioned bucket: a delete marker, then every version older than
// it (oldest first). The marker stays (no data: an if-match write that comes late then finds
// the key deleted); versions written after it are kept.
Status DeleteAllVersions(Connection& conn, const std::string& key);

// Uploads one object as a multipart upload: `first` holds the first part, the rest is read from
// `source` part by part; parts go up on options().concurrency threads, with at most that many
// parts held in memory beyond those in flight. Any failure aborts the upload (nothing is left
// behind). The condition, if any, is sent with the completing request. Returns the new object's
// ETag and size.
Result<std::pair<std::string, uint64_t>> MultipartPut(Connection& conn, const std::string& key,
                                                      ByteSource& source, std::string first,
                                                      const PutOptions& options);
// The same for a positional source of `size` bytes: no part is held in memory, each is read
// from the source (ByteSource::ReadAt) while it is sent, and read again if it is resent.
Result<std::pair<std::string, uint64_t>> MultipartPutAt(Connection& conn, const std::string& key,
                                                        const ByteSource& source, uint64_t size,
                                                        const PutOptions& options);

}  // namespace cairn::s3
