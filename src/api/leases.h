// Private to api: one owner for each running job and endpoint when several cairn servers share
// a store (issue 13, docs/cluster.md). A lease is an object api/leases/<kind>/<name>.json naming
// its holder (server id and URL) and when it expires. It is taken with create-if-absent, renewed
// and taken over with If-Match on its etag, so of two servers racing for it exactly one wins (the
// store's conditional writes; storage/s3_conditional.cc refuses a store without them). A holder
// renews every lease it holds each third of the lease time; a holder that cannot (it died, or was
// cut off) loses them once they expire, and a server that finds an expired lease takes it over
// with the job or endpoint. Expiry is judged by the expiry time written in the lease, so servers'
// clocks must agree to well within the lease time (NTP does).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/storage/object_store.h"

namespace cairn::api {

struct Lease {
  std::string owner;  // server id
  std::string url;    // where the owner answers the API
  int64_t expires_ms = 0;
  int64_t epoch = 0;  // +1 at each change of owner
  std::string etag;   // of the object read
};

class Leases {
 public:
  Leases(ObjectStore& store, std::string server_id, std::string url, int64_t ttl_ms,
         const Clock& clock = Clock::System())
      : store_(store),
        id_(std::move(server_id)),
        url_(std::move(url)),
        ttl_ms_(ttl_ms),
        clock_(clock) {}

  const std::string& id() const { return id_; }
  const std::string& url() const { return url_; }
  int64_t ttl_ms() const { return ttl_ms_; }

  // Takes the lease of `kind`/`name` if it is free, expired, or already this server's (a
  // restart under the same id). true: this server holds it now; false: another live server
  // does. Errors: the store's.
  Result<bool> Acquire(const std::string& kind, const std::string& name);
  // Whether this server holds it (as far as it knows: it renews every ttl/3).
  bool Holds(const std::string& kind, const std::string& name) const;
  // The lease as the store has it. kNotFound when there is none.
  Result<Lease> Read(const std::string& kind, const std::string& name);
  bool Expired(const Lease& l) const { return clock_.NowMs() >= l.expires_ms; }
  // Lets go of a lease this server holds (its job ended, its endpoint was deleted).
  void Release(const std::string& kind, const std::string& name);
  // Lets go of every lease held (a server stopping: the others take its work over at once).
  void ReleaseAll();
  // Renews every lease held; returns those lost (another server took them, or the store said
  // they are gone), which the caller must stop acting on.
  std::vector<std::pair<std::string, std::string>> RenewAll();

 private:
  std::string Body(int64_t epoch) const;

  ObjectStore& store_;
  const std::string id_, url_;
  const int64_t ttl_ms_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Lease> held_;  // (kind, name) -> as written
};

}  // namespace cairn::api
