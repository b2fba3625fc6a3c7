// SageMaker's model artifacts: `model.tar.gz` (the model directory's files at the archive's root,
// GZIP) or an uncompressed prefix (CompressionType NONE), in and out of the registry.
#pragma once

#include <string>

#include "cairn/registry/registry.h"

namespace cairn {

// Limits for extracting untrusted archives.
struct ArchiveLimits {
  uint64_t max_total_bytes = uint64_t{1} << 40;  // 1 TiB extracted at most
  uint64_t max_ratio = 200;  // extracted bytes per compressed byte (weights compress ~1.1x)
  uint64_t max_entries = 1000000;
};

// Packs the files under `dir` into a gzip-compressed tar at `out_path` (written atomically).
Status CreateTarGz(const std::string& dir, const std::string& out_path);

// Extracts an untrusted tar (gzip or not) into `dir` (which must exist and be empty). Refused,
// with the entry named: absolute paths, ".." components, symbolic or hard links that leave the
// directory, device files, FIFOs and sockets, and archives that expand past the limits (bombs).
Status ExtractTar(const std::string& archive, const std::string& dir,
                  const ArchiveLimits& limits = {});

// Exports a version to `uri`: a path or s3:// URI ending in .tar.gz/.tgz gets a model.tar.gz;
// anything else is a prefix that gets the files uncompressed.
Status ExportVersion(Registry& registry, const std::string& ref, const std::string& uri);

// Publishes a new version of `group` from a model.tar.gz or an uncompressed prefix (a local
// path or an s3:// URI), as a SageMaker training job leaves them.
Result<VersionInfo> ImportVersion(Registry& registry, const std::string& group,
                                  const std::string& uri, const PublishOptions& options = {});

}  // namespace cairn
