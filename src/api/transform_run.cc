// A transform job's run (transform_jobs.h): instances, inputs, batches in flight, outputs.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/core/file.h"
#include "cairn/registry/layout.h"
#include "endpoint_fleet.h"
#include "transform_jobs.h"

namespace cairn::api {

namespace {

constexpr uint64_t kInputRangeBytes = 8 << 20;

struct Input {
  std::shared_ptr<ObjectStore> store;
  std::string key, rel;
};

// A key below a key prefix ("" or "a/b" or "a/b/"), with one slash between.
std::string KeyJoin(std::string prefix, const std::string& rel) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix.empty() ? rel : prefix + "/" + rel;
}

Result<std::shared_ptr<ObjectStore>> StoreFor(const ObjectLocation& loc, const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(auto s, OpenStore(loc.remote() ? loc.store_uri : dir));
  return std::shared_ptr<ObjectStore>(std::move(s));
}

// The objects a TransformInput names: S3Prefix, every key that starts with the prefix (a local
// path: the file, or the files below the folder); ManifestFile, [{"prefix": p}, "key", ...].
// Each output keeps the key's path below the prefix's last '/' (the manifest's keys as given).
Result<std::vector<Input>> ListInputs(const Json& source) {
  const std::string type = source.value("S3DataType", "S3Prefix");
  const std::string uri = source.value("S3Uri", "");
  const ObjectLocation loc = SplitObjectUri(uri);
  std::error_code ec;
  const bool local_dir = !loc.remote() && std::filesystem::is_directory(uri, ec);
  const std::string dir = local_dir ? uri : std::filesystem::path(uri).parent_path().string();
  CAIRN_ASSIGN_OR_RETURN(auto store, StoreFor(loc, dir.empty() ? "." : dir));
  const std::string prefix = loc.remote() ? loc.key
                             : local_dir  ? ""
                                          : std::filesystem::path(uri).filename().string();
  std::vector<Input> out;
  if (type == "ManifestFile") {
    CAIRN_ASSIGN_OR_RETURN(const std::string text, GetString(*store, prefix));
    const Json m = Json::parse(text, nullptr, false);
    if (!m.is_array() || m.empty() || !m[0].is_object() || !m[0].contains("prefix") ||
        !m[0]["prefix"].is_string())
      return Status::InvalidArgument("manifest " + uri +
                                     " must be a JSON array: [{\"prefix\": ...}, \"key\", ...]");
    const ObjectLocation base = SplitObjectUri(m[0]["prefix"].get<std::string>());
    CAIRN_ASSIGN_OR_RETURN(auto data, StoreFor(base, base.key));
    for (size_t i = 1; i < m.size(); ++i) {
      if (!m[i].is_string()) return Status::InvalidArgument("manifest entries are strings");
      const std::string rel = m[i].get<std::string>();
      out.push_back({data, base.remote() ? KeyJoin(base.key, rel) : rel, rel});
    }
    return out;
  }
  if (type != "S3Prefix")
    return Status::InvalidArgument("S3DataType must be S3Prefix or ManifestFile");
  CAIRN_ASSIGN_OR_RETURN(auto objects, store->List(prefix));
  const size_t slash = prefix.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  for (const auto& o : objects) out.push_back({store, o.key, o.key.substr(base)});
  if (out.empty()) return Status::InvalidArgument("no input objects under " + uri);
  return out;
}

// What a job sends each body with.
struct Requests {
  std::vector<std::shared_ptr<Instance>> instances;  // round robin
  net::Headers headers;
  long timeout_s = 600;
  int concurrent = 1;  // bodies in flight at most
  bool assemble_line = false;
};

// One input object through the model, streamed: bodies are cut from the object as it is read
// (kInputRangeBytes at a time), sent with at most `concurrent` in flight, and their answers
// appended in order to `out`. At most 2 x `concurrent` bodies and answers (each up to the
// payload limit) and one range are held at once, whatever the object's size; the reading waits
// while that many are. Returns the records sent; OK (and a partial `out`) when stopped.
Result<int64_t> TransformObject(Context& c, const Requests& q, ObjectStore& store,
                                const std::string& key, bool split_line, bool multi,
                                size_t max_payload, AtomicFileWriter& out,
                                const std::atomic<bool>& stop) {
  const size_t window = 2 * static_cast<size_t>(std::max(q.concurrent, 1));
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<size_t, std::string>> queue;  // bodies not yet sent
  std::map<size_t, std::string> answers;             // answered, not yet written
  size_t sent = 0, in_flight = 0, next_write = 0;
  bool cut_done = false;
  Status failed;
  auto fail = [&](Status st) {  // under mu
    if (failed.ok()) failed = std::move(st);
    cv.notify_all();
  };
  auto work = [&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      // A stop is set without a notify: looked at every 200 ms.
      while (!cv.wait_for(lock, std::chrono::milliseconds(200),
                          [&] { return !queue.empty() || cut_done || !failed.ok() || stop; })) {
      }
      if (!failed.ok() || stop || queue.empty()) return;
      auto [i, body] = std::move(queue.front());
      queue.pop_front();
      ++in_flight;
      lock.unlock();
      const auto& inst = q.instances[i % q.instances.size()];
      auto r =
          c.http.Send("POST", inst->url() + "/invocations", body, q.headers, q.timeout_s, 1u << 30);
      body = std::string();
      lock.lock();
      --in_flight;
      if (!r.ok()) {
        fail(Status::Internal("batch " + std::to_string(i + 1) + ": the model server did not " +
                              "answer: " + r.status().message()));
        return;
      }
      if (r->status >= 400) {
        fail(Status::InvalidArgument("batch " + std::to_string(i + 1) + ": the model answered " +
                                     std::to_string(r->status) + ": " + r->body.substr(0, 512)));
        return;
      }
      answers[i] = std::move(r->body);
      for (auto it = answers.find(next_write); it != answers.end();
           it = answers.find(next_write)) {  // in order, as far as answered
        std::string& a = it->second;
        if (q.assemble_line && (a.empty() || a.back() != '\n')) a.push_back('\n');
        if (Status st = out.Append(a); !st.ok()) {
          fail(st.WithContext("spooling the output"));
          return;
        }
        answers.erase(it);
        ++next_write;
      }
      cv.notify_all();
    }
  };
  const size_t workers = static_cast<size_t>(std::max(q.concurrent, 1));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < workers; ++t) threads.emplace_back(work);
  BatchCutter cutter(split_line, multi, max_payload, [&](std::string body) {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(200), [&] {
      return queue.size() + in_flight + answers.size() < window || !failed.ok() || stop;
    })) {
    }
    if (!failed.ok()) return Status::Internal("a batch failed");
    if (stop) return Status::Internal("stopped");
    queue.emplace_back(sent++, std::move(body));
    cv.notify_all();
    return Status::OK();
  });
  // The object is read a range at a time, each range whole before it is cut: no transfer stays
  // open while the cutting waits for the model (a slow model would time an S3 GET out).
  Status read = [&]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(const ObjectInfo info, store.Head(key));
    std::string range;
    for (uint64_t at = 0; at < info.size; at += kInputRangeBytes) {
      range.clear();
      const uint64_t length = std::min<uint64_t>(kInputRangeBytes, info.size - at);
      CAIRN_RETURN_IF_ERROR(store.Get(
          key,
          [&](const uint8_t* data, size_t size) {
            range.append(reinterpret_cast<const char*>(data), size);
            return Status::OK();
          },
          ByteRange{at, length}));
      if (range.size() != length) return Status::Corrupt("the object changed while it was read");
      CAIRN_RETURN_IF_ERROR(cutter.Feed(range));
    }
    return cutter.Finish();
  }();
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!read.ok() && failed.ok() && !stop) failed = read;  // the workers stop sending
    cut_done = true;
    cv.notify_all();
  }
  for (auto& t : threads) t.join();
  if (!failed.ok()) return failed;  // the model's error, not the read's abort it caused
  if (stop) return int64_t{0};
  CAIRN_RETURN_IF_ERROR(read);
  if (next_write != sent) return Status::Internal("transform: answers missing");
  return cutter.records();
}

