// CloudWatch Logs (JSON 1.1, X-Amz-Target: Logs_20140328.<Operation>) over the logs cairn keeps
// (log pieces, cairn/registry/log_pieces.h), named as SageMaker names them:
//   - training jobs: group /aws/sagemaker/TrainingJobs, one stream per host,
//     <job>/algo-N-<job creation, epoch seconds>;
//   - endpoints: group /aws/sagemaker/Endpoints/<name>, one stream per instance,
//     <variant>/<instance id>.
// Each line of a piece is an event stamped with the time the piece reached the store. The SDK's
// fit(logs=True) reads them with DescribeLogStreams and GetLogEvents (sagemaker/session.py
// _logs_for_job, sagemaker/logs.py log_stream). Shapes from botocore's logs/2014-03-28 model.
#include <algorithm>
#include <functional>

#include "api.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/log_pieces.h"
#include "cairn/training/job.h"
#include "records.h"
#include "transform_jobs.h"

namespace cairn::api {

namespace {

constexpr char kTrainingGroup[] = "/aws/sagemaker/TrainingJobs";
constexpr char kEndpointGroupPrefix[] = "/aws/sagemaker/Endpoints/";
constexpr char kTransformGroup[] = "/aws/sagemaker/TransformJobs";

struct Event {
  int64_t timestamp = 0;
  std::string message;
};

struct Stream {
  std::string name, host;     // host: the pieces' stream (algo-1, AllTraffic/i-...)
  std::vector<Event> events;  // in order, timestamps never decreasing
};

// A group cairn has: the training jobs', or an endpoint's.
struct Group {
  std::string name;
  std::string endpoint;    // the endpoint's group; "" for a jobs' group
  bool transform = false;  // the transform jobs' group
};

Result<Group> ParseGroup(Context& c, const std::string& name) {
  if (name == kTrainingGroup) return Group{name, ""};
  if (name == kTransformGroup) return Group{name, "", true};
  if (name.rfind(kEndpointGroupPrefix, 0) == 0 && name.size() > sizeof(kEndpointGroupPrefix) - 1) {
    Group g{name, name.substr(sizeof(kEndpointGroupPrefix) - 1)};
    // A group exists while its endpoint does, or while it holds logs (as CloudWatch keeps them).
    if (RecordStore<EndpointRecord>(c.registry.store()).Get(g.endpoint).ok()) return g;
    auto some = c.registry.store().List(layout::EndpointLogsPrefix(g.endpoint));
    if (some.ok() && !some->empty()) return g;
  }
  return Status::NotFound("The specified log group does not exist.");
}

// Pieces (by stream, then seq) as streams of line events; `name_of` names a piece's stream.
std::vector<Stream> ToStreams(const std::vector<LogPiece>& pieces,
                              const std::function<std::string(const std::string&)>& name_of) {
  std::vector<Stream> streams;
  std::map<std::string, std::string> partial;  // stream -> a line not yet ended
  for (const auto& p : pieces) {
    if (streams.empty() || streams.back().host != p.host) {
      Stream s;
      s.host = p.host;
      s.name = name_of(p.host);
      streams.push_back(std::move(s));
    }
    Stream& s = streams.back();
    std::string text = partial[p.host] + p.bytes;
    const int64_t at = std::max(p.at_ms, s.events.empty() ? 0 : s.events.back().timestamp);
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
      s.events.push_back({at, text.substr(start, nl - start)});
    partial[p.host] = text.substr(start);
  }
  for (auto& s : streams)  // a last line without its newline yet
    if (!partial[s.host].empty())
      s.events.push_back({s.events.empty() ? 0 : s.events.back().timestamp, partial[s.host]});
  return streams;
}

// The job's streams (one per host that logged).
Result<std::vector<Stream>> JobStreams(Context& c, const std::string& job_name) {
  JobStore jobs(c.registry.store());
  auto job = jobs.Load(job_name);
  if (!job.ok()) return std::vector<Stream>{};  // no such job: no streams
  CAIRN_ASSIGN_OR_RETURN(auto pieces, jobs.ReadLogs(job_name, {}));
  const std::string epoch = std::to_string(job->created_ms / 1000);
  return ToStreams(pieces,
                   [&](const std::string& host) { return job_name + "/" + host + "-" + epoch; });
}

// The jobs whose streams match a stream-name prefix ("" = every job).
Result<std::vector<std::string>> JobsFor(Context& c, const std::string& prefix) {
  const size_t slash = prefix.find('/');
  if (slash != std::string::npos) return std::vector<std::string>{prefix.substr(0, slash)};
  CAIRN_ASSIGN_OR_RETURN(auto names, JobStore(c.registry.store()).ListNames());
  std::vector<std::string> out;
  for (auto& n : names)
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(n);
  return out;
}

// The group's streams whose names start with `prefix`, events loaded.
Result<std::vector<Stream>> GroupStreams(Context& c, const Group& g, const std::string& prefix) {
  std::vector<Stream> out;
  auto keep = [&](std::vector<Stream>& streams) {
    for (auto& s : streams)
      if (s.name.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(s));
  };
  if (g.transform) {
    // Streams "<job>/<instance>": the job from the prefix, else every transform job's.
    std::vector<std::string> jobs;
    if (const size_t slash = prefix.find('/'); slash != std::string::npos) {
      jobs.push_back(prefix.substr(0, slash));
    } else {
      CAIRN_ASSIGN_OR_RETURN(jobs, RecordStore<TransformJobRecord>(c.registry.store()).ListNames());
    }
    for (const auto& j : jobs) {
      if (j.compare(0, std::min(prefix.size(), j.size()), prefix, 0,
                    std::min(prefix.size(), j.size())) != 0)
        continue;
      // Only the streams the prefix can name ("<job>/<instance prefix>").
      const std::string streams_of_job =
          prefix.size() > j.size() + 1 ? prefix.substr(j.size() + 1) : "";
      CAIRN_ASSIGN_OR_RETURN(
          auto pieces,
          ReadLogPieces(c.registry.store(), layout::TransformLogsPrefix(j), {}, streams_of_job));
      auto streams = ToStreams(pieces, [&](const std::string& s) { return j + "/" + s; });
      keep(streams);
    }
  } else if (g.endpoint.empty()) {
    CAIRN_ASSIGN_OR_RETURN(auto jobs, JobsFor(c, prefix));
    for (const auto& j : jobs) {
      CAIRN_ASSIGN_OR_RETURN(auto streams, JobStreams(c, j));
      keep(streams);
    }
  } else {
    // Streams are named as their pieces' keys: only those under the prefix are read.
    CAIRN_ASSIGN_OR_RETURN(
        auto pieces,
        ReadLogPieces(c.registry.store(), layout::EndpointLogsPrefix(g.endpoint), {}, prefix));
    auto streams = ToStreams(pieces, [](const std::string& s) { return s; });
    keep(streams);
  }
  return out;
}

Json StreamJson(Context& c, const Group& g, const Stream& s) {
  Json j = {{"logStreamName", s.name},
            {"arn", "arn:aws:logs:" + c.options.region + ":" + c.options.account +
                        ":log-group:" + g.name + ":log-stream:" + s.name},
            {"storedBytes", 0}};
  if (!s.events.empty()) {
    j["creationTime"] = s.events.front().timestamp;
    j["firstEventTimestamp"] = s.events.front().timestamp;
    j["lastEventTimestamp"] = s.events.back().timestamp;
    j["lastIngestionTime"] = s.events.back().timestamp;
  }
  return j;
}

// A forward token is "f/<index of the next event>".
Result<size_t> TokenPosition(const Json& in, size_t head) {
  if (!in.contains("nextToken")) return head;
  const std::string t = in["nextToken"].get<std::string>();
  if (t.size() < 3 || (t[0] != 'f' && t[0] != 'b') || t[1] != '/' ||
      t.find_first_not_of("0123456789", 2) != std::string::npos || t.size() > 20)
    return Status::InvalidArgument("The specified nextToken is invalid.");
  return static_cast<size_t>(std::stoull(t.substr(2)));
}

}  // namespace

Result<Json> DescribeLogStreams(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const Group g, ParseGroup(c, in.value("logGroupName", "")));
  CAIRN_ASSIGN_OR_RETURN(auto all, GroupStreams(c, g, in.value("logStreamNamePrefix", "")));
  const bool by_time = in.value("orderBy", "LogStreamName") == "LastEventTime";
  std::sort(all.begin(), all.end(), [&](const Stream& a, const Stream& b) {
    if (by_time) {
      const int64_t ta = a.events.empty() ? 0 : a.events.back().timestamp;
      const int64_t tb = b.events.empty() ? 0 : b.events.back().timestamp;
      if (ta != tb) return ta < tb;
    }
    return a.name < b.name;
  });
  if (in.value("descending", false)) std::reverse(all.begin(), all.end());
  const size_t limit = std::clamp<int64_t>(in.value("limit", int64_t{50}), 1, 50);
  CAIRN_ASSIGN_OR_RETURN(const size_t start, TokenPosition(in, 0));
  Json out = {{"logStreams", Json::array()}};
  for (size_t i = start; i < all.size() && i < start + limit; ++i)
    out["logStreams"].push_back(StreamJson(c, g, all[i]));
  if (start + limit < all.size()) out["nextToken"] = "f/" + std::to_string(start + limit);
  return out;
}

