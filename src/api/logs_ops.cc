// CloudWatch Logs (JSON 1.1, X-Amz-Target: Logs_20140328.<Operation>) over the logs cairn keeps
// for training jobs: group /aws/sagemaker/TrainingJobs, one stream per host named
// <job>/algo-N-<job creation, epoch seconds>, as SageMaker names them. Each line of a log piece
// is an event stamped with the time the piece reached the store. The SDK's fit(logs=True) reads
// them with DescribeLogStreams and GetLogEvents (sagemaker/session.py _logs_for_job,
// sagemaker/logs.py log_stream). Shapes from botocore's logs/2014-03-28 service model.
#include <algorithm>

#include "api.h"
#include "cairn/training/job.h"

namespace cairn::api {

namespace {

constexpr char kTrainingGroup[] = "/aws/sagemaker/TrainingJobs";

struct Event {
  int64_t timestamp = 0;
  std::string message;
};

struct Stream {
  std::string name, job, host;
  std::vector<Event> events;  // in order, timestamps never decreasing
};

// "<job>/<host>-<epoch>" -> job and host.
bool SplitStreamName(const std::string& stream, std::string* job, std::string* host) {
  const size_t slash = stream.find('/');
  const size_t dash = stream.rfind('-');
  if (slash == std::string::npos || dash == std::string::npos || dash < slash) return false;
  *job = stream.substr(0, slash);
  *host = stream.substr(slash + 1, dash - slash - 1);
  return !job->empty() && !host->empty();
}

// The job's streams (one per host that logged), with their events when `with_events`.
Result<std::vector<Stream>> JobStreams(Context& c, const std::string& job_name) {
  JobStore jobs(c.registry.store());
  auto job = jobs.Load(job_name);
  if (!job.ok()) return std::vector<Stream>{};  // no such job: no streams
  CAIRN_ASSIGN_OR_RETURN(auto pieces, jobs.ReadLogs(job_name, {}));
  std::vector<Stream> streams;
  std::map<std::string, std::string> partial;  // host -> a line not yet ended
  for (const auto& p : pieces) {
    if (streams.empty() || streams.back().host != p.host) {
      Stream s;
      s.job = job_name;
      s.host = p.host;
      s.name = job_name + "/" + p.host + "-" + std::to_string(job->created_ms / 1000);
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

Status CheckGroup(const std::string& group) {
  if (group != kTrainingGroup) return Status::NotFound("The specified log group does not exist.");
  return Status::OK();
}

Json StreamJson(Context& c, const Stream& s) {
  Json j = {{"logStreamName", s.name},
            {"arn", "arn:aws:logs:" + c.options.region + ":" + c.options.account +
                        ":log-group:" + kTrainingGroup + ":log-stream:" + s.name},
            {"storedBytes", 0}};
  if (!s.events.empty()) {
    j["creationTime"] = s.events.front().timestamp;
    j["firstEventTimestamp"] = s.events.front().timestamp;
    j["lastEventTimestamp"] = s.events.back().timestamp;
    j["lastIngestionTime"] = s.events.back().timestamp;
  }
  return j;
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
  CAIRN_RETURN_IF_ERROR(CheckGroup(in.value("logGroupName", "")));
  const std::string prefix = in.value("logStreamNamePrefix", "");
  CAIRN_ASSIGN_OR_RETURN(auto jobs, JobsFor(c, prefix));
  std::vector<Stream> all;
  for (const auto& j : jobs) {
    CAIRN_ASSIGN_OR_RETURN(auto streams, JobStreams(c, j));
    for (auto& s : streams)
      if (s.name.compare(0, prefix.size(), prefix) == 0) all.push_back(std::move(s));
  }
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
    out["logStreams"].push_back(StreamJson(c, all[i]));
  if (start + limit < all.size()) out["nextToken"] = "f/" + std::to_string(start + limit);
  return out;
}

Result<Json> GetLogEvents(Context& c, const Json& in) {
  CAIRN_RETURN_IF_ERROR(CheckGroup(in.value("logGroupName", "")));
  const std::string name = in.value("logStreamName", "");
  std::string job, host;
  if (!SplitStreamName(name, &job, &host))
    return Status::NotFound("The specified log stream does not exist.");
  CAIRN_ASSIGN_OR_RETURN(auto streams, JobStreams(c, job));
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
  CAIRN_RETURN_IF_ERROR(CheckGroup(in.value("logGroupName", "")));
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
  std::vector<std::string> jobs;
  if (names.empty()) {
    CAIRN_ASSIGN_OR_RETURN(jobs, JobsFor(c, prefix));
  } else {
    for (const auto& n : names) jobs.push_back(n.substr(0, n.find('/')));
    std::sort(jobs.begin(), jobs.end());
    jobs.erase(std::unique(jobs.begin(), jobs.end()), jobs.end());
  }
  struct Found {
    int64_t timestamp;
    std::string stream, message;
    size_t index;
  };
  std::vector<Found> found;
  Json searched = Json::array();
  for (const auto& j : jobs) {
    CAIRN_ASSIGN_OR_RETURN(auto streams, JobStreams(c, j));
    for (const auto& s : streams) {
      const bool wanted = names.empty() ? s.name.compare(0, prefix.size(), prefix) == 0
                                        : std::count(names.begin(), names.end(), s.name) > 0;
      if (!wanted) continue;
      searched.push_back({{"logStreamName", s.name}, {"searchedCompletely", true}});
      for (size_t i = 0; i < s.events.size(); ++i) {
        const Event& e = s.events[i];
        if (e.timestamp < start_time || e.timestamp >= end_time) continue;
        bool match = true;
        for (const auto& t : terms) match = match && e.message.find(t) != std::string::npos;
        if (match) found.push_back({e.timestamp, s.name, e.message, i});
      }
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
