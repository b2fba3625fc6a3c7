#include "log_pump.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>

#include "cairn/core/clock.h"
#include "cairn/registry/log_pieces.h"

namespace cairn::api {

namespace {
constexpr int64_t kFlushEveryMs = 1000;
constexpr size_t kFlushAtBytes = 256 * 1024;
constexpr int kPollMs = 200;
}  // namespace

LogPump::LogPump(ObjectStore& store, std::string prefix, std::string stream, Subprocess& process)
    : store_(store), prefix_(std::move(prefix)), stream_(std::move(stream)), process_(process) {
  thread_ = std::thread([this] { Run(); });
}

LogPump::~LogPump() {
  stopping_ = true;
  thread_.join();
}

void LogPump::Run() {
  int64_t last_flush = NowMs();
  for (;;) {
    const int fd = process_.stdout_fd();
    if (fd < 0) break;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    const size_t before = unsent_.size();
    const bool open = process_.ReadOutput(&unsent_);
    if (unsent_.size() > before) {  // echoed as the server's own stderr always showed it
      [[maybe_unused]] ssize_t n = ::write(2, unsent_.data() + before, unsent_.size() - before);
    }
    if (NowMs() - last_flush >= kFlushEveryMs || unsent_.size() >= kFlushAtBytes) {
      Flush();
      last_flush = NowMs();
    }
    if (!open) break;
    // Once stopping, a quiet pipe means whatever still holds it (a stray worker) is not ours
    // to wait for.
    if (stopping_ && ready == 0) break;
  }
  Flush();
}

void LogPump::Flush() {
  if (unsent_.empty()) return;
  if (AppendLogPiece(store_, prefix_, stream_, seq_ + 1, unsent_).ok()) {
    ++seq_;
    unsent_.clear();
    return;
  }
  // Kept, and tried again at the next flush; a store that stays down costs at most 8 MiB.
  constexpr size_t kMaxUnsent = 8 << 20;
  if (unsent_.size() > kMaxUnsent) unsent_.erase(0, unsent_.size() - kMaxUnsent / 2);
}

}  // namespace cairn::api
