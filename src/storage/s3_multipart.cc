#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "s3_internal.h"

namespace cairn::s3 {
namespace {

constexpr int kMaxParts = 10000;

// One part: its bytes in memory, or (data empty, source positional) a range of the source read
// while it is sent.
struct Part {
  int number = 0;
  std::string data;
  uint64_t offset = 0, size = 0;
};

class Upload {
 public:
  Upload(Connection& conn, const std::string& key, const ByteSource* positional = nullptr)
      : conn_(conn), key_(key), source_(positional) {}

  Status Start() {
    Connection::Call call{"POST", key_};
    call.query = {{"uploads", ""}};
    call.idempotent = false;
    CAIRN_ASSIGN_OR_RETURN(auto sse, SseHeaders(conn_.options()));
    call.headers.insert(call.headers.end(), sse.begin(), sse.end());
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
    if (resp.status != 200) return ErrorFromResponse(resp, "start multipart upload");
    upload_id_ = XmlFirst(resp.body, "UploadId");
    if (upload_id_.empty()) return Status::IOError("start multipart upload: no UploadId");
    return Status::OK();
  }

  // Producer side: blocks while the queue is full; false once a worker has failed.
  bool Push(Part part) {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return queue_.size() < limit_ || !error_.ok(); });
    if (!error_.ok()) return false;
    queue_.push_back(std::move(part));
    ready_.notify_one();
    return true;
  }

  void Run(int threads) {
    limit_ = static_cast<size_t>(threads);
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }

  // Stops the workers after the queue drains (or at once after a failure).
  Status Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    ready_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    return error_;
  }

  void Fail(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = std::move(st);
    room_.notify_all();
  }

  Result<std::string> Complete(const PutOptions& options) {
    std::string xml = "<CompleteMultipartUpload>";
    for (const auto& [n, etag] : etags_) {
      xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>\"" + XmlEscape(etag) +
             "\"</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    Connection::Call call{"POST", key_};
    call.query = {{"uploadId", upload_id_}};
    call.body = reinterpret_cast<const uint8_t*>(xml.data());
    call.body_size = xml.size();
    call.headers.emplace_back("Content-Type", "application/xml");
    if (options.condition == PutOptions::Condition::kIfAbsent) {
      call.headers.emplace_back("If-None-Match", "*");
    } else if (options.condition == PutOptions::Condition::kIfMatch) {
      call.headers.emplace_back("If-Match", options.if_match);
    }
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn_.Send(call));
    // S3 may answer 200 and still report an error in the body.
    if (resp.status != 200 || resp.body.find("<Error>") != std::string::npos) {
      if (resp.status == 200) resp.status = 500;
      return ErrorFromResponse(resp, "complete multipart upload");
    }
    std::string etag = Unquote(XmlFirst(resp.body, "ETag"));
    if (etag.empty()) etag = Unquote(resp.Header("etag"));
    if (etag.empty()) {
      // Ceph RGW 16 answers with an empty <ETag/>: ask for it.
      CAIRN_ASSIGN_OR_RETURN(auto head, conn_.Send({"HEAD", key_}));
      etag = Unquote(head.Header("etag"));
    }
    return etag;
  }

  void Abort() {
    if (upload_id_.empty()) return;
    Connection::Call call{"DELETE", key_};
    call.query = {{"uploadId", upload_id_}};
    (void)conn_.Send(call);  // best effort; S3 lifecycle rules can clean up the rest
  }

 private:
  void Work() {
    for (;;) {
      Part job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !queue_.empty() || done_ || !error_.ok(); });
        if (!error_.ok() || queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        room_.notify_one();
      }
      Connection::Call call{"PUT", key_};
      call.query = {{"partNumber", std::to_string(job.number)}, {"uploadId", upload_id_}};
      const net::BodyReader reader = [&](uint64_t off, uint8_t* buf, size_t n) {
        return source_->ReadAt(job.offset + off, buf, n);
      };
      if (job.data.empty() && source_ != nullptr) {
        call.body_reader = &reader;
        call.body_size = job.size;
      } else {
        call.body = reinterpret_cast<const uint8_t*>(job.data.data());
        call.body_size = job.data.size();
      }
      auto resp = conn_.Send(call);
      if (resp.ok() && resp->status != 200) {
        resp = ErrorFromResponse(*resp, "upload part " + std::to_string(job.number));
      }
      if (!resp.ok()) {
        Fail(resp.status());
        ready_.notify_all();
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      etags_[job.number] = Unquote(resp->Header("etag"));
    }
  }

  Connection& conn_;
  std::string key_, upload_id_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  const ByteSource* source_;
  std::deque<Part> queue_;
  size_t limit_ = 1;
  bool done_ = false;
  Status error_;
  std::map<int, std::string> etags_;
  std::vector<std::thread> workers_;
};

// Waits for the parts, then completes the upload (its ETag and `size`), or aborts it.
Result<std::pair<std::string, uint64_t>> Conclude(Upload& up, const PutOptions& options,
                                                  uint64_t size) {
  Status st = up.Finish();
  if (!st.ok()) {
    up.Abort();
    return st;
  }
  auto etag = up.Complete(options);
  if (!etag.ok()) {
    up.Abort();
    return etag.status();
  }
  return std::make_pair(*etag, size);
}

}  // namespace

Result<std::pair<std::string, uint64_t>> MultipartPut(Connection& conn, const std::string& key,
                                                      ByteSource& source, std::string first,
                                                      const PutOptions& options) {
  Upload up(conn, key);
  CAIRN_RETURN_IF_ERROR(up.Start());
  const size_t part = conn.options().part_size;
  uint64_t total = first.size();
  up.Run(std::max(1, conn.options().concurrency));
  int number = 1;
  Status read_error;
  if (up.Push(Part{number, std::move(first)})) {
    for (;;) {
      std::string buf(part, '\0');
      size_t got = 0;
      while (got < part) {
        auto n = source.Read(reinterpret_cast<uint8_t*>(buf.data()) + got, part - got);
        if (!n.ok()) {
          read_error = n.status();
          break;
        }
        if (*n == 0) break;
        got += *n;
      }
      if (!read_error.ok() || got == 0) break;
      if (++number > kMaxParts) {
        read_error =
            Status::InvalidArgument("object needs more than 10000 parts; raise the part size");
        break;
      }
      buf.resize(got);
      total += got;
      if (!up.Push(Part{number, std::move(buf)})) break;
      if (got < part) break;
    }
  }
  if (!read_error.ok()) up.Fail(read_error);
  return Conclude(up, options, total);
}

Result<std::pair<std::string, uint64_t>> MultipartPutAt(Connection& conn, const std::string& key,
                                                        const ByteSource& source, uint64_t size,
                                                        const PutOptions& options) {
  const uint64_t part = conn.options().part_size;
  if ((size + part - 1) / part > kMaxParts)
    return Status::InvalidArgument("object needs more than 10000 parts; raise the part size");
  Upload up(conn, key, &source);
  CAIRN_RETURN_IF_ERROR(up.Start());
  up.Run(std::max(1, conn.options().concurrency));
  int number = 0;
  for (uint64_t off = 0; off < size; off += part) {
    if (!up.Push(Part{++number, "", off, std::min(part, size - off)})) break;
  }
  return Conclude(up, options, size);
}

}  // namespace cairn::s3
