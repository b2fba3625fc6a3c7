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
         // A server found down has its requests in flight cut at once: on a host cut off they
         // would otherwise hang until `timeout server` (65 s).
         "  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions\n"
         // Fixed slots, given an instance's address at run time: servers added with `add
         // server` get no idle-connection reuse in HAProxy 2.6 and cost 3x the CPU per request
         // (bench/lb_bench.py measured 10k against 35k requests/s).
         "  server-template slot 1-" +
         std::to_string(LoadBalancer::kSlots) + " 127.0.0.1:1 check disabled\n";
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
    if (std::find(slots_.begin(), slots_.end(), b.name) != slots_.end()) continue;
    auto free = std::find(slots_.begin(), slots_.end(), std::string());
    if (free == slots_.end())
      return Status::IOError("haproxy: all " + std::to_string(kSlots) + " server slots are in use");
    const std::string s = "instances/slot" + std::to_string(free - slots_.begin() + 1);
    CAIRN_ASSIGN_OR_RETURN(
        const std::string moved,
        Command("set server " + s + " addr " + b.address + " port " + std::to_string(b.port)));
    // "IP changed from ...", "no need to change the addr, port changed ...", or nothing.
    if (moved.find("changed") == std::string::npos &&
        moved.find_first_not_of("\n ") != std::string::npos)
      return Status::IOError("haproxy: set server " + s + " addr " + b.address + ": " + moved);
    CAIRN_ASSIGN_OR_RETURN(const std::string ready, Command("set server " + s + " state ready"));
    if (ready.find_first_not_of("\n ") != std::string::npos)
      return Status::IOError("haproxy: set server " + s + " state ready: " + ready);
    *free = b.name;
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].empty() || slots_[i].rfind(kDraining, 0) == 0) continue;
    const bool keep = std::any_of(servers.begin(), servers.end(),
                                  [&](const Backend& b) { return b.name == slots_[i]; });
    if (keep) continue;
    // Drained: no new requests, those in flight finish; the slot is freed once they have.
    (void)Command("set server instances/slot" + std::to_string(i + 1) + " state drain");
    slots_[i] = kDraining + slots_[i];
  }
  FreeDrained();
  return Status::OK();
}

void LoadBalancer::FreeDrained() {
  auto states = RawStates();
  if (!states.ok()) return;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].rfind(kDraining, 0) != 0) continue;
    const std::string slot = "slot" + std::to_string(i + 1);
    bool idle = true;
    for (const auto& s : *states)
      if (s.name == slot && s.current_sessions > 0) idle = false;
    if (!idle) continue;
    (void)Command("set server instances/" + slot + " state maint");
    slots_[i].clear();
  }
}

Status LoadBalancer::Disable(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i] != name) continue;
    const std::string slot = "instances/slot" + std::to_string(i + 1);
    CAIRN_RETURN_IF_ERROR(Command("set server " + slot + " state maint").status());
    (void)Command("shutdown sessions server " + slot);  // a dead instance answers none of them
    slots_[i].clear();
  }
  return Status::OK();
}

Result<std::vector<BackendState>> LoadBalancer::States() {
  CAIRN_ASSIGN_OR_RETURN(auto raw, RawStates());
  std::lock_guard<std::mutex> lock(mu_);
  FreeDrained();
  std::vector<BackendState> out;
  for (auto& s : raw) {
    if (s.name.rfind("slot", 0) != 0) continue;
    const size_t i = static_cast<size_t>(std::atoi(s.name.c_str() + 4)) - 1;
    if (i >= slots_.size() || slots_[i].empty() || slots_[i].rfind(kDraining, 0) == 0) continue;
    s.name = slots_[i];
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<BackendState>> LoadBalancer::RawStates() {
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
