#include "cairn/core/host.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace cairn {

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

std::string BootId() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(f, id);
  return id;
}

int64_t CurrentPid() { return static_cast<int64_t>(::getpid()); }

bool ProcessAlive(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace cairn
