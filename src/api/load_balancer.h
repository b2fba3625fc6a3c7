// Private to api: HAProxy in front of a production variant's instances (cairn server
// --load-balancer haproxy). One haproxy process per variant, listening on its own port, with one
// backend whose servers are added and removed at run time through HAProxy's runtime API
// (https://docs.haproxy.org/2.6/management.html#9.3: set server addr/state, show stat) over fixed
// server slots, so a change of instances never reloads it and never drops a connection. HAProxy
// checks each server's /ping every 500 ms, takes one that fails twice out of rotation, and sends a
// request whose connection failed to another server (retry-on, redispatch; bodies buffered so a
// POST can be sent again).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/core/subprocess.h"

namespace cairn::api {

struct Backend {
  std::string name;     // the instance id: "i-..."
  std::string address;  // host or dotted quad
  int port = 0;
};

struct BackendState {
  std::string name;
  std::string status;  // HAProxy's: "UP", "DOWN", "MAINT", "UP 1/2", "no check", ...
  int64_t current_sessions = 0;
  bool up() const { return status.rfind("UP", 0) == 0 || status == "no check"; }
};

class LoadBalancer {
 public:
  // Starts haproxy (`program`) listening on `bind_address`:<a free port>, its config under `dir`
  // (created; the config names the runtime API's socket, in a short folder under /tmp). kIOError
  // when it cannot start or does not answer in 10 s.
  static Result<std::unique_ptr<LoadBalancer>> Start(const std::string& program,
                                                     const std::string& dir,
                                                     const std::string& bind_address);
  // Stops haproxy (SIGUSR1: it finishes the requests in flight, then exits; SIGKILL after 90 s).
  ~LoadBalancer();

  // Server slots of the backend (server-template): instances in rotation and those draining.
  static constexpr int kSlots = 32;
  // Makes the backend's servers exactly `servers`: new ones take a free slot (checked, in
  // rotation), missing ones are drained and their slot freed once their connections end.
  // Errors: the runtime API's answer; kIOError when every slot is taken.
  Status SetServers(const std::vector<Backend>& servers);
  // Takes one server out of rotation at once (an instance known to be dead).
  Status Disable(const std::string& name);
  // Each server's state, from `show stat`.
  Result<std::vector<BackendState>> States();

  int port() const { return port_; }
  // The URL clients send requests to: http://<address>:<port>.
  std::string url() const { return url_; }

 private:
  LoadBalancer() = default;
  static constexpr const char* kDraining = "draining:";
  // One runtime API command; its answer.
  Result<std::string> Command(const std::string& command);
  // `show stat` of the backend's slots (names "slotN").
  Result<std::vector<BackendState>> RawStates();
  void FreeDrained();  // frees the slots of drained servers whose connections have ended (mu_)

  std::string dir_, socket_dir_, socket_, url_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::mutex mu_;  // guards slots_
  // Per slot: "" free, an instance id, or kDraining + the id of one being removed.
  std::vector<std::string> slots_ = std::vector<std::string>(kSlots);
};

}  // namespace cairn::api
