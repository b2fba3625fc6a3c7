// The model registry: immutable, numbered, content-addressed versions of model directories in an
// object store, with aliases, approval status and lineage. The store is the only source of truth;
// the layout is documented in docs/registry.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/core/clock.h"
#include "cairn/core/file.h"
#include "cairn/formats/weights.h"
#include "cairn/storage/object_store.h"

namespace cairn {

// A chunk of a file: its SHA-256 (hex) and size.
struct ChunkRef {
  std::string sha256;
  uint64_t size = 0;
};

struct FileEntry {
  std::string path;  // relative, '/'-separated
  uint64_t size = 0;
  uint32_t mode = 0644;
  std::string sha256;  // of the whole file
  std::vector<ChunkRef> chunks;
};

enum class Approval { kPendingManualApproval, kApproved, kRejected };
std::string_view ApprovalName(Approval a);  // SageMaker's names

struct VersionInfo {
  std::string group;
  int64_t version = 0;
  int64_t created_ms = 0;
  std::string created_by;  // user@host
  std::string description;
  std::map<std::string, std::string> metrics;  // name -> value as given
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> lineage;  // training job, code/data digests, framework ...
  std::vector<FileEntry> files;
  Approval approval = Approval::kPendingManualApproval;  // the current status
  std::vector<std::string> aliases;                      // aliases pointing here now
  uint64_t total_size() const;
  std::string ref() const { return group + ":" + std::to_string(version); }
};

struct PublishOptions {
  std::string description;
  std::map<std::string, std::string> metrics, tags, lineage;
  int parallelism = 0;  // 0: DefaultParallelism()
  ProgressFn progress;  // told of the bytes hashed (and stored if new), chunk by chunk
};

struct PublishStats {
  uint64_t files = 0, bytes = 0;
  uint64_t chunks = 0, new_chunks = 0, new_bytes = 0;  // what this publish had to upload
};

struct VerifyReport {
  uint64_t versions = 0, chunks = 0, bytes = 0;  // checked (each distinct chunk once)
  std::vector<std::string> problems;             // one line each: chunk, file, version, what
};

struct GcReport {
  uint64_t referenced = 0;                  // chunks some version uses (kept)
  uint64_t deleted = 0, deleted_bytes = 0;  // unreferenced chunks removed (or, dry run, found)
  // The store keeps deleted objects as noncurrent versions (ObjectStore::DeleteKeepsVersions):
  // deleted_bytes come back only through the bucket's lifecycle rule.
  bool space_kept_as_versions = false;
};

struct FileDiff {
  enum class Kind { kAdded, kRemoved, kChanged };
  Kind kind;
  std::string path;
  // For changed weight files (.pth .pt .bin .ckpt .safetensors) that both parse: the tensors.
  std::vector<TensorDiff> tensors;
};

struct AliasEvent {
  int64_t seq = 0;
  int64_t version = 0;  // 0: the alias was removed
  int64_t at_ms = 0;
  std::string by;
};

namespace registry {
class ChunkCache;
}

class Registry {
 public:
  // `cache_dir`: a local chunk cache shared by all versions and processes, so that restoring a
  // second version fetches only the chunks the cache lacks (worth it for remote stores; empty:
  // no cache). registry::DefaultCacheDir() gives the XDG location.
  // `clock` decides when a lock left by a crashed publisher or gc has expired (tests pass a
  // ManualClock); it must outlive the registry.
  explicit Registry(std::unique_ptr<ObjectStore> store, const std::string& cache_dir = "",
                    const Clock& clock = Clock::System());
  ~Registry();

  ObjectStore& store() { return *store_; }

  // Publishes the files under `dir` as version latest+1 of `group`: chunks first (each stored
  // once under its SHA-256), then the manifest with a create-if-absent write; if another
  // publisher took that number, the next one is tried. Readers never see a partial version.
  Result<VersionInfo> Publish(const std::string& group, const std::string& dir,
                              const PublishOptions& options = {}, PublishStats* stats = nullptr);

  // "group:3", "group:latest", "group@alias" -> the version.
  Result<VersionInfo> Resolve(const std::string& ref);
  Result<std::vector<std::string>> ListGroups();
  Result<std::vector<VersionInfo>> ListVersions(const std::string& group);

