#include "cairn/net/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "cairn/core/file.h"

namespace cairn::net {

namespace {

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 303:
      return "See Other";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 424:
      return "Failed Dependency";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

ParseOutcome ParseHead(std::string_view in, size_t max_body, ParsedHead* out) {
  auto error = [](int status, std::string message) {
    return ParseOutcome{ParseOutcome::kError, status, std::move(message)};
  };
  const size_t end = in.find("\r\n\r\n");
  if ((end == std::string_view::npos ? in.size() : end) > 65536)
    return error(431, "the request's headers are larger than 64 KiB");
  if (end == std::string_view::npos) return {};
  HttpRequest& req = out->request;
  const size_t line_end = in.find("\r\n");
  const std::string_view line = in.substr(0, line_end);
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || line.substr(sp2 + 1, 5) != "HTTP/")
    return error(400, "malformed request line");
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const bool http10 = line.substr(sp2 + 1) == "HTTP/1.0";
  for (size_t pos = line_end + 2; pos < end;) {
    const size_t eol = in.find("\r\n", pos);
    const std::string h(in.substr(pos, eol - pos));
    pos = eol + 2;
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return error(400, "malformed header");
    req.headers.emplace_back(Lower(h.substr(0, colon)), Trim(h.substr(colon + 1)));
  }
  if (!req.Header("transfer-encoding").empty())
    return error(411, "request bodies need a Content-Length");
  const std::string cl = req.Header("content-length");
  if (!cl.empty()) {
    if (cl.size() > 15 || cl.find_first_not_of("0123456789") != std::string::npos)
      return error(400, "bad Content-Length");
    out->body_size = std::stoull(cl);
  }
  if (out->body_size > max_body) {
    return error(413, "the request body is larger than " + std::to_string(max_body / 1000000) +
                          " MB (the server's limit)");
  }
  out->head_size = end + 4;
  const std::string connection = Lower(req.Header("connection"));
  out->keep_alive = http10 ? connection == "keep-alive" : connection != "close";
  out->expect_continue = Lower(req.Header("expect")) == "100-continue";
  return ParseOutcome{ParseOutcome::kHead, 0, ""};
}

struct HttpServer::Loop {
  struct Conn {
    UniqueFd fd;
    std::string in, out;
    size_t out_off = 0;
    bool busy = false;         // a request is with the handler
    bool close_after = false;  // close once `out` is written
    bool continued = false;    // 100 Continue sent for the request being read
    bool draining = false;     // answered and half-closed: discarding what the client still sends
    uint64_t gen = 0;          // which request a late answer belongs to
    bool closed = false;       // closed during this batch of events; erased after it
    std::chrono::steady_clock::time_point last_active;
  };
  struct Done {
    int fd;
    uint64_t gen;
    HttpResponse response;
    bool keep_alive;
  };

  Options options;
  HttpHandler handler;
  UniqueFd listener, epoll, wake;
  std::unordered_map<int, Conn> conns;
  // Connections closed while a batch of epoll events is handled keep their descriptor open until
  // the batch ends: epoll reports descriptors by number, and a number freed mid-batch could be
  // reused by an accept in the same batch, which a stale event for the old connection (a hang-up)
  // would then close, resetting a client that did nothing wrong.
  std::vector<int> closed_fds;
  std::mutex mu;  // done
  std::vector<Done> done;
  std::atomic<bool> stopping{false};
  std::thread::id thread;
  uint64_t next_gen = 1;

  Status Init() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    const std::string port = std::to_string(options.port);
    if (int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return Status::InvalidArgument("listen address " + options.host + ": " + gai_strerror(rc));
    listener = UniqueFd(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    const bool ok = listener.valid() &&
                    ::bind(listener.get(), res->ai_addr, res->ai_addrlen) == 0 &&
                    ::listen(listener.get(), 1024) == 0;
    const int err = errno;
    ::freeaddrinfo(res);
    if (!ok) return Status::FromErrno("listen on " + options.host + ":" + port, err);
    epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    wake = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!epoll.valid() || !wake.valid()) return Status::FromErrno("epoll", errno);
    Watch(listener.get(), EPOLLIN, EPOLL_CTL_ADD);
    Watch(wake.get(), EPOLLIN, EPOLL_CTL_ADD);
    return Status::OK();
  }

