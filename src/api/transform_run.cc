// A transform job's run (transform_jobs.h): instances, inputs, batches in flight, outputs.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cairn/core/clock.h"
#include "cairn/registry/layout.h"
#include "endpoint_fleet.h"
#include "transform_jobs.h"

namespace cairn::api {

namespace {

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

// Sends the batches to the instances, at most `concurrent` in flight; the answers in order.
Result<std::vector<std::string>> Invoke(Context& c,
                                        const std::vector<std::shared_ptr<Instance>>& instances,
                                        const std::vector<std::string>& batches,
                                        const net::Headers& headers, long timeout_s, int concurrent,
                                        const std::atomic<bool>& stop) {
  std::vector<std::string> answers(batches.size());
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status failed;
  std::atomic<bool> bad{false};
  auto work = [&] {
    for (size_t i; !bad && !stop && (i = next++) < batches.size();) {
      const auto& inst = instances[i % instances.size()];
      auto r =
          c.http.Send("POST", "http://127.0.0.1:" + std::to_string(inst->port) + "/invocations",
                      batches[i], headers, timeout_s, 1u << 30);
      Status st;
      if (!r.ok()) {
        st = Status::Internal("batch " + std::to_string(i + 1) + ": the model server did not " +
                              "answer: " + r.status().message());
      } else if (r->status >= 400) {
        st = Status::InvalidArgument("batch " + std::to_string(i + 1) + ": the model answered " +
                                     std::to_string(r->status) + ": " + r->body.substr(0, 512));
      } else {
        answers[i] = std::move(r->body);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (failed.ok()) failed = st;
      bad = true;
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(std::max(concurrent, 1), batches.size());
  for (size_t t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (!failed.ok()) return failed;
  return answers;
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
  net::Headers headers;
  if (const std::string t = input.value("ContentType", ""); !t.empty())
    headers.emplace_back("Content-Type", t);
  if (const std::string a = output.value("Accept", ""); !a.empty())
    headers.emplace_back("Accept", a);
  // MB as SageMaker counts them (10^6 bytes); 0: no limit of its own, the server's 100 MB.
  const size_t max_payload = static_cast<size_t>(spec.max_payload_mb) * 1000 * 1000;
  const bool line = input.value("SplitType", "None") == "Line";
  const bool multi = in.value("BatchStrategy", "MultiRecord") == "MultiRecord";
  const bool assemble_line = output.value("AssembleWith", "None") == "Line";
  const long timeout_s =
      in.value("ModelClientConfig", Json::object()).value("InvocationsTimeoutInSeconds", 600);
  const int concurrent = static_cast<int>(in.value("MaxConcurrentTransforms", 1));
  for (const Input& obj : inputs) {
    if (stop) return Status::OK();
    auto data = GetString(*obj.store, obj.key);
    if (!data.ok()) return data.status().WithContext("input " + obj.key);
    int64_t records = 0;
    auto batches = TransformBatches(*data, line, multi, max_payload, &records);
    if (!batches.ok()) return batches.status().WithContext("input " + obj.key);
    auto answers = Invoke(c, instances, *batches, headers, timeout_s, concurrent, stop);
    if (!answers.ok()) return answers.status().WithContext("input " + obj.key);
    if (stop) return Status::OK();
    std::string out;
    for (auto& a : *answers) {
      out += a;
      if (assemble_line && (a.empty() || a.back() != '\n')) out.push_back('\n');
    }
    const std::string key = KeyJoin(out_prefix, obj.rel + ".out");
    CAIRN_RETURN_IF_ERROR(PutString(*out_store, key, out).status().WithContext("output " + key));
    ++r.objects_done;
    r.records_done += records;
    save();
  }
  return Status::OK();
}

}  // namespace

void TransformJobs::Run(const std::string& name, const std::shared_ptr<std::atomic<bool>>& stop) {
  auto got = records().Get(name);
  if (!got.ok()) return;
  TransformJobRecord r = *got;
  r.started_ms = NowMs();
  auto save = [&] {
    // A Stop may have changed the status meanwhile: keep it.
    if (auto now = records().Get(name); now.ok()) r.status = now->status;
    if (Status st = records().Put(r); !st.ok())
      std::fprintf(stderr, "cairn server: transform job %s: %s\n", name.c_str(),
                   st.ToString().c_str());
  };
  save();
  Status st;
  try {
    st = Transform(c_, r, *stop, save);
  } catch (const std::exception& e) {  // a request field of the wrong JSON type
    st = Status::InvalidArgument(std::string("transform job ") + name + ": " + e.what());
  }
  try {
    r.ended_ms = NowMs();
    if (*stop) {
      r.status = "Stopped";
    } else if (st.ok()) {
      r.status = "Completed";
    } else {
      r.status = "Failed";
      r.failure = st.message();
    }
    std::fprintf(stderr, "cairn server: transform job %s %s%s%s\n", name.c_str(), r.status.c_str(),
                 r.failure.empty() ? "" : ": ", r.failure.c_str());
    if (Status s = records().Put(r); !s.ok())
      std::fprintf(stderr, "cairn server: transform job %s: %s\n", name.c_str(),
                   s.ToString().c_str());
  } catch (const std::exception& e) {  // never end the server from a job's thread
    std::fprintf(stderr, "cairn server: transform job %s: %s\n", name.c_str(), e.what());
  }
}

}  // namespace cairn::api
