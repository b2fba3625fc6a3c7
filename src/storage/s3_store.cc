#include "cairn/storage/s3_store.h"

#include <algorithm>

#include "cairn/core/clock.h"
#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "s3_internal.h"

namespace cairn {
namespace {

class S3Store final : public ObjectStore {
 public:
  S3Store(std::string bucket, std::string prefix, S3Options options)
      : conn_(std::move(bucket), std::move(options)), prefix_(std::move(prefix)) {}

  std::string uri() const override {
    return "s3://" + conn_.bucket() +
           (prefix_.empty() ? "" : "/" + prefix_.substr(0, prefix_.size() - 1));
  }

  Result<ObjectInfo> Head(const std::string& key) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    CAIRN_ASSIGN_OR_RETURN(std::string version, ReadVersion(key));
    s3::Connection::Call call{"HEAD", Full(key)};
    if (!version.empty()) call.query = {{"versionId", version}};
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
    if (resp.status != 200) return ErrorFor(resp, "HEAD", key);
    return ObjectInfo{key, std::strtoull(resp.Header("content-length").c_str(), nullptr, 10),
                      s3::Unquote(resp.Header("etag")),
                      s3::ParseHttpTime(resp.Header("last-modified"))};
  }

  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override;
  Status GetVersion(const std::string& key, const std::string& version_id,
                    const ByteSink& sink) override;
  Result<ObjectInfo> Put(const std::string& key, ByteSource& source,
                         const PutOptions& options) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix) override;
  Result<ObjectInfo> Download(const std::string& key, const std::string& path,
                              const DownloadOptions& options) override;

  bool DeleteKeepsVersions() override {
    return s3::KnownWriteMode(conn_) != s3::WriteMode::kOldestVersionWins &&
           s3::BucketVersioned(conn_);
  }

  Status Delete(const std::string& key) override {
    CAIRN_RETURN_IF_ERROR(ValidateKey(key));
    // Where writes are settled by versions, a plain DELETE would only hide the object behind a
    // delete marker: its versions go too (elsewhere versioning is the bucket owner's safety net,
    // and noncurrent versions are left to their lifecycle rules).
    if (s3::KnownWriteMode(conn_) == s3::WriteMode::kOldestVersionWins)
      return s3::DeleteAllVersions(conn_, Full(key)).WithContext("delete " + uri() + "/" + key);
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send({"DELETE", Full(key)}));
    if (resp.status == 204 || resp.status == 200 || resp.status == 404) return Status::OK();
    return ErrorFor(resp, "DELETE", key);
  }

 private:
  std::string Full(const std::string& key) const { return prefix_ + key; }
  // The object version a read of `key` sees: "" (the current one) unless the bucket keeps
  // versions and the current one was written by the oldest-version-wins protocol.
  Result<std::string> ReadVersion(const std::string& key) {
    if (s3::KnownWriteMode(conn_) == s3::WriteMode::kHeaders || !s3::BucketVersioned(conn_))
      return std::string();
    auto v = s3::VersionToRead(conn_, Full(key));
    if (v.status().code() == Status::Code::kNotFound)
      return Status::NotFound("no object '" + key + "' in " + uri());
    return v;
  }
  Status ErrorFor(const net::Response& resp, const std::string& op, const std::string& key) const {
    Status st = s3::ErrorFromResponse(resp, op + " " + uri() + "/" + key);
    if (resp.status == 404 && op == "HEAD")
      return Status::NotFound("no object '" + key + "' in " + uri());
    return st;
  }
  Status GetImpl(const std::string& key, const std::string& version_id, const ByteSink& sink,
                 ByteRange range);
  Result<ObjectInfo> PutSingle(const std::string& key, const std::string& body,
                               const PutOptions& options, s3::WriteMode mode);
  Result<ObjectInfo> PutMultipart(const std::string& key, ByteSource& source, std::string first,
                                  const PutOptions& options);

  s3::Connection conn_;
  std::string prefix_;  // "" or ending in '/'
};

Status S3Store::Get(const std::string& key, const ByteSink& sink, ByteRange range) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  CAIRN_ASSIGN_OR_RETURN(std::string version, ReadVersion(key));
  return GetImpl(key, version, sink, range);
}

Status S3Store::GetVersion(const std::string& key, const std::string& version_id,
                           const ByteSink& sink) {
  if (version_id.empty()) return Status::InvalidArgument("an empty versionId for " + key);
  return GetImpl(key, version_id, sink, {});
}

