// Whether a bucket honours conditional writes, found out once per bucket and process.
//
// cairn's version numbers, alias moves and name-taking all rest on create-if-absent and
// replace-if-unchanged writes (If-None-Match: *, If-Match). AWS S3 honours both. Ceph RGW 16
// ignores them on a bucket with versioning enabled: a second PUT of the same key with
// If-None-Match: * answers 200 and adds an object version, so two publishers both get version 1.
// There cairn settles conditional writes by object versions (s3_versioned.cc); a bucket that
// ignores the headers and keeps no versions is refused (writing there would silently break
// "immutable, never overwritten").
#include <unistd.h>

#include <map>
#include <mutex>
#include <random>

#include "cairn/core/clock.h"
#include "s3_internal.h"

namespace cairn::s3 {

namespace {

std::mutex g_mu;
std::map<std::string, Result<WriteMode>> g_checked;  // "<endpoint> <bucket>" -> verdict

Result<net::Response> Put(Connection& conn, const std::string& key,
                          std::pair<std::string, std::string> condition) {
  Connection::Call call{"PUT", key};
  static const char kBody[] = "cairn conditional-write probe\n";
  call.body = reinterpret_cast<const uint8_t*>(kBody);
  call.body_size = sizeof(kBody) - 1;
  call.headers.emplace_back(std::move(condition));
  call.idempotent = false;
  return conn.Send(call);
}

Result<WriteMode> Probe(Connection& conn, const std::string& prefix) {
  std::random_device rd;
  const std::string key = prefix + ".cairn/conditional-write-probe/" + std::to_string(::getpid()) +
                          "-" + std::to_string(NowMs()) + "-" + std::to_string(rd());
  std::vector<std::string> versions;  // object versions made, removed at the end
  auto made = [&](const net::Response& r) {
    if (const std::string v = r.Header("x-amz-version-id"); !v.empty() && v != "null")
      versions.push_back(v);
  };
  Result<WriteMode> verdict = WriteMode::kHeaders;
  CAIRN_ASSIGN_OR_RETURN(auto first, Put(conn, key, {"If-None-Match", "*"}));
  if (first.status != 200) return ErrorFromResponse(first, "PUT " + key + " (If-None-Match: *)");
  made(first);
  CAIRN_ASSIGN_OR_RETURN(auto second, Put(conn, key, {"If-None-Match", "*"}));
  made(second);
  // Settling by versions needs proof that every PUT makes a version of its own: two distinct
  // version ids, and versioning Enabled (not Suspended, where PUTs overwrite the "null" one).
  const std::string v1 = first.Header("x-amz-version-id"), v2 = second.Header("x-amz-version-id");
  const bool distinct = !v1.empty() && !v2.empty() && v1 != "null" && v2 != "null" && v1 != v2;
  auto versioning = VersioningStatus(conn);
  if (second.status == 200 && distinct && versioning.ok() && *versioning == "Enabled") {
    verdict = WriteMode::kOldestVersionWins;
  } else if (second.status == 200) {
    verdict = Status::Unsupported(
        "bucket '" + conn.bucket() +
        "' does not honour conditional writes: a second PUT of one key with If-None-Match: * "
        "was accepted, and it keeps no object versions to settle races with. cairn's "
        "versions, aliases and names rely on create-if-absent, so it will not write there: use "
        "a bucket that honours If-None-Match, or one with versioning enabled");
  } else if (second.status != 412) {
    return ErrorFromResponse(second, "PUT " + key + " (If-None-Match: *)");
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto third, Put(conn, key, {"If-Match", "0123456789abcdef"}));
    made(third);
    if (third.status == 200)
      verdict = Status::Unsupported(
          "bucket '" + conn.bucket() +
          "' does not honour conditional writes: a PUT with an If-Match of a wrong ETag was "
          "accepted. cairn's aliases rely on replace-if-unchanged, so it will not write there");
    else if (third.status != 412)
      return ErrorFromResponse(third, "PUT " + key + " (If-Match)");
  }
  // Clean up: on a versioned bucket every version the probe made (a plain DELETE would only add
  // a delete marker), else the key.
  for (const auto& v : versions) {
    Connection::Call del{"DELETE", key};
    del.query = {{"versionId", v}};
    (void)conn.Send(del);
  }
  if (versions.empty()) (void)conn.Send({"DELETE", key});
  return verdict;
}

}  // namespace

std::optional<WriteMode> KnownWriteMode(Connection& conn) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_checked.find(conn.endpoint() + " " + conn.bucket());
  if (it == g_checked.end() || !it->second.ok()) return std::nullopt;
  return *it->second;
}

Result<WriteMode> CheckConditionalWrites(Connection& conn, const std::string& prefix) {
  const std::string id = conn.endpoint() + " " + conn.bucket();
  std::lock_guard<std::mutex> lock(g_mu);  // one probe at a time; later callers see its verdict
  if (auto it = g_checked.find(id); it != g_checked.end()) return it->second;
  // A probe cut short by the network (its answer lost, a connection reset or refused) is run
  // again from the start on a fresh key, with backoff: a lost answer makes its own PUTs
  // ambiguous, so they are never retried one by one.
  Result<WriteMode> st = Status::Internal("not probed");
  for (int attempt = 1;; ++attempt) {
    st = Probe(conn, prefix);
    if (st.ok() || st.status().code() != Status::Code::kTransient ||
        attempt >= conn.options().max_attempts)
      break;
    Backoff(attempt);
  }
  // A store that did not answer is asked again next time; a verdict is kept.
  if (st.ok() || st.status().code() == Status::Code::kUnsupported) g_checked.emplace(id, st);
  return st;
}

}  // namespace cairn::s3