// Runs the job; progress is saved with `save` after each object. OK when stopped.
Status Transform(Context& c, TransformJobRecord& r, const std::atomic<bool>& stop,
                 const std::function<void()>& save) {
  const Json& in = r.request;
  const Json input = in.value("TransformInput", Json::object());
  const Json output = in.value("TransformOutput", Json::object());
  VariantSpec spec;
  spec.model = r.model;
  spec.count = in.value("TransformResources", Json::object()).value("InstanceCount", 1);
  const int64_t mb = in.value("MaxPayloadInMB", int64_t{6});
  spec.max_payload_mb = mb == 0 ? 100 : static_cast<int>(mb);
  const InstanceLogs logs{layout::TransformLogsPrefix(r.name), "", "/aws/sagemaker/TransformJobs"};
  std::vector<Result<std::shared_ptr<Instance>>> launched(static_cast<size_t>(spec.count),
                                                          Status::Internal("not launched"));
  {
    std::vector<std::thread> threads;
    for (auto& slot : launched)
      threads.emplace_back([&] {
        slot = LaunchInstanceSafely(c, spec, logs, in.value("Environment", Json::object()),
                                    [&stop] { return stop.load(); });
      });
    for (auto& t : threads) t.join();
  }
  std::vector<std::shared_ptr<Instance>> instances;
  for (auto& l : launched) {
    if (!l.ok()) return l.status();
    instances.push_back(*l);
  }
  r.ready_ms = NowMs();
  save();
  CAIRN_ASSIGN_OR_RETURN(
      auto inputs,
      ListInputs(input.value("DataSource", Json::object()).value("S3DataSource", Json::object())));
  const std::string out_uri = output.value("S3OutputPath", "");
  const ObjectLocation out_loc = SplitObjectUri(out_uri);
  CAIRN_ASSIGN_OR_RETURN(auto out_store, StoreFor(out_loc, out_uri));
  const std::string out_prefix = out_loc.remote() ? out_loc.key : "";
  Requests q;
  q.instances = std::move(instances);
  if (const std::string t = input.value("ContentType", ""); !t.empty())
    q.headers.emplace_back("Content-Type", t);
  if (const std::string a = output.value("Accept", ""); !a.empty())
    q.headers.emplace_back("Accept", a);
  q.timeout_s =
      in.value("ModelClientConfig", Json::object()).value("InvocationsTimeoutInSeconds", 600);
  q.concurrent = static_cast<int>(in.value("MaxConcurrentTransforms", 1));
  q.assemble_line = output.value("AssembleWith", "None") == "Line";
  // MB as SageMaker counts them (10^6 bytes); 0: no limit of its own, the server's 100 MB.
  const size_t max_payload = static_cast<size_t>(spec.max_payload_mb) * 1000 * 1000;
  const bool line = input.value("SplitType", "None") == "Line";
  const bool multi = in.value("BatchStrategy", "MultiRecord") == "MultiRecord";
  // Each output is spooled to a file of the server's work folder, then put whole.
  const std::string spool = c.options.work_root + "/transform-output/" + r.name + ".out";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(spool).parent_path(), ec);
  for (const Input& obj : inputs) {
    if (stop) return Status::OK();
    CAIRN_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::Create(spool));
    auto records =
        TransformObject(c, q, *obj.store, obj.key, line, multi, max_payload, *writer, stop);
    if (!records.ok()) return records.status().WithContext("input " + obj.key);
    if (stop) return Status::OK();
    CAIRN_RETURN_IF_ERROR(writer->Commit(false));
    writer.reset();
    const std::string key = KeyJoin(out_prefix, obj.rel + ".out");
    Status put = [&]() -> Status {
      CAIRN_ASSIGN_OR_RETURN(auto source, FileSource::Open(spool));
      return out_store->Put(key, *source).status();
    }();
    std::filesystem::remove(spool, ec);
    CAIRN_RETURN_IF_ERROR(put.WithContext("output " + key));
    ++r.objects_done;
    r.records_done += *records;
    save();
  }
  return Status::OK();
}

}  // namespace

