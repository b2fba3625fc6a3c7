// Conditional writes on buckets that keep object versions but ignore If-None-Match / If-Match
// (Ceph RGW 16 with versioning enabled): "the oldest object version wins".
//
// Every PUT there adds an object version, so a conditional write is made as a plain PUT marked
// with metadata (x-amz-meta-cairn-write: if-absent | if-match, x-amz-meta-cairn-replaces: the
// ETag an if-match write expects), and then settled by looking at the key's versions
// (ListObjectVersions, newest first). The versions newer than the key's latest delete marker are
// its live generation; its value is found by walking that generation from the oldest version:
//  - the oldest version counts (the key's creation), unless it is an if-match write with a
//    delete marker before it or nothing else in the whole history (it replaced nothing);
//  - a later if-match version counts if it replaces the ETag of the version counting so far;
//  - a later plain (unconditional) version counts; anything else lost.
// A writer whose version does not count removes it and reports kPreconditionFailed, as a bucket
// that honours the headers would have. One that dies first leaves a version that readers of
// marked keys skip (VersionToRead walks the generation too). A winning if-match write prunes the
// versions older than the one it replaced, but only when every one of them is older than
// kPruneGraceMs (so no writer can still be settling against them), losers first, then the
// counting ones oldest first: a reader meanwhile always finds a counting version at the head.
// Deleting a key adds a delete marker, then removes every version older than it; the marker
// stays (it holds no data), so an if-match write that comes late finds the key deleted.
#include <algorithm>
#include <map>
#include <mutex>

#include "cairn/core/clock.h"

#include "s3_internal.h"

