// `cairn ui`: the dashboard alone over a store, read-only (no API, no endpoints run here): the
// registry, training jobs and the endpoints' records and metrics as the store holds them.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cairn/core/clock.h"
#include "metrics.h"
#include "ui.h"

namespace cairn {

Status RunUiServer(const ApiServerOptions& options) {
  if (options.credentials.empty())
    return Status::InvalidArgument("cairn ui needs at least one access key to log in with");
  sigset_t signals = api::BlockStopSignals();
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(options.store));
  Registry registry(std::move(store));
  net::Client http_client;
  api::Context context{options, registry, http_client};
  // Reads the endpoints' metrics; records none, so writes none.
  api::EndpointMetrics metrics(registry.store(), "ui-" + std::to_string(::getpid()));
  context.metrics = &metrics;
  api::UiSessions sessions;
  context.ui = &sessions;
  ThreadPool pool(4);
  net::HttpServer::Options ho;
  ho.host = options.host;
  ho.port = options.port;
  ho.loops = 1;
  ho.max_body = 64 << 10;
  CAIRN_ASSIGN_OR_RETURN(
      auto http, net::HttpServer::Listen(ho, [&](net::HttpRequest& req, net::Respond respond) {
        pool.Post([&context, &sessions, req = std::move(req), respond = std::move(respond)] {
          net::HttpResponse r;
          try {
            if (req.target == "/ui" || req.target.rfind("/ui/", 0) == 0 ||
                req.target.rfind("/ui?", 0) == 0) {
              r = api::HandleUi(context, sessions, req, /*read_only=*/true);
            } else if (req.method == "GET" && req.target == "/ping") {
              r.body = "ok\n";
            } else {
              r.status = 303;
              r.content_type = "text/plain";
              r.headers.emplace_back("Location", "/ui/");
            }
          } catch (const std::exception& e) {  // never take the server down with a request
            r = net::HttpResponse{};
            r.status = 500;
            r.body = api::Json{{"error", e.what()}}.dump(-1, ' ', false,
                                                         api::Json::error_handler_t::replace);
          }
          respond(std::move(r));
        });
      }));
  std::fprintf(stderr, "cairn ui: dashboard (read-only) on http://%s:%d/ui/ (store %s)\n",
               options.host.c_str(), options.port, options.store.c_str());
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    http->Stop();
  });
  http->Run();
  pool.Shutdown();
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return Status::OK();
}

}  // namespace cairn