Status S3Store::GetImpl(const std::string& key, const std::string& version_id, const ByteSink& sink,
                        ByteRange range) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  // Retries resume where the last attempt stopped, so the sink never sees a byte twice.
  uint64_t delivered = 0;
  bool sink_failed = false;
  ByteSink counting = [&](const uint8_t* d, size_t n) {
    Status st = sink(d, n);
    if (!st.ok()) sink_failed = true;
    delivered += n;
    return st;
  };
  const int attempts = conn_.options().max_attempts;
  for (int attempt = 1;; ++attempt) {
    s3::Connection::Call call{"GET", Full(key)};
    if (!version_id.empty()) call.query = {{"versionId", version_id}};
    call.sink = &counting;
    call.idempotent = false;  // this loop does the retrying
    const uint64_t start = range.offset + delivered;
    if (range.length && delivered >= *range.length) return Status::OK();
    if (start > 0 || range.length) {
      std::string r = "bytes=" + std::to_string(start) + "-";
      if (range.length) r += std::to_string(range.offset + *range.length - 1);
      call.headers.emplace_back("Range", r);
    }
    auto resp = conn_.Send(call);
    Status st;
    if (!resp.ok()) {
      st = resp.status();
      if (sink_failed) return st;
    } else if (resp->status == 200 || resp->status == 206) {
      return Status::OK();
    } else if (resp->status == 416 && delivered > 0) {
      return Status::OK();  // resumed exactly at the end
    } else {
      st = ErrorFor(*resp, "GET", key);
      if (resp->status == 404)
        st = Status::NotFound(version_id.empty() ? "no object '" + key + "' in " + uri()
                                                 : "no version " + version_id + " of object '" +
                                                       key + "' in " + uri());
      if (resp->status == 400 && !version_id.empty())
        st = Status::NotFound("no version " + version_id + " of object '" + key + "' in " + uri() +
                              " (" + st.message() + ")");
    }
    if (st.code() != Status::Code::kTransient || attempt >= attempts) return st;
    s3::Backoff(attempt);
  }
}

Result<ObjectInfo> S3Store::Put(const std::string& key, ByteSource& source,
                                const PutOptions& options) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  s3::WriteMode mode = s3::WriteMode::kHeaders;
  if (options.condition != PutOptions::Condition::kNone) {
    CAIRN_ASSIGN_OR_RETURN(mode, s3::CheckConditionalWrites(conn_, prefix_));
  }
  const bool settled = mode == s3::WriteMode::kOldestVersionWins;
  const size_t part = conn_.options().part_size;
  // A file (or buffer) larger than a part: each part is read from it as it is sent.
  if (!settled && source.positional() && source.size() && *source.size() > part) {
    auto r = s3::MultipartPutAt(conn_, Full(key), source, *source.size(), options);
    if (!r.ok()) return r.status().WithContext("PUT " + uri() + "/" + key);
    return ObjectInfo{key, r->second, r->first, 0};
  }
  // Read up to one part: if the source ends within it, a single PUT is enough.
  std::string first(part, '\0');
  size_t got = 0;
  while (got < part) {
    CAIRN_ASSIGN_OR_RETURN(size_t n,
                           source.Read(reinterpret_cast<uint8_t*>(first.data()) + got, part - got));
    if (n == 0) break;
    got += n;
  }
  first.resize(got);
  if (got < part) return PutSingle(key, first, options, mode);
  if (settled)
    return Status::Unsupported("a conditional write of more than one part (" +
                               std::to_string(part) + " bytes) to versioned bucket '" +
                               conn_.bucket() + "' (settled by object versions)");
  return PutMultipart(key, source, std::move(first), options);
}

Result<ObjectInfo> S3Store::PutSingle(const std::string& key, const std::string& body,
                                      const PutOptions& options, s3::WriteMode mode) {
  s3::Connection::Call call{"PUT", Full(key)};
  call.body = reinterpret_cast<const uint8_t*>(body.data());
  call.body_size = body.size();
  call.headers.emplace_back("Content-Type", options.content_type);
  CAIRN_ASSIGN_OR_RETURN(auto sse, SseHeaders(conn_.options()));
  call.headers.insert(call.headers.end(), sse.begin(), sse.end());
  if (mode == s3::WriteMode::kOldestVersionWins) {
    // A plain PUT marked with its condition, settled by the key's versions afterwards.
    const bool absent = options.condition == PutOptions::Condition::kIfAbsent;
    call.headers.emplace_back("x-amz-meta-cairn-write", absent ? "if-absent" : "if-match");
    if (!absent) call.headers.emplace_back("x-amz-meta-cairn-replaces", options.if_match);
    call.idempotent = false;
    const int64_t started = NowMs();
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
    if (resp.status != 200) return ErrorFor(resp, "PUT", key);
    CAIRN_RETURN_IF_ERROR(s3::SettleConditionalWrite(
                              conn_, Full(key), resp.Header("x-amz-version-id"), options, started)
                              .WithContext("PUT " + uri() + "/" + key));
    return ObjectInfo{key, body.size(), s3::Unquote(resp.Header("etag")),
                      s3::ParseHttpTime(resp.Header("date"))};
  }
  if (options.condition == PutOptions::Condition::kIfAbsent) {
    call.headers.emplace_back("If-None-Match", "*");
    call.idempotent = false;  // a lost reply then a retry would report our own write as a loss
  } else if (options.condition == PutOptions::Condition::kIfMatch) {
    // Unquoted: Ceph RGW 16 compares the raw header with its unquoted ETag.
    call.headers.emplace_back("If-Match", options.if_match);
    call.idempotent = false;
  }
  CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
  if (resp.status == 412) {
    return Status::PreconditionFailed(options.condition == PutOptions::Condition::kIfAbsent
                                          ? "object '" + key + "' already exists in " + uri()
                                          : "object '" + key + "' does not have etag " +
                                                options.if_match);
  }
  if (resp.status != 200) return ErrorFor(resp, "PUT", key);
  return ObjectInfo{key, body.size(), s3::Unquote(resp.Header("etag")),
                    s3::ParseHttpTime(resp.Header("date"))};
}