namespace cairn::s3 {

namespace {

constexpr int64_t kPruneGraceMs = 120'000;   // versions younger than this are never pruned
constexpr int64_t kSettleBudgetMs = 60'000;  // a settle slower than this has an unknown outcome

std::mutex g_mu;
std::map<std::string, bool> g_versioned;  // "<endpoint> <bucket>" -> versions kept (or unknown)

// The <Version>/<DeleteMarker> elements of a ListObjectVersions page, in the page's order.
std::vector<KeyVersion> ParseVersions(const std::string& xml, const std::string& key,
                                      bool* truncated, std::string* next_key,
                                      std::string* next_version) {
  std::vector<KeyVersion> out;
  size_t pos = 0;
  for (;;) {
    size_t v = xml.find("<Version>", pos), m = xml.find("<DeleteMarker>", pos);
    if (v == std::string::npos && m == std::string::npos) break;
    const bool marker = m < v;
    const size_t start = marker ? m : v;
    const std::string close = marker ? "</DeleteMarker>" : "</Version>";
    size_t end = xml.find(close, start);
    if (end == std::string::npos) break;
    const std::string item = xml.substr(start, end - start);
    pos = end + close.size();
    if (XmlFirst(item, "Key") != key) continue;
    out.push_back(KeyVersion{XmlFirst(item, "VersionId"), Unquote(XmlFirst(item, "ETag")), marker,
                             ParseHttpTime(XmlFirst(item, "LastModified"))});
  }
  *truncated = XmlFirst(xml, "IsTruncated") == "true";
  *next_key = XmlFirst(xml, "NextKeyMarker");
  *next_version = XmlFirst(xml, "NextVersionIdMarker");
  return out;
}

// How version `id` of `key` was written: its cairn-write and cairn-replaces metadata.
// kNotFound if the version is gone (removed meanwhile).
Result<std::pair<std::string, std::string>> WriteKind(Connection& conn, const std::string& key,
                                                      const std::string& id) {
  Connection::Call call{"HEAD", key};
  call.query = {{"versionId", id}};
  CAIRN_ASSIGN_OR_RETURN(auto resp, conn.Send(call));
  if (resp.status == 404) return Status::NotFound("version " + id + " of " + key + " is gone");
  if (resp.status != 200) return ErrorFromResponse(resp, "HEAD " + key + "?versionId=" + id);
  return std::make_pair(resp.Header("x-amz-meta-cairn-write"),
                        resp.Header("x-amz-meta-cairn-replaces"));
}

// The live generation, oldest first.
std::vector<KeyVersion> Generation(const std::vector<KeyVersion>& newest_first) {
  std::vector<KeyVersion> gen;
  for (const auto& v : newest_first) {
    if (v.delete_marker) break;
    gen.push_back(v);
  }
  std::reverse(gen.begin(), gen.end());
  return gen;
}

// The versions of the live generation that count, oldest first (the last is the key's value).
// kNotFound when a version vanished while it was looked at (look again).
Result<std::vector<std::string>> Accepted(Connection& conn, const std::string& key,
                                          const std::vector<KeyVersion>& newest_first) {
  const std::vector<KeyVersion> gen = Generation(newest_first);
  const bool after_marker = gen.size() < newest_first.size();
  std::vector<std::string> accepted;
  std::string etag;  // of the version counting so far ("" while none does)
  bool counting = false;
  for (size_t i = 0; i < gen.size(); ++i) {
    std::pair<std::string, std::string> kind;
    // The head's kind matters only when it might be an if-match that replaced nothing.
    if (i > 0 || after_marker || newest_first.size() == 1) {
      CAIRN_ASSIGN_OR_RETURN(kind, WriteKind(conn, key, gen[i].id));
    }
    bool counts;
    if (!counting) {
      counts = kind.first != "if-match" || (i == 0 && !after_marker && newest_first.size() > 1);
    } else {
      counts = kind.first.empty() || (kind.first == "if-match" && kind.second == etag);
    }
    if (counts) {
      accepted.push_back(gen[i].id);
      etag = gen[i].etag;
      counting = true;
    }
  }
  return accepted;
}

Status DeleteVersion(Connection& conn, const std::string& key, const std::string& id) {
  Connection::Call call{"DELETE", key};
  call.query = {{"versionId", id}};
  CAIRN_ASSIGN_OR_RETURN(auto resp, conn.Send(call));
  if (resp.status == 204 || resp.status == 200 || resp.status == 404) return Status::OK();
  return ErrorFromResponse(resp, "DELETE " + key + "?versionId=" + id);
}

// After `mine` won by replacing `replaced`: removes the generation's versions older than
// `replaced` if every one of them is older than the grace period (losers first, then counting
// ones oldest first). Best effort: it stops at the first failure.
void Prune(Connection& conn, const std::string& key, const std::vector<KeyVersion>& newest_first,
           const std::vector<std::string>& accepted, const std::string& replaced) {
  const std::vector<KeyVersion> gen = Generation(newest_first);
  std::vector<KeyVersion> older;
  for (const auto& v : gen) {
    if (v.id == replaced) break;
    older.push_back(v);
  }
  if (older.empty() || older.size() == gen.size()) return;
  const int64_t now = NowMs();
  for (const auto& v : older)
    if (v.modified_ms <= 0 || now - v.modified_ms < kPruneGraceMs) return;
  auto counts = [&](const KeyVersion& v) {
    return std::find(accepted.begin(), accepted.end(), v.id) != accepted.end();
  };
  for (const auto& v : older)
    if (!counts(v) && !DeleteVersion(conn, key, v.id).ok()) return;
  for (const auto& v : older)
    if (counts(v) && !DeleteVersion(conn, key, v.id).ok()) return;
}

}  // namespace

Result<std::string> VersioningStatus(Connection& conn) {
  Connection::Call call{"GET", ""};
  call.query = {{"versioning", ""}};
  CAIRN_ASSIGN_OR_RETURN(auto resp, conn.Send(call));
  if (resp.status != 200) return ErrorFromResponse(resp, "GET ?versioning of " + conn.bucket());
  return XmlFirst(resp.body, "Status");
}

bool BucketVersioned(Connection& conn) {
  const std::string id = conn.endpoint() + " " + conn.bucket();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = g_versioned.find(id); it != g_versioned.end()) return it->second;
  }
  auto status = VersioningStatus(conn);
  if (!status.ok() && status.status().code() == Status::Code::kTransient) return true;  // ask again
  // Unknown (not allowed to ask): readers check, which is only slower.
  const bool versioned = !status.ok() || *status == "Enabled" || *status == "Suspended";
  std::lock_guard<std::mutex> lock(g_mu);
  g_versioned[id] = versioned;
  return versioned;
}

