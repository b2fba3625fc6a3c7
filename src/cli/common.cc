#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <unistd.h>

#include "cairn/core/text.h"
#include "commands.h"

namespace cairn::cli {

int Fail(const Status& status) {
  std::string msg = status.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "cairn: %s\n", msg.c_str());
  return kExitError;
}

std::string DataDir(const std::string& name) { return registry::DataDir(name); }

namespace {
std::string& DefaultStore() {
  static std::string uri;
  return uri;
}
}  // namespace

void SetDefaultStore(const std::string& uri) { DefaultStore() = uri; }

std::string StoreUri(const std::string& flag) {
  return registry::StoreUri(flag.empty() ? DefaultStore() : flag);
}

Result<std::unique_ptr<Registry>> OpenRegistryAt(const std::string& flag) {
  return OpenRegistry(StoreUri(flag));
}

Result<std::map<std::string, std::string>> KeyValues(const std::vector<std::string>& items,
                                                     const char* flag) {
  std::map<std::string, std::string> out;
  for (const auto& kv : items) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(std::string(flag) + " wants KEY=VALUE, got '" + kv + "'");
    }
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::string SiblingProgram(const std::string& name) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "cairn";
  return self.substr(0, self.rfind('/') + 1) + name;
}

std::string Time(int64_t ms) { return Iso8601(ms); }

}  // namespace cairn::cli
