// Tar archives with libarchive (Debian's libarchive-dev): a mature, fuzzed reader of every tar and
// compression variant, which a hand-written reader would have to match.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>

#include "cairn/core/file.h"
#include "cairn/registry/artifacts.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;

Status ArchiveError(struct archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return Status::Corrupt(what + ": " + (msg ? msg : "archive error"));
}

// True when `rel` (relative, already split of "." parts) stays inside the directory.
bool StaysInside(const fs::path& rel) {
  int depth = 0;
  for (const auto& part : rel) {
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (part != "." && !part.empty()) {
      ++depth;
    }
  }
  return true;
}

}  // namespace

Status CreateTarGz(const std::string& dir, const std::string& out_path) {
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(out_path));
  ArchivePtr a(archive_write_new(), archive_write_free);
  archive_write_add_filter_gzip(a.get());
  archive_write_set_format_pax_restricted(a.get());
  struct Ctx {
    AtomicFileWriter* out;
    Status st;
  } ctx{out.get(), {}};
  auto write_cb = [](struct archive*, void* c, const void* buf, size_t n) -> la_ssize_t {
    auto* x = static_cast<Ctx*>(c);
    x->st = x->out->Append(buf, n);
    return x->st.ok() ? static_cast<la_ssize_t>(n) : -1;
  };
  if (archive_write_open(a.get(), &ctx, nullptr, write_cb, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "create " + out_path);
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) return Status::FromErrno("walk " + dir, ec.value());
  std::sort(files.begin(), files.end());
  std::vector<char> buf(1 << 20);
  for (const auto& path : files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(path.string(), errno);
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> e(archive_entry_new(),
                                                                             archive_entry_free);
    archive_entry_set_pathname(e.get(), fs::relative(path, dir).generic_string().c_str());
    archive_entry_set_size(e.get(), st.st_size);
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), st.st_mode & 0777);
    archive_entry_set_mtime(e.get(), st.st_mtime, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      return ArchiveError(a.get(), path.string());
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno(path.string(), errno);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(path.string(), errno);
      if (n == 0) break;
      if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) != n) {
        return ctx.st.ok() ? ArchiveError(a.get(), path.string()) : ctx.st;
      }
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return ctx.st.ok() ? ArchiveError(a.get(), out_path) : ctx.st;
  }
  return out->Commit();
}

Status ExtractTar(const std::string& archive, const std::string& dir, const ArchiveLimits& limits) {
  struct stat ast {};
  if (::stat(archive.c_str(), &ast) != 0) return Status::FromErrno(archive, errno);
  const uint64_t budget = std::min<uint64_t>(
      limits.max_total_bytes, std::max<uint64_t>(ast.st_size, 1 << 20) * limits.max_ratio);
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), archive.c_str(), 1 << 20) != ARCHIVE_OK) {
    return ArchiveError(a.get(), archive);
  }
  uint64_t total = 0, entries = 0;
  std::set<std::string> extracted;  // regular files written so far, relative
  std::vector<char> buf(1 << 20);
  struct archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveError(a.get(), archive);
    if (++entries > limits.max_entries) return Status::Unsafe(archive + ": too many entries");
    const char* name_c = archive_entry_pathname(e);
    const std::string name = name_c ? name_c : "";
    const fs::path rel = fs::path(name).lexically_normal();
    auto refuse = [&](const std::string& why) {
      return Status::Unsafe(archive + ": entry '" + name + "' " + why +
                            "; nothing was extracted outside " + dir);
    };
    const auto type = archive_entry_filetype(e);
    // The archive's root as a directory entry: "/" (the SageMaker SDK's repack writes its root
    // with arcname os.path.sep), "./" or "." (tar czf -C dir .). Nothing to create.
    if (type == AE_IFDIR && (rel == "/" || rel == "." || rel.empty())) continue;
    if (name.empty() || rel.is_absolute()) return refuse("has an absolute path");
    if (!StaysInside(fs::path(name))) return refuse("leaves the directory ('..')");
    const fs::path target = fs::path(dir) / rel;
    std::error_code ec;
    if (type == AE_IFDIR) {
      fs::create_directories(target, ec);
      if (ec) return Status::FromErrno("extract " + target.string(), ec.value());
      continue;
    }
    if (type == AE_IFLNK || archive_entry_hardlink(e) != nullptr) {
      const char* to = type == AE_IFLNK ? archive_entry_symlink(e) : archive_entry_hardlink(e);
      fs::path link = to ? fs::path(to) : fs::path();
      fs::path resolved = type == AE_IFLNK ? rel.parent_path() / link : link;
      if (link.empty() || link.is_absolute() || !StaysInside(resolved)) {
        return refuse("is a link to '" + link.string() + "', outside the directory");
      }
      // Links inside the directory are not needed for model artifacts: refuse them too, so no
      // later entry can write through one.
      return refuse("is a link; model archives hold plain files only");
    }
    if (type != AE_IFREG) return refuse("is a device, FIFO or socket");
    const int64_t size = archive_entry_size(e);
    if (size < 0 || total + static_cast<uint64_t>(size) > budget) {
      return refuse("expands past " + std::to_string(budget) + " bytes (a decompression bomb?)");
    }
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status::FromErrno("extract " + target.string(), ec.value());
    // A member given twice (tar rf appends): the last copy wins, as tar extracts it. Only a file
    // this extraction wrote is replaced; anything else already there is an error.
    if (!extracted.insert(rel.generic_string()).second && ::unlink(target.c_str()) != 0)
      return Status::FromErrno("replace " + target.string(), errno);
    UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::FromErrno("extract " + target.string(), errno);
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) return ArchiveError(a.get(), archive + " (" + name + ")");
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > budget) return refuse("expands past its declared size (a decompression bomb?)");
      for (la_ssize_t done = 0; done < n;) {
        ssize_t w = ::write(fd.get(), buf.data() + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return Status::FromErrno("write " + target.string(), errno);
        done += w;
      }
    }
    ::fchmod(fd.get(), archive_entry_perm(e) & 0755);
  }
  return Status::OK();
}

}  // namespace cairn
