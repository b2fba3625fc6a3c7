// Whole trees between local folders and store URIs: what training channels, checkpoints, job
// outputs and artifact export need. A URI is "s3://bucket/prefix" or a local path.
#pragma once

#include <string>
#include <vector>

#include "cairn/storage/object_store.h"

namespace cairn {

// Copies what `uri` names into the local folder `dir` (created if missing): every object under
// the prefix (the "folder" uri/..., never sibling prefixes such as uri-2/...), or the single object
// or file `uri` names when there is one. Object keys become relative paths; a key that would
// leave `dir` is refused. Returns the relative paths written, sorted. A prefix with nothing
// under it gives an empty list, not an error. "s3://bucket/key?versionId=V" copies that version
// of the one object.
Result<std::vector<std::string>> DownloadTree(const std::string& uri, const std::string& dir);

// One version of an object (ObjectStore::GetVersion) into the local file `path`, written under a
// temporary name then renamed. Returns the bytes written.
Result<uint64_t> DownloadVersion(ObjectStore& store, const std::string& key,
                                 const std::string& version_id, const std::string& path);

// Copies every regular file under the local folder `dir` to uri/<relative path>, overwriting.
Status UploadTree(const std::string& dir, const std::string& uri);

// Copies one local file to a URI (an object, or a local path written atomically).
Status UploadFile(const std::string& path, const std::string& uri);

// Deletes the object (or local file) a URI names; missing is fine.
Status DeleteUri(const std::string& uri);

// Appends "/" + rel to a URI or path, with exactly one slash between.
std::string JoinUri(const std::string& uri, const std::string& rel);

// A digest of a local folder's contents: SHA-256 over the sorted list of (relative path, size,
// SHA-256 of the file). Two folders with the same files have the same digest.
Result<std::string> TreeDigest(const std::string& dir);

}  // namespace cairn
