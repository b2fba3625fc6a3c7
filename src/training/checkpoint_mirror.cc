#include "checkpoint_mirror.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

#include "cairn/storage/transfer.h"

namespace cairn::training {

namespace fs = std::filesystem;

namespace {
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                           IN_DELETE_SELF | IN_ONLYDIR;
}

Result<std::unique_ptr<CheckpointMirror>> CheckpointMirror::Start(const std::string& dir,
                                                                  const std::string& uri) {
  std::unique_ptr<CheckpointMirror> m(new CheckpointMirror());
  m->dir_ = dir;
  m->uri_ = uri;
  m->fd_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!m->fd_.valid()) return Status::FromErrno("inotify", errno);
  std::error_code ec;
  fs::create_directories(dir, ec);
  m->Watch("");
  m->dirty_.clear();  // what is there at the start came from the URI
  if (m->watches_.empty()) return Status::IOError("cannot watch " + dir);
  return m;
}

void CheckpointMirror::Watch(const std::string& rel) {
  const fs::path folder = rel.empty() ? fs::path(dir_) : fs::path(dir_) / rel;
  const int wd = ::inotify_add_watch(fd_.get(), folder.c_str(), kMask & ~IN_ONLYDIR);
  if (wd < 0) return;
  watches_[wd] = rel;
  // Whatever got into the folder before the watch existed.
  std::error_code ec;
  for (auto it = fs::directory_iterator(folder, ec); !ec && it != fs::end(it); it.increment(ec)) {
    const std::string child =
        rel.empty() ? it->path().filename().string() : rel + "/" + it->path().filename().string();
    if (it->is_directory()) {
      Watch(child);
    } else if (it->is_regular_file()) {
      dirty_.insert(child);
    }
  }
}

void CheckpointMirror::Drain() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
    if (n <= 0) return;
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      auto w = watches_.find(e->wd);
      if (w == watches_.end()) continue;
      if (e->mask & (IN_IGNORED | IN_DELETE_SELF)) {
        if (e->mask & IN_IGNORED) watches_.erase(w);
        continue;
      }
      if (e->len == 0) continue;
      const std::string rel = w->second.empty() ? e->name : w->second + "/" + e->name;
      if (e->mask & IN_ISDIR) {
        if (e->mask & (IN_CREATE | IN_MOVED_TO)) Watch(rel);
        continue;
      }
      if (e->mask & IN_CREATE) continue;  // not complete yet: wait for IN_CLOSE_WRITE
      dirty_.insert(rel);
    }
  }
}

Status CheckpointMirror::Flush() {
  Drain();
  std::set<std::string> pending;
  pending.swap(dirty_);
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    const fs::path local = fs::path(dir_) / *it;
    std::error_code ec;
    Status st;
    if (fs::is_regular_file(local, ec)) {
      st = UploadFile(local.string(), JoinUri(uri_, *it));
      if (st.ok()) ++uploads_;
    } else if (!fs::exists(local, ec)) {
      st = DeleteUri(JoinUri(uri_, *it));
      if (st.ok()) ++deletes_;
    }
    if (!st.ok()) {
      dirty_.insert(it, pending.end());  // try these again at the next flush
      return st.WithContext("checkpoint sync");
    }
  }
  return Status::OK();
}

}  // namespace cairn::training