  // Restores the version's files into `dir` (which must not exist yet): written under a
  // temporary name beside it, every chunk's SHA-256 checked before its bytes are used, then
  // renamed into place. A missing or corrupt chunk fails the restore, naming chunk and file.
  Result<VersionInfo> Restore(const std::string& ref, const std::string& dir,
                              const ProgressFn& progress = nullptr);

  // One file of a version in memory, every chunk verified: for loading weights without a
  // directory (e.g. ReadPyTorch on the result). Chunks are fetched and checked in parallel.
  Result<std::shared_ptr<const MappedFile>> ReadFile(const std::string& ref,
                                                     const std::string& path);

  // Checks that every chunk of every version (of `group`, or of all groups when empty) is
  // present and matches its SHA-256. Problems are reported, not returned as an error.
  Result<VerifyReport> Verify(const std::string& group = "");

  // Files added, removed and changed from version `a` to version `b` (by digest), with the
  // tensor differences of changed weight files.
  Result<std::vector<FileDiff>> Diff(const std::string& a, const std::string& b);

  // Deletes the chunks no version references (those a failed publish left). Safe against
  // publishes running at the same time: publishers hold a shared lock object and gc an exclusive
  // one; each writes its lock before looking for the other's, so one of them always backs off.
  // Fails with kPreconditionFailed, deleting nothing, while a publish is in progress.
  // Deletes the lock objects of crashed publishers and collectors (past their expiry, heartbeat
  // stopped, process gone or host rebooted: src/registry/locks.h); "<key>: <why>" for each one.
  // A live publish whose lock is broken fails before it commits anything.
  Result<std::vector<std::string>> BreakStaleLocks();
  Result<GcReport> CollectGarbage(bool dry_run = false);

  // Points `alias` at a version (compare-and-swap on its append-only history).
  // `by` is who the event names (AliasEvent::by); empty: this process's user@host. The same for
  // Rollback and SetApproval.
  Status SetAlias(const std::string& group, const std::string& alias, int64_t version,
                  const std::string& by = "");
  // Moves the alias back to the version it pointed at before its last move; returns it.
  Result<int64_t> Rollback(const std::string& group, const std::string& alias,
                           const std::string& by = "");
  Result<std::vector<AliasEvent>> AliasHistory(const std::string& group, const std::string& alias);
  Status SetApproval(const std::string& ref, Approval status, const std::string& by = "");

 private:
  Result<VersionInfo> Load(const std::string& group, int64_t version);
  Result<int64_t> LatestVersion(const std::string& group);
  // An alias's history replayed: "set" pushes a version, "rollback" pops one; the alias points
  // at the top of the stack.
  struct AliasState {
    std::vector<AliasEvent> history, stack;
    int64_t last_seq = 0;
  };
  Result<AliasState> ReadAlias(const std::string& group, const std::string& alias);
  // Every alias whose event keys (under AliasesPrefix(group), sorted) are given, replayed; the
  // events are read in parallel (listing.cc).
  // Writes index page `page` (create-if-absent) when all its versions exist (listing.cc).
  Status WriteIndexPage(const std::string& group, int64_t page);
  Result<std::map<std::string, AliasState>> ReadAliases(const std::string& group,
                                                        const std::vector<std::string>& keys);
  Status AppendEvent(const std::string& prefix, const std::string& body_json, int64_t* seq_out);
  Status Decorate(VersionInfo& v);  // approval and aliases

  Status FetchChunk(const ChunkRef& chunk, uint8_t* dest, const std::string& where);

  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<registry::ChunkCache> cache_;
  const Clock* clock_;
};

namespace registry {
// $CAIRN_CACHE_DIR, else $XDG_CACHE_HOME/cairn/chunks, else ~/.cache/cairn/chunks.
std::string DefaultCacheDir();
// $XDG_DATA_HOME/cairn/<name>, else ~/.local/share/cairn/<name>.
std::string DataDir(const std::string& name);
// The store every cairn program uses: `uri` when not empty, else $CAIRN_STORE, else
// DataDir("store") (a local directory).
std::string StoreUri(const std::string& uri);
}  // namespace registry

// The registry over registry::StoreUri(uri), as every cairn program opens it: remote (s3://)
// stores get the local chunk cache (CAIRN_CACHE_DIR=off disables it). Errors: OpenStore's.
Result<std::unique_ptr<Registry>> OpenRegistry(const std::string& uri);

// Checks a group or alias name: 1-63 of [A-Za-z0-9-_.], starting with a letter or digit.
Status ValidateName(const std::string& what, const std::string& name);

}  // namespace cairn