  void Watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll.get(), op, fd, &ev);
  }

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof(one));
  }

  void Run() {
    thread = std::this_thread::get_id();
    epoll_event events[256];
    auto last_sweep = std::chrono::steady_clock::now();
    for (;;) {
      if (stopping && listener.valid()) {
        ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, listener.get(), nullptr);
        listener = UniqueFd();
        std::vector<int> idle;
        for (auto& [fd, c] : conns)
          if (!c.closed && !c.busy && c.out_off >= c.out.size()) idle.push_back(fd);
        for (int fd : idle) Close(fd);
      }
      Reap();
      if (stopping && conns.empty()) return;
      const int n = ::epoll_wait(epoll.get(), events, 256, 1000);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (listener.valid() && fd == listener.get()) {
          Accept();
        } else if (fd == wake.get()) {
          uint64_t v;
          (void)!::read(wake.get(), &v, sizeof(v));
          Completions();
        } else {
          if (events[i].events & (EPOLLERR | EPOLLHUP)) {
            Close(fd);
            continue;
          }
          if (events[i].events & EPOLLIN) Readable(fd);
          if (events[i].events & EPOLLOUT) Flush(fd);
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_sweep > std::chrono::seconds(1)) {  // idle keep-alive connections
        last_sweep = now;
        std::vector<int> old;
        for (auto& [fd, c] : conns) {
          if (c.closed) continue;
          const auto idle = now - c.last_active;
          if ((c.draining && idle > std::chrono::seconds(5)) ||
              (!c.busy && idle > std::chrono::seconds(options.idle_timeout_seconds)))
            old.push_back(fd);
        }
        for (int fd : old) Close(fd);
      }
      Reap();
    }
  }

  void Accept() {
    for (;;) {
      int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Conn& c = conns[fd];
      c.fd = UniqueFd(fd);
      c.last_active = std::chrono::steady_clock::now();
      Watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    }
  }

  // The connection, or null when there is none or it is closed (see closed_fds).
  Conn* Find(int fd) {
    auto it = conns.find(fd);
    return it == conns.end() || it->second.closed ? nullptr : &it->second;
  }
  void Close(int fd) {
    Conn* c = Find(fd);
    if (c == nullptr) return;
    c->closed = true;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    closed_fds.push_back(fd);
  }
  // Erases the connections closed in the batch (UniqueFd closes their descriptors).
  void Reap() {
    for (int fd : closed_fds) conns.erase(fd);
    closed_fds.clear();
  }

  void Readable(int fd) {
    Conn* found = Find(fd);
    if (found == nullptr) return;
    Conn& c = *found;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0 && c.draining) continue;
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > options.max_body + (1 << 20)) break;  // parse will refuse it
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        if (!c.busy || c.draining) {
          Close(fd);
        } else {  // answer the request in flight, then close; stop listening for input
          c.close_after = true;
          Watch(fd, EPOLLRDHUP, EPOLL_CTL_MOD);
        }
        return;
      }
      if (errno == EAGAIN) break;
    }
    if (c.draining) return;
    c.last_active = std::chrono::steady_clock::now();
    Parse(fd);
  }

  // Takes the next complete request off the connection, if no request is with the handler.
  void Parse(int fd) {
    Conn* found = Find(fd);
    if (found == nullptr) return;
    Conn& c = *found;
    if (c.busy || c.close_after) return;
    ParsedHead head;
    const ParseOutcome outcome = ParseHead(c.in, options.max_body, &head);
    if (outcome.kind == ParseOutcome::kError) return Reject(c, outcome.status, outcome.message);
    if (outcome.kind == ParseOutcome::kIncomplete) return;
    if (c.in.size() < head.head_size + head.body_size) {
      if (!c.continued && head.expect_continue) {
        c.continued = true;
        Send(c, "HTTP/1.1 100 Continue\r\n\r\n");
      }
      return;
    }
    HttpRequest req = std::move(head.request);
    req.body = c.in.substr(head.head_size, head.body_size);
    c.in.erase(0, head.head_size + head.body_size);
    c.continued = false;
    const bool keep_alive = head.keep_alive;
    c.busy = true;
    const uint64_t gen = c.gen = next_gen++;
    Loop* self = this;
    handler(req, [self, fd, gen, keep_alive](HttpResponse r) {
      if (std::this_thread::get_id() == self->thread) {
        self->Deliver(fd, gen, std::move(r), keep_alive);
        return;
      }
      {
        std::lock_guard<std::mutex> lock(self->mu);
        self->done.push_back(Done{fd, gen, std::move(r), keep_alive});
      }
      self->Wake();
    });
  }

  void Completions() {
    std::vector<Done> ready;
    {
      std::lock_guard<std::mutex> lock(mu);
      ready.swap(done);
    }
    for (auto& d : ready) Deliver(d.fd, d.gen, std::move(d.response), d.keep_alive);
  }

  void Deliver(int fd, uint64_t gen, HttpResponse r, bool keep_alive) {
    Conn* found = Find(fd);
    if (found == nullptr || found->gen != gen) return;  // the client went away
    Conn& c = *found;
    c.busy = false;
    if (!keep_alive || stopping) c.close_after = true;
    Send(c, Serialize(r, c.close_after));
    if (Find(fd)) Parse(fd);  // a pipelined request may be waiting
  }

  static std::string Serialize(const HttpResponse& r, bool close) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
    if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    out += r.body;
    return out;
  }

  void Reject(Conn& c, int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\": \"" + message + "\"}";
    c.close_after = true;
    c.in.clear();
    Send(c, Serialize(r, true));
  }

  void Send(Conn& c, const std::string& bytes) {
    c.out.append(bytes);
    Flush(c.fd.get());
  }

  void Flush(int fd) {
    Conn* found = Find(fd);
    if (found == nullptr) return;
    Conn& c = *found;
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        Watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, EPOLL_CTL_MOD);
        return;
      }
      Close(fd);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    Watch(fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    if (c.close_after && !c.draining) {
      // A lingering close: half-close, then discard what the client still sends (the rest of a
      // refused body) until it closes too, so that it reads our answer instead of a reset.
      ::shutdown(fd, SHUT_WR);
      c.draining = true;
      c.last_active = std::chrono::steady_clock::now();
    } else if (stopping && !c.busy && !c.draining) {
      Close(fd);
    }
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(const Options& options,
                                                       HttpHandler handler) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  int loops = options.loops > 0
                  ? options.loops
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Options opts = options;
  for (int i = 0; i < loops; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->options = opts;
    loop->handler = handler;
    CAIRN_RETURN_IF_ERROR(loop->Init());
    if (opts.port == 0) {  // the other loops take the port the first one got
      sockaddr_storage a{};
      socklen_t len = sizeof(a);
      ::getsockname(loop->listener.get(), reinterpret_cast<sockaddr*>(&a), &len);
      opts.port = ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
    }
    s->loops_.push_back(std::move(loop));
  }
  return s;
}

HttpServer::~HttpServer() = default;

void HttpServer::Run() {
  std::vector<std::thread> threads;
  for (size_t i = 1; i < loops_.size(); ++i) threads.emplace_back([this, i] { loops_[i]->Run(); });
  loops_[0]->Run();
  for (auto& t : threads) t.join();
}

void HttpServer::Stop() {
  for (auto& l : loops_) {
    l->stopping = true;
    l->Wake();
  }
}

}  // namespace cairn::net
