// cairn server's process: the store, the HTTP server, the pool the operations run on, and an
// orderly stop (SIGTERM / SIGINT): stop accepting, answer what is in flight, stop the training
// jobs (SIGTERM to their scripts) and wait for them, then stop the endpoints.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "alarms.h"
#include "api.h"
#include "cairn/core/clock.h"
#include "endpoint_hosts.h"
#include "leases.h"
#include "metrics.h"
#include "transform_jobs.h"
#include "ui.h"

namespace cairn {

sigset_t api::BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

Status RunApiServer(const ApiServerOptions& options) {
  if (options.credentials.empty())
    return Status::InvalidArgument("cairn server needs at least one access key");
  sigset_t signals = api::BlockStopSignals();
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(options.store));
  std::error_code ec;
  std::filesystem::create_directories(options.work_root, ec);
  if (ec) return Status::FromErrno("create " + options.work_root, ec.value());
  Registry registry(std::move(store));
  net::Client http_client;
  Gate training_jobs;
  std::atomic<bool> stop_jobs{false};
  api::Context context{options, registry, http_client};
  context.training_jobs = &training_jobs;
  context.stop_jobs = &stop_jobs;
  api::Context::Watchers watchers;
  context.watchers = &watchers;
  char host[256] = "cairn";
  ::gethostname(host, sizeof(host) - 1);
  api::EndpointMetrics metrics(
      registry.store(),
      std::string(host) + "-" + std::to_string(::getpid()) + "-" + std::to_string(NowMs()));
  context.metrics = &metrics;
  api::Alarms alarms(context);
  context.alarms = &alarms;
  const std::string server_id = options.server_id.empty()
                                    ? std::string(host) + ":" + std::to_string(options.port)
                                    : options.server_id;
  const std::string url = options.advertise_url.empty()
                              ? "http://" +
                                    (options.host == "0.0.0.0" ? std::string(host) : options.host) +
                                    ":" + std::to_string(options.port)
                              : options.advertise_url;
  api::Leases leases(registry.store(), server_id, url,
                     static_cast<int64_t>(std::max(3, options.lease_seconds)) * 1000);
  context.leases = &leases;
  api::UiSessions ui_sessions;
  context.ui = &ui_sessions;
  {
    api::EndpointHosts endpoints(context);
    context.endpoints = &endpoints;
    api::TransformJobs transforms(context);
    context.transforms = &transforms;
    CAIRN_RETURN_IF_ERROR(transforms.FailOrphans());
    // Operations touch the store (and may publish): they run on a pool, off the event loops. The
    // dashboard's pages (which may read whole weight files) have a small pool of their own, so
    // that they never hold up the API or InvokeEndpoint.
    ThreadPool pool(8);
    ThreadPool ui_pool(2);
    net::HttpServer::Options ho;
    ho.host = options.host;
    ho.port = options.port;
    ho.max_body = 16 << 20;
    CAIRN_ASSIGN_OR_RETURN(
        auto http, net::HttpServer::Listen(ho, [&](net::HttpRequest& req, net::Respond respond) {
          const bool ui = req.target == "/ui" || req.target.rfind("/ui/", 0) == 0;
          (ui ? ui_pool : pool)
              .Post([&context, req = std::move(req), respond = std::move(respond)] {
                net::HttpResponse r;
                try {
                  r = api::HandleRequest(context, req);
                } catch (const std::exception& e) {  // never take the server down with a request
                  r.status = 500;
                  r.headers.emplace_back("x-amzn-ErrorType", "InternalFailure");
                  r.body = api::Json{{"__type", "InternalFailure"}, {"message", e.what()}}.dump(
                      -1, ' ', false, api::Json::error_handler_t::replace);
                }
                respond(std::move(r));
              });
        }));
    // Endpoints come back only once the port is ours: a server that cannot listen changes nothing.
    // What no live server runs (this one's own after a restart) is taken over now, then every
    // third of the lease time, when this server's leases are renewed too.
    api::TakeOverOrphans(context);
    endpoints.StartHealthChecks();
    // Renewal on a thread of its own, so that a long scan never lets a lease lapse.
    auto renewal = std::make_unique<Periodic>(std::chrono::milliseconds(leases.ttl_ms() / 3),
                                              [&context] { api::RenewLeases(context); });
    auto takeover = std::make_unique<Periodic>(std::chrono::milliseconds(leases.ttl_ms() / 3),
                                               [&context] { api::TakeOverOrphans(context); });
    std::fprintf(stderr,
                 "cairn server: SageMaker API on http://%s:%d (store %s), dashboard at /ui\n",
                 options.host.c_str(), options.port, options.store.c_str());
    std::thread stopper([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      http->Stop();
    });
    http->Run();  // until a signal: requests in flight are answered before it returns
    pool.Shutdown();
    ui_pool.Shutdown();
    takeover.reset();  // nothing is taken over while the server stops
    // Training jobs this server runs are stopped as StopTrainingJob would (their scripts get
    // SIGTERM and may save), and waited for: their threads use the registry.
    stop_jobs = true;
    {  // Slurm jobs are let go of (they run on; the next owner watches them)
      std::lock_guard<std::mutex> lock(watchers.mu);
      for (auto& [name, flag] : watchers.flags) flag->store(true);
    }
    training_jobs.Close();
    pthread_kill(stopper.native_handle(), SIGTERM);  // wakes sigwait if the server stopped itself
    stopper.join();
  }                     // the endpoints stop here (each finishes its requests in flight)
  leases.ReleaseAll();  // the other servers take over at once
  return Status::OK();
}

}  // namespace cairn