Result<std::vector<KeyVersion>> ListKeyVersions(Connection& conn, const std::string& key) {
  std::vector<KeyVersion> out;
  std::string key_marker, version_marker;
  for (;;) {
    Connection::Call call{"GET", ""};
    call.query = {{"versions", ""}, {"prefix", key}};
    if (!key_marker.empty()) {
      call.query.emplace_back("key-marker", key_marker);
      call.query.emplace_back("version-id-marker", version_marker);
    }
    CAIRN_ASSIGN_OR_RETURN(auto resp, conn.Send(call));
    if (resp.status != 200) return ErrorFromResponse(resp, "list versions of " + key);
    bool truncated = false;
    auto page = ParseVersions(resp.body, key, &truncated, &key_marker, &version_marker);
    out.insert(out.end(), page.begin(), page.end());
    if (!truncated || key_marker > key) break;
    if (key_marker.empty())  // a partial history could make a later version look oldest
      return Status::IOError("list versions of " + key + ": truncated page without a marker");
  }
  return out;
}

Result<std::string> VersionToRead(Connection& conn, const std::string& key) {
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(auto head, conn.Send({"HEAD", key}));
    if (head.status == 404) return Status::NotFound("no object '" + key + "'");
    if (head.status != 200) return ErrorFromResponse(head, "HEAD " + key);
    if (head.Header("x-amz-meta-cairn-write").empty()) {
      // Plain: this very version (pinned, so a write landing meanwhile cannot slip in).
      const std::string id = head.Header("x-amz-version-id");
      return id == "null" ? std::string() : id;
    }
    CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
    auto accepted = Accepted(conn, key, versions);
    if (accepted.ok()) {
      if (accepted->empty()) return Status::NotFound("no object '" + key + "'");
      return accepted->back();
    }
    // A version vanished while it was looked at (a writer cleaning up): look again.
    if (accepted.status().code() != Status::Code::kNotFound) return accepted.status();
    if (attempt >= 5) return Status::Transient("the versions of " + key + " kept changing");
  }
}

Status SettleConditionalWrite(Connection& conn, const std::string& key, const std::string& mine,
                              const PutOptions& options, int64_t started_ms) {
  if (mine.empty() || mine == "null")
    return Status::Internal("PUT " + key + " made no object version on a versioned bucket");
  const auto lost = [&] {
    return options.condition == PutOptions::Condition::kIfAbsent
               ? Status::PreconditionFailed("object '" + key + "' already exists")
               : Status::PreconditionFailed("object '" + key + "' does not have etag " +
                                            options.if_match);
  };
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
    if (std::none_of(versions.begin(), versions.end(),
                     [&](const KeyVersion& v) { return v.id == mine; }))
      return lost();  // removed: pruned as a loser, or the key deleted since
    auto accepted = Accepted(conn, key, versions);
    if (!accepted.ok() && accepted.status().code() == Status::Code::kNotFound && attempt < 5)
      continue;  // a loser removed its version meanwhile: look again
    // Any other failure leaves the outcome unknown (as a lost reply would): the version stays.
    if (!accepted.ok()) return accepted.status().WithContext("settle the write of " + key);
    if (NowMs() - started_ms > kSettleBudgetMs)
      return Status::Transient("settling the write of " + key + " took over " +
                               std::to_string(kSettleBudgetMs / 1000) + " s; outcome unknown");
    auto at = std::find(accepted->begin(), accepted->end(), mine);
    if (at != accepted->end()) {
      if (options.condition == PutOptions::Condition::kIfMatch && at != accepted->begin())
        Prune(conn, key, versions, *accepted, *(at - 1));
      return Status::OK();
    }
    CAIRN_RETURN_IF_ERROR(DeleteVersion(conn, key, mine));
    return lost();
  }
}

Status DeleteAllVersions(Connection& conn, const std::string& key) {
  CAIRN_ASSIGN_OR_RETURN(auto marker, conn.Send({"DELETE", key}));
  if (marker.status != 204 && marker.status != 200 && marker.status != 404)
    return ErrorFromResponse(marker, "DELETE " + key);
  const std::string id = marker.Header("x-amz-version-id");
  if (id.empty() || id == "null") return Status::OK();  // versioning suspended
  CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
  auto it = std::find_if(versions.begin(), versions.end(),
                         [&](const KeyVersion& v) { return v.id == id; });
  if (it == versions.end()) return Status::OK();
  for (auto old = versions.rbegin(); old.base() != it + 1; ++old) {  // oldest first
    CAIRN_RETURN_IF_ERROR(DeleteVersion(conn, key, old->id));
  }
  return Status::OK();
}

}  // namespace cairn::s3
