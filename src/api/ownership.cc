// Several cairn servers on one store (issue 13): each running training job and endpoint has one
// owner, the server holding its lease (leases.h). Any server answers any call: what needs the
// owner's processes (an endpoint's requests, its updates and its instances' health) is passed on
// to the owner; a server that finds a lease expired takes the job or endpoint over.
#include <cstdio>
#include <mutex>
#include <set>

#include "cairn/training/job.h"
#include "endpoint_hosts.h"
#include "leases.h"
#include "records.h"

namespace cairn::api {

void RenewLeases(Context& c) {
  if (!c.leases) return;
  for (const auto& [kind, name] : c.leases->RenewAll()) {
    std::fprintf(stderr, "cairn server: lost the lease of %s %s to another server\n", kind.c_str(),
                 name.c_str());
    if (kind == "endpoint" && c.endpoints) {
      c.endpoints->Drop(name);
    } else if (kind == "training-job" && c.watchers) {
      std::lock_guard<std::mutex> lock(c.watchers->mu);
      if (auto it = c.watchers->flags.find(name); it != c.watchers->flags.end())
        it->second->store(true);
    }
  }
}

void TakeOverOrphans(Context& c) {
  if (!c.leases) return;
  // Endpoints: every one recorded and not Failed has an owner serving it.
  auto names = RecordStore<EndpointRecord>(c.registry.store()).ListNames();
  for (const auto& name : names.ok() ? *names : std::vector<std::string>{}) {
    // Held here (deploying or serving): this server's already; a lease held as far as this
    // process knows is never taken "over" from itself.
    if (c.leases->Holds("endpoint", name) || c.endpoints->Serves(name)) continue;
    auto record = RecordStore<EndpointRecord>(c.registry.store()).Get(name);
    if (!record.ok() || record->status == EndpointStatus::kFailed) continue;
    auto mine = c.leases->Acquire("endpoint", name);
    if (!mine.ok() || !*mine) continue;
    std::fprintf(stderr, "cairn server: taking endpoint %s over (its lease was free)\n",
                 name.c_str());
    if (Status st = c.endpoints->Adopt(name); !st.ok())
      std::fprintf(stderr, "cairn server: endpoint %s: %s\n", name.c_str(), st.ToString().c_str());
  }
  // Training jobs run by cairn servers (`cairn train` runs its own) that have not ended.
  JobStore jobs(c.registry.store());
  auto job_names = jobs.ListNames();
  static std::mutex ended_mu;
  static std::set<std::string> ended;  // jobs seen finished (or not a server's): never again
  for (const auto& name : job_names.ok() ? *job_names : std::vector<std::string>{}) {
    {
      std::lock_guard<std::mutex> lock(ended_mu);
      if (ended.count(name)) continue;
    }
    if (RunsTrainingJob(c, name) || c.leases->Holds("training-job", name)) continue;
    auto job = jobs.Load(name);
    if (!job.ok()) continue;
    if (IsTerminal(job->status) || job->runner.rfind("cairn-server:", 0) != 0) {
      std::lock_guard<std::mutex> lock(ended_mu);
      ended.insert(name);
      continue;
    }
    auto mine = c.leases->Acquire("training-job", name);
    if (!mine.ok() || !*mine) continue;
    if (job->scheduler_job.rfind("slurm:", 0) == 0) {
      std::fprintf(stderr, "cairn server: taking training job %s over (%s)\n", name.c_str(),
                   job->scheduler_job.c_str());
      ResumeTrainingJob(c, name);
    } else {
      if (Status st = FailOrphanedTrainingJob(c, name); !st.ok())
        std::fprintf(stderr, "cairn server: cannot mark training job %s Failed: %s\n", name.c_str(),
                     st.ToString().c_str());
      c.leases->Release("training-job", name);
    }
  }
}

std::optional<net::HttpResponse> ForwardToOwner(Context& c, const std::string& endpoint,
                                                const net::HttpRequest& req) {
  if (!c.leases || endpoint.empty() || c.leases->Holds("endpoint", endpoint)) return std::nullopt;
  // A request passed on once is answered where it lands: no loops between servers.
  if (!req.Header("x-cairn-forwarded-by").empty()) return std::nullopt;
  auto lease = c.leases->Read("endpoint", endpoint);
  if (!lease.ok() && lease.status().code() != Status::Code::kNotFound) {
    net::HttpResponse out;  // not "not found": the store did not answer
    out.status = 503;
    out.headers.emplace_back("x-amzn-ErrorType", "ServiceUnavailable");
    out.body = Json{{"message", "cannot tell which server runs endpoint " + endpoint + ": " +
                                    lease.status().message()}}
                   .dump();
    return out;
  }
  if (!lease.ok() || lease->owner == c.leases->id() || c.leases->Expired(*lease)) {
    // No live owner: this server takes the endpoint over (if it still exists) and answers.
    auto record = RecordStore<EndpointRecord>(c.registry.store()).Get(endpoint);
    if (record.ok() && record->status != EndpointStatus::kFailed) {
      auto mine = c.leases->Acquire("endpoint", endpoint);
      if (mine.ok() && *mine) (void)c.endpoints->Adopt(endpoint);
    }
    return std::nullopt;
  }
  net::Headers headers;
  for (const auto& [k, v] : req.headers) {
    std::string lower = k;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "connection" || lower == "content-length" || lower == "transfer-encoding" ||
        lower == "expect" || lower == "keep-alive" || lower == "te" || lower == "upgrade")
      continue;
    headers.emplace_back(k, v);  // Host and the SigV4 headers as signed: the owner checks them
  }
  headers.emplace_back("X-Cairn-Forwarded-By", c.leases->id());
  auto r = c.http.Send(req.method, lease->url + req.target, req.body, headers, 65);
  net::HttpResponse out;
  if (!r.ok()) {
    out.status = 503;
    out.headers.emplace_back("x-amzn-ErrorType", "ServiceUnavailable");
    out.body = Json{{"message", "the server that runs endpoint " + endpoint + " (" + lease->owner +
                                    ") did not answer: " + r.status().message()}}
                   .dump();
    return out;
  }
  out.status = static_cast<int>(r->status);
  for (const auto& [k, v] : r->headers) {
    if (k == "content-type") {
      out.content_type = v;
    } else if (k.rfind("x-", 0) == 0) {
      out.headers.emplace_back(k, v);
    }
  }
  out.body = std::move(r->body);
  return out;
}

}  // namespace cairn::api
