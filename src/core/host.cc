#include "cairn/core/host.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
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

std::string InterfaceFor(const std::string& ipv4) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "lo";
  std::string exact, first;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP)) continue;
    char buf[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof buf);
    if (ipv4 == buf) exact = a->ifa_name;
    if (first.empty() && !(a->ifa_flags & IFF_LOOPBACK)) first = a->ifa_name;
  }
  ::freeifaddrs(list);
  return !exact.empty() ? exact : !first.empty() ? first : "lo";
}

}  // namespace cairn
