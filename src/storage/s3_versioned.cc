// Conditional writes on buckets that keep object versions but ignore If-None-Match / If-Match
// (Ceph RGW 16 with versioning enabled): "the oldest object version wins".
//
// Every PUT there adds an object version, so a conditional write is made as a plain PUT marked
// with metadata (x-amz-meta-cairn-write: if-absent | if-match, x-amz-meta-cairn-replaces: the
// ETag an if-match write expects), and then settled by looking at the key's versions
// (ListObjectVersions, newest first). The versions newer than the key's latest delete marker are
// its live generation; its value is found by walking that generation from the oldest version:
//  - the oldest version counts (the key's creation: any if-absent write after it lost);
//  - a later if-match version counts if it replaces the ETag of the version counting so far;
//  - a later plain (unconditional) version counts;
//  - anything else lost.
// A writer whose version does not count removes it and reports kPreconditionFailed, as a bucket
// that honours the headers would have. A writer that dies before removing a losing version
// leaves it behind, harmless: readers of marked keys walk the generation too (VersionToRead), and
// the next winning if-match write removes the versions older than the one it replaced.
// Deleting a key adds a delete marker, then removes every version older than it, so space is
// freed (and not by a lifecycle rule only).
#include <algorithm>
#include <map>
#include <mutex>

#include "s3_internal.h"

namespace cairn::s3 {

namespace {

std::mutex g_mu;
std::map<std::string, bool> g_versioned;  // "<endpoint> <bucket>" -> versioning on (or suspended)

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
    out.push_back(KeyVersion{XmlFirst(item, "VersionId"), Unquote(XmlFirst(item, "ETag")), marker});
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

// The versions of the generation that count, oldest first (the last is the key's value).
Result<std::vector<std::string>> Accepted(Connection& conn, const std::string& key,
                                          const std::vector<KeyVersion>& gen) {
  std::vector<std::string> accepted;
  std::string etag;  // of the version counting so far
  for (size_t i = 0; i < gen.size(); ++i) {
    if (i == 0) {
      accepted.push_back(gen[0].id);
      etag = gen[0].etag;
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto kind, WriteKind(conn, key, gen[i].id));
    const bool counts = kind.first.empty() || (kind.first == "if-match" && kind.second == etag);
    if (counts) {
      accepted.push_back(gen[i].id);
      etag = gen[i].etag;
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

// Removes the versions listed after `id` (older than it), oldest first: a reader meanwhile never
// sees an older generation come back, since its delete marker goes last.
Status DeleteOlderThan(Connection& conn, const std::string& key,
                       const std::vector<KeyVersion>& newest_first, const std::string& id) {
  auto it = std::find_if(newest_first.begin(), newest_first.end(),
                         [&](const KeyVersion& v) { return v.id == id; });
  if (it == newest_first.end()) return Status::OK();
  for (auto old = newest_first.rbegin(); old.base() != it + 1; ++old) {
    CAIRN_RETURN_IF_ERROR(DeleteVersion(conn, key, old->id));
  }
  return Status::OK();
}

}  // namespace

bool BucketVersioned(Connection& conn) {
  const std::string id = conn.endpoint() + " " + conn.bucket();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = g_versioned.find(id); it != g_versioned.end()) return it->second;
  }
  Connection::Call call{"GET", ""};
  call.query = {{"versioning", ""}};
  auto resp = conn.Send(call);
  if (!resp.ok() || resp->status != 200) return true;  // unknown: readers check (only slower)
  const std::string status = XmlFirst(resp->body, "Status");
  const bool versioned = status == "Enabled" || status == "Suspended";
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
    if (!truncated || key_marker.empty() || key_marker > key) break;
  }
  return out;
}

Result<std::string> VersionToRead(Connection& conn, const std::string& key) {
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(auto head, conn.Send({"HEAD", key}));
    if (head.status == 404) return Status::NotFound("no object '" + key + "'");
    if (head.status != 200) return ErrorFromResponse(head, "HEAD " + key);
    if (head.Header("x-amz-meta-cairn-write").empty()) return std::string();  // plain: current
    CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
    auto accepted = Accepted(conn, key, Generation(versions));
    if (accepted.ok()) {
      if (accepted->empty()) return Status::NotFound("no object '" + key + "'");
      return accepted->back();
    }
    // A version vanished while it was looked at (a writer cleaning up): look again.
    if (accepted.status().code() != Status::Code::kNotFound || attempt >= 5)
      return accepted.status();
  }
}

Status SettleConditionalWrite(Connection& conn, const std::string& key, const std::string& mine,
                              const PutOptions& options) {
  if (mine.empty() || mine == "null")
    return Status::Internal("PUT " + key + " made no object version on a versioned bucket");
  CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
  const auto gen = Generation(versions);
  bool won = false;
  if (options.condition == PutOptions::Condition::kIfAbsent) {
    won = !gen.empty() && gen.front().id == mine;
  } else {
    // If-Match: the key must have existed (mine is not the generation's first), and mine must
    // replace the value counting just before it.
    auto at =
        std::find_if(gen.begin(), gen.end(), [&](const KeyVersion& v) { return v.id == mine; });
    if (at != gen.end() && at != gen.begin()) {
      std::vector<KeyVersion> upto(gen.begin(), at + 1);
      auto accepted = Accepted(conn, key, upto);
      if (!accepted.ok()) {
        (void)DeleteVersion(conn, key, mine);
        return accepted.status().code() == Status::Code::kNotFound
                   ? Status::Transient("object '" + key + "' changed while a write was settled")
                   : accepted.status();
      }
      won = accepted->back() == mine;
      // The version replaced and mine are all that is needed now: drop the older ones.
      if (won && accepted->size() >= 2)
        (void)DeleteOlderThan(conn, key, versions, (*accepted)[accepted->size() - 2]);
    }
  }
  if (won) return Status::OK();
  CAIRN_RETURN_IF_ERROR(DeleteVersion(conn, key, mine));
  return options.condition == PutOptions::Condition::kIfAbsent
             ? Status::PreconditionFailed("object '" + key + "' already exists")
             : Status::PreconditionFailed("object '" + key + "' does not have etag " +
                                          options.if_match);
}

Status DeleteAllVersions(Connection& conn, const std::string& key) {
  CAIRN_ASSIGN_OR_RETURN(auto marker, conn.Send({"DELETE", key}));
  if (marker.status != 204 && marker.status != 200 && marker.status != 404)
    return ErrorFromResponse(marker, "DELETE " + key);
  const std::string id = marker.Header("x-amz-version-id");
  if (id.empty() || id == "null") return Status::OK();  // versioning suspended: nothing kept
  CAIRN_ASSIGN_OR_RETURN(auto versions, ListKeyVersions(conn, key));
  CAIRN_RETURN_IF_ERROR(DeleteOlderThan(conn, key, versions, id));
  return DeleteVersion(conn, key, id);
}

}  // namespace cairn::s3
