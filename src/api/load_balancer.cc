#include "load_balancer.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/net/port.h"

namespace cairn::api {

namespace fs = std::filesystem;

namespace {

std::string Config(const std::string& socket, const std::string& bind) {
  return "# written by cairn server: one production variant's instances\n"
         "global\n"
         "  stats socket " +
         socket +
         " mode 600 level admin\n"
         "  maxconn 8192\n"
         "defaults\n"
         "  mode http\n"
         "  timeout connect 2s\n"
         "  timeout client 65s\n"
         "  timeout server 65s\n"  // InvokeEndpoint's 60 s, and some
         "  timeout http-keep-alive 60s\n"
         "  retries 2\n"
         "  option redispatch 1\n"
         "  retry-on conn-failure empty-response\n"
         "frontend variant\n"
         "  bind " +
         bind +
         "\n"
         "  default_backend instances\n"
         "backend instances\n"
         "  balance roundrobin\n"
         "  option http-buffer-request\n"
         "  option httpchk GET /ping\n"
         "  http-check expect status 200\n"
         "  default-server inter 500ms fall 2 rise 1\n";
}

}  // namespace

Result<std::unique_ptr<LoadBalancer>> LoadBalancer::Start(const std::string& program,
                                                          const std::string& dir,
                                                          const std::string& bind_address) {
  std::unique_ptr<LoadBalancer> lb(new LoadBalancer());
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::FromErrno("create " + dir, ec.value());
  lb->dir_ = dir;
  lb->dir_ = dir;
  // A unix socket's path has at most 107 bytes: the runtime API's lives in a short folder.
  std::string sock_dir = (fs::temp_directory_path() / "cairn-lb-XXXXXX").string();
  if (!::mkdtemp(sock_dir.data())) return Status::FromErrno("mkdtemp " + sock_dir, errno);
  lb->socket_dir_ = sock_dir;
  lb->socket_ = sock_dir + "/admin.sock";
  for (int attempt = 0; attempt < 3; ++attempt) {
    lb->port_ = net::FreeLocalPort();
    const std::string bind = bind_address + ":" + std::to_string(lb->port_);
    CAIRN_RETURN_IF_ERROR(WriteFileAtomically(dir + "/haproxy.cfg", Config(lb->socket_, bind)));
    fs::remove(lb->socket_, ec);
    SubprocessOptions o;
    o.argv = {program, "-f", dir + "/haproxy.cfg", "-db"};  // -db: in the foreground
    o.stdout_mode = SubprocessOptions::Stdio::kNull;
    o.death_signal = SIGTERM;
    CAIRN_ASSIGN_OR_RETURN(lb->process_, Subprocess::Start(o));
    for (int i = 0; i < 400; ++i) {
      if (lb->process_->Poll()) break;  // the port was taken meanwhile: another one
      if (lb->Command("show info").ok()) {
        lb->url_ = "http://" +
                   (bind_address == "0.0.0.0" ? std::string("127.0.0.1") : bind_address) + ":" +
                   std::to_string(lb->port_);
        return lb;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    lb->process_.reset();
  }
  return Status::IOError("haproxy (" + program + ") did not start; its config is in " + dir);
}

LoadBalancer::~LoadBalancer() {
  if (process_) {
    process_->Signal(SIGUSR1);  // soft stop: no new connections, the open ones finish
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (!process_->Poll() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    process_.reset();  // SIGKILL if it still runs
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (!socket_dir_.empty()) fs::remove_all(socket_dir_, ec);
}

Result<std::string> LoadBalancer::Command(const std::string& command) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno("socket", errno);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof(addr.sun_path))
    return Status::InvalidArgument("socket path too long: " + socket_);
  std::copy(socket_.begin(), socket_.end(), addr.sun_path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return Status::FromErrno("connect " + socket_, errno);
  const std::string line = command + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return Status::FromErrno("send to haproxy", errno);
  std::string out;
  char buf[8192];
  for (;;) {  // one command, then haproxy closes the connection
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return Status::IOError("haproxy did not answer: " + command);
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) return Status::FromErrno("read from haproxy", errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status LoadBalancer::SetServers(const std::vector<Backend>& servers) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Backend& b : servers) {
    if (std::find(servers_.begin(), servers_.end(), b.name) != servers_.end()) continue;
    const std::string s = "instances/" + b.name;
    CAIRN_ASSIGN_OR_RETURN(
        const std::string added,
        Command("add server " + s + " " + b.address + ":" + std::to_string(b.port) + " check"));
    if (added.find("New server registered") == std::string::npos)
      return Status::IOError("haproxy: add server " + s + ": " + added);
    CAIRN_RETURN_IF_ERROR(Command("enable health " + s).status());
    CAIRN_RETURN_IF_ERROR(Command("enable server " + s).status());
    servers_.push_back(b.name);
  }
  for (auto it = servers_.begin(); it != servers_.end();) {
    const bool keep = std::any_of(servers.begin(), servers.end(),
                                  [&](const Backend& b) { return b.name == *it; });
    if (keep) {
      ++it;
      continue;
    }
    // Drained: no new requests, those in flight finish; deleted once they have.
    (void)Command("set server instances/" + *it + " state drain");
    draining_.push_back(*it);
    it = servers_.erase(it);
  }
  DeleteDrained();
  return Status::OK();
}

void LoadBalancer::DeleteDrained() {
  auto states = States();
  if (!states.ok()) return;
  for (auto it = draining_.begin(); it != draining_.end();) {
    bool idle = true;
    for (const auto& s : *states)
      if (s.name == *it && s.current_sessions > 0) idle = false;
    if (idle) {
      (void)Command("set server instances/" + *it + " state maint");
      (void)Command("del server instances/" + *it);
      it = draining_.erase(it);
    } else {
      ++it;
    }
  }
}

Status LoadBalancer::Disable(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return Command("set server instances/" + name + " state maint").status();
}

Result<std::vector<BackendState>> LoadBalancer::States() {
  CAIRN_ASSIGN_OR_RETURN(const std::string csv, Command("show stat"));
  // "# pxname,svname,qcur,qmax,scur,...,status,..." then one line per proxy and server.
  std::vector<BackendState> out;
  std::vector<std::string> header;
  size_t start = 0;
  while (start < csv.size()) {
    size_t nl = csv.find('\n', start);
    if (nl == std::string::npos) nl = csv.size();
    std::string line = csv.substr(start, nl - start);
    start = nl + 1;
    std::vector<std::string> fields;
    size_t f = line.rfind("# ", 0) == 0 ? 2 : 0;
    while (f <= line.size()) {
      size_t comma = line.find(',', f);
      if (comma == std::string::npos) comma = line.size();
      fields.push_back(line.substr(f, comma - f));
      f = comma + 1;
    }
    if (line.rfind("# ", 0) == 0) {
      header = fields;
      continue;
    }
    if (header.empty() || fields.size() < header.size() || fields[0] != "instances") continue;
    auto col = [&](const char* name) -> std::string {
      for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return fields[i];
      return "";
    };
    const std::string sv = col("svname");
    if (sv == "BACKEND" || sv == "FRONTEND") continue;
    out.push_back({sv, col("status"), std::atoll(col("scur").c_str())});
  }
  return out;
}

}  // namespace cairn::api