Result<std::vector<ObjectInfo>> S3Store::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    s3::Connection::Call call{"GET", ""};
    call.query = {{"list-type", "2"}, {"prefix", Full(prefix)}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
    if (resp.status != 200) return ErrorFor(resp, "LIST", prefix);
    for (const std::string& item : s3::XmlAll(resp.body, "Contents")) {
      std::string key = s3::XmlFirst(item, "Key");
      if (key.compare(0, prefix_.size(), prefix_) != 0) continue;
      out.push_back(ObjectInfo{key.substr(prefix_.size()),
                               std::strtoull(s3::XmlFirst(item, "Size").c_str(), nullptr, 10),
                               s3::Unquote(s3::XmlFirst(item, "ETag")),
                               s3::ParseHttpTime(s3::XmlFirst(item, "LastModified"))});
    }
    if (s3::XmlFirst(resp.body, "IsTruncated") != "true") break;
    token = s3::XmlFirst(resp.body, "NextContinuationToken");
    if (token.empty()) return Status::IOError("LIST " + uri() + ": truncated page without a token");
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return out;
}

Result<ObjectInfo> S3Store::Download(const std::string& key, const std::string& path,
                                     const DownloadOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  const uint64_t part = conn_.options().part_size;
  if (info.size <= part) return ObjectStore::Download(key, path, options);
  // Parallel ranged GETs, each written straight to its place in the file. If-Match pins every
  // range to the version that HEAD saw: an object replaced meanwhile fails the download.
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(path));
  const size_t ranges = static_cast<size_t>((info.size + part - 1) / part);
  Status st = ParallelFor(
      ranges,
      [&](size_t i) -> Status {
        const uint64_t begin = i * part, len = std::min<uint64_t>(part, info.size - begin);
        uint64_t at = begin;
        ByteSink sink = [&](const uint8_t* d, size_t n) {
          if (at + n > begin + len) return Status::IOError("server sent more than the range");
          Status w = out->WriteAt(at, d, n);
          at += n;
          if (options.progress) options.progress(n);
          return w;
        };
        for (int attempt = 1;; ++attempt) {
          s3::Connection::Call call{"GET", Full(key)};
          call.sink = &sink;
          call.idempotent = false;
          call.headers = {
              {"Range", "bytes=" + std::to_string(at) + "-" + std::to_string(begin + len - 1)},
              {"If-Match", info.etag}};
          auto resp = conn_.Send(call);
          Status r;
          if (resp.ok() && resp->status == 206 && at == begin + len) return Status::OK();
          if (resp.ok() && resp->status == 412) {
            return Status::PreconditionFailed(key + " changed while it was downloaded");
          }
          r = !resp.ok()            ? resp.status()
              : resp->status == 206 ? Status::Transient("short range")
                                    : ErrorFor(*resp, "GET", key);
          if (r.code() != Status::Code::kTransient || attempt >= conn_.options().max_attempts) {
            return r;
          }
          s3::Backoff(attempt);
        }
      },
      static_cast<size_t>(std::max(1, conn_.options().concurrency)));
  if (!st.ok()) return st.WithContext("download " + uri() + "/" + key);
  out->Seek(info.size);
  CAIRN_RETURN_IF_ERROR(out->Commit(options.sync));
  return info;
}

Result<ObjectInfo> S3Store::PutMultipart(const std::string& key, ByteSource& source,
                                         std::string first, const PutOptions& options) {
  auto r = s3::MultipartPut(conn_, Full(key), source, std::move(first), options);
  if (!r.ok()) return r.status().WithContext("PUT " + uri() + "/" + key);
  return ObjectInfo{key, r->second, r->first, 0};
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket,
                                                 const std::string& prefix, S3Options options) {
  if (bucket.empty()) return Status::InvalidArgument("S3 URI without a bucket");
  if (options.part_size < (5u << 20)) return Status::InvalidArgument("S3 part size below 5 MiB");
  std::string p = prefix;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty()) {
    CAIRN_RETURN_IF_ERROR(ValidateKey(p));
    p += "/";
  }
  return std::unique_ptr<ObjectStore>(new S3Store(bucket, p, std::move(options)));
}

}  // namespace cairn