Result<Json> GetLogEvents(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const Group g, ParseGroup(c, in.value("logGroupName", "")));
  const std::string name = in.value("logStreamName", "");
  if (name.empty()) return Status::InvalidArgument("logStreamName is required.");
  CAIRN_ASSIGN_OR_RETURN(auto streams, GroupStreams(c, g, name));
  auto it =
      std::find_if(streams.begin(), streams.end(), [&](const Stream& s) { return s.name == name; });
  if (it == streams.end()) return Status::NotFound("The specified log stream does not exist.");
  const std::vector<Event>& events = it->events;
  const int64_t start_time = in.value("startTime", int64_t{0});
  const int64_t end_time = in.value("endTime", INT64_MAX);
  const size_t limit = std::clamp<int64_t>(in.value("limit", int64_t{10000}), 1, 10000);
  // Without a token: from the head (startFromHead) or the last `limit` events.
  size_t head = 0;
  if (!in.value("startFromHead", false) && !in.contains("nextToken"))
    head = events.size() > limit ? events.size() - limit : 0;
  CAIRN_ASSIGN_OR_RETURN(size_t pos, TokenPosition(in, head));
  pos = std::min(pos, events.size());
  Json out = {{"events", Json::array()}};
  size_t bytes = 0;
  for (; pos < events.size() && out["events"].size() < limit && bytes < (1u << 20); ++pos) {
    const Event& e = events[pos];
    if (e.timestamp < start_time || e.timestamp >= end_time) continue;
    out["events"].push_back(
        {{"timestamp", e.timestamp}, {"message", e.message}, {"ingestionTime", e.timestamp}});
    bytes += e.message.size() + 26;
  }
  // At the end the same token comes back, so a caller polls from where it stopped.
  out["nextForwardToken"] = "f/" + std::to_string(pos);
  out["nextBackwardToken"] = "b/" + std::to_string(head);
  return out;
}

