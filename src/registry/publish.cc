#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "chunker.h"
#include "locks.h"
#include "manifest.h"

namespace cairn {

namespace fs = std::filesystem;
using namespace registry;
using namespace layout;

namespace {

struct Piece {
  size_t file;
  uint64_t offset, size;
  std::string sha256;
};

Result<std::vector<std::pair<std::string, fs::path>>> ListFiles(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound(dir + ": not a directory");
  std::vector<std::pair<std::string, fs::path>> out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_symlink()) {
      return Status::Unsupported(it->path().string() + ": symbolic links cannot be published");
    }
    if (it->is_directory()) continue;
    if (!it->is_regular_file()) {
      return Status::Unsupported(it->path().string() + ": not a regular file");
    }
    out.emplace_back(fs::relative(it->path(), dir).generic_string(), it->path());
  }
  if (ec) return Status::FromErrno("walk " + dir, ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<VersionInfo> Registry::Publish(const std::string& group, const std::string& dir,
                                      const PublishOptions& options, PublishStats* stats_out) {
  CAIRN_RETURN_IF_ERROR(ValidateName("model group", group));
  CAIRN_ASSIGN_OR_RETURN(auto files, ListFiles(dir));
  // A shared lock keeps gc from deleting a chunk this publish finds present and reuses. While a
  // gc runs, wait for it (up to about a minute).
  std::unique_ptr<StoreLock> lock;
  for (int attempt = 1;; ++attempt) {
    auto l = StoreLock::Acquire(*store_, StoreLock::Kind::kShared, *clock_);
    if (l.ok()) {
      lock = std::move(l).value();
      break;
    }
    if (l.status().code() != Status::Code::kPreconditionFailed || attempt >= 60) return l.status();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const size_t threads = options.parallelism > 0 ? options.parallelism : DefaultParallelism();

  // 1. Map each file and cut it into content-defined chunks (the scan for cut points runs in
  //    parallel), then 2. hash the chunks and store the ones the store lacks, in parallel.
  VersionInfo v;
  v.group = group;
  v.description = options.description;
  v.metrics = options.metrics;
  v.tags = options.tags;
  v.lineage = options.lineage;
  v.created_by = WhoAmI();
  std::vector<std::shared_ptr<const MappedFile>> maps(files.size());
  std::vector<Piece> pieces;
  for (size_t i = 0; i < files.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(maps[i], MappedFile::Open(files[i].second.string()));
    struct stat st {};
    ::stat(files[i].second.c_str(), &st);
    FileEntry e;
    e.path = files[i].first;
    CAIRN_RETURN_IF_ERROR(ValidateKey(e.path).WithContext("file name"));
    e.size = maps[i]->size();
    e.mode = st.st_mode & 0777;
    v.files.push_back(std::move(e));
    uint64_t start = 0;
    for (size_t end : ChunkEnds(maps[i]->data(), maps[i]->size())) {
      pieces.push_back(Piece{i, start, end - start, ""});
      start = end;
    }
  }

  std::mutex mu;
  std::set<std::string> seen;  // chunks repeated within this publish go up once
  std::atomic<uint64_t> new_chunks{0}, new_bytes{0};
  auto store_piece = [&](Piece& p) -> Status {
    const uint8_t* data = maps[p.file]->data() + p.offset;
    p.sha256 = Sha256Hex(data, p.size);
    struct Report {  // counts the piece as done however this lambda returns
      const ProgressFn& fn;
      uint64_t n;
      ~Report() {
        if (fn) fn(n);
      }
    } report{options.progress, p.size};
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!seen.insert(p.sha256).second) return Status::OK();
    }
    const std::string key = ChunkKey(p.sha256);
    auto head = store_->Head(key);
    if (head.ok() && head->size == p.size) return Status::OK();
    if (!head.ok() && head.status().code() != Status::Code::kNotFound) return head.status();
    BufferSource src(data, p.size);
    PutOptions unsynced;
    unsynced.sync = false;  // one Sync() before the manifest makes them all durable
    CAIRN_RETURN_IF_ERROR(
        store_->Put(key, src, unsynced).status().WithContext("store chunk " + key));
    new_chunks++;
    new_bytes += p.size;
    return Status::OK();
  };
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      pieces.size(), [&](size_t k) { return store_piece(pieces[k]); }, threads));

  PublishStats stats;
  stats.files = files.size();
  stats.chunks = pieces.size();
  for (const Piece& p : pieces) {
    v.files[p.file].chunks.push_back(ChunkRef{p.sha256, p.size});
    stats.bytes += p.size;
  }
  for (auto& f : v.files) f.sha256 = FileDigest(f.chunks);
  stats.new_chunks = new_chunks;
  stats.new_bytes = new_bytes;

  // 3. Every chunk durable before the manifest that refers to them.
  if (new_chunks > 0) CAIRN_RETURN_IF_ERROR(store_->Sync());

  // 4. Take the next version number with a create-if-absent write of the manifest, unless a
  //    gc broke this publish's lock as stale meanwhile (it may have taken chunks we reuse).
  CAIRN_RETURN_IF_ERROR(lock->StillHeld());
  CAIRN_ASSIGN_OR_RETURN(int64_t latest, LatestVersion(group));
  for (int attempt = 0; attempt < 10000; ++attempt) {
    v.version = latest + 1;
    v.created_ms = NowMs();
    auto put =
        PutString(*store_, VersionKey(group, v.version), ManifestToJson(v), PutOptions::IfAbsent());
    if (put.ok()) {
      if (stats_out) *stats_out = stats;
      // The publisher of a page's last version writes the page (best effort: a lister writes it
      // otherwise), so listings stay fast from the start.
      if (v.version % layout::kIndexPageSize == 0)
        (void)WriteIndexPage(group, v.version / layout::kIndexPageSize - 1);
      return v;
    }
    if (put.status().code() != Status::Code::kPreconditionFailed) return put.status();
    // Someone else took that number: look again (they may have taken several).
    CAIRN_ASSIGN_OR_RETURN(int64_t now_latest, LatestVersion(group));
    latest = std::max(latest + 1, now_latest);
  }
  return Status::Transient("could not take a version number for " + group + " after 10000 tries");
}

}  // namespace cairn