void TransformJobs::Run(const std::string& name, Running& job) {
  auto got = records().Get(name);
  if (!got.ok()) return;
  TransformJobRecord r = *got;
  r.started_ms = NowMs();
  auto put = [&] {
    if (Status st = records().Put(r); !st.ok())
      std::fprintf(stderr, "cairn server: transform job %s: %s\n", name.c_str(),
                   st.ToString().c_str());
  };
  auto save = [&] {  // progress; a Stop's "Stopping" is kept
    std::lock_guard<std::mutex> lock(job.write_mu);
    if (job.stop) r.status = "Stopping";
    put();
  };
  save();
  Status st;
  try {
    st = Transform(c_, r, job.stop, save);
  } catch (const std::exception& e) {  // a request field of the wrong JSON type
    st = Status::InvalidArgument(std::string("transform job ") + name + ": " + e.what());
  }
  try {
    std::lock_guard<std::mutex> lock(job.write_mu);
    r.ended_ms = NowMs();
    if (job.stop) {
      r.status = "Stopped";
    } else if (st.ok()) {
      r.status = "Completed";
    } else {
      r.status = "Failed";
      r.failure = st.message();
    }
    std::fprintf(stderr, "cairn server: transform job %s %s%s%s\n", name.c_str(), r.status.c_str(),
                 r.failure.empty() ? "" : ": ", r.failure.c_str());
    put();
    job.ended = true;
  } catch (const std::exception& e) {  // never end the server from a job's thread
    std::fprintf(stderr, "cairn server: transform job %s: %s\n", name.c_str(), e.what());
  }
}

}  // namespace cairn::api