Result<Json> FilterLogEvents(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const Group g, ParseGroup(c, in.value("logGroupName", "")));
  const std::string prefix = in.value("logStreamNamePrefix", "");
  std::vector<std::string> names;
  if (in.contains("logStreamNames"))
    for (const auto& n : in["logStreamNames"]) names.push_back(n.get<std::string>());
  // filterPattern: every term (space-separated, quotes dropped) must appear in the message.
  std::vector<std::string> terms;
  {
    std::string pattern = in.value("filterPattern", "");
    std::erase(pattern, '"');
    size_t start = 0;
    while (start < pattern.size()) {
      size_t end = pattern.find(' ', start);
      if (end == std::string::npos) end = pattern.size();
      if (end > start) terms.push_back(pattern.substr(start, end - start));
      start = end + 1;
    }
  }
  const int64_t start_time = in.value("startTime", int64_t{0});
  const int64_t end_time = in.value("endTime", INT64_MAX);
  // Named streams: each read by its own prefix (for training, just its job's); else the prefix.
  std::vector<Stream> streams;
  if (names.empty()) {
    CAIRN_ASSIGN_OR_RETURN(streams, GroupStreams(c, g, prefix));
  } else {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& n : names) {
      CAIRN_ASSIGN_OR_RETURN(auto some, GroupStreams(c, g, n));
      for (auto& s : some)
        if (s.name == n) streams.push_back(std::move(s));
    }
  }
  struct Found {
    int64_t timestamp;
    std::string stream, message;
    size_t index;
  };
  std::vector<Found> found;
  Json searched = Json::array();
  for (const auto& s : streams) {
    searched.push_back({{"logStreamName", s.name}, {"searchedCompletely", true}});
    for (size_t i = 0; i < s.events.size(); ++i) {
      const Event& e = s.events[i];
      if (e.timestamp < start_time || e.timestamp >= end_time) continue;
      bool match = true;
      for (const auto& t : terms) match = match && e.message.find(t) != std::string::npos;
      if (match) found.push_back({e.timestamp, s.name, e.message, i});
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const Found& a, const Found& b) { return a.timestamp < b.timestamp; });
  const size_t limit = std::clamp<int64_t>(in.value("limit", int64_t{10000}), 1, 10000);
  CAIRN_ASSIGN_OR_RETURN(const size_t start, TokenPosition(in, 0));
  Json out = {{"events", Json::array()}, {"searchedLogStreams", searched}};
  for (size_t i = start; i < found.size() && i < start + limit; ++i) {
    const Found& f = found[i];
    out["events"].push_back({{"logStreamName", f.stream},
                             {"timestamp", f.timestamp},
                             {"message", f.message},
                             {"ingestionTime", f.timestamp},
                             {"eventId", f.stream + "/" + std::to_string(f.index)}});
  }
  if (start + limit < found.size()) out["nextToken"] = "f/" + std::to_string(start + limit);
  return out;
}

}  // namespace cairn::api
