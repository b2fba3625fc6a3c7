// cairn-serve REF: an endpoint for a registry version (or the version an alias / latest names,
// followed as it moves). `cairn serve` runs this program; it is separate because native serving
// links LibTorch, which the cairn command itself never loads.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cairn/serving/endpoint.h"
#include "cairn/serving/native.h"
#include "cairn/serving/server.h"

namespace {

// One line on stderr, exit status 2 (as every cairn command).
int Fail(const cairn::Status& status) {
  std::string msg = status.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "cairn-serve: %s\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serve a model version over HTTP (SageMaker's inference contract)", "cairn serve"};
  std::string ref, store, work_dir;
  cairn::ServeOptions options;
  cairn::ServerOptions server;
  // The inference toolkit's variables, as a SageMaker serving container reads them (CreateModel's
  // Environment reaches this process); the flags below override them.
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  if (!env("SAGEMAKER_PROGRAM").empty()) options.entry_point = env("SAGEMAKER_PROGRAM");
  if (!env("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT").empty())
    options.default_accept = env("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT");
  if (int n = std::atoi(env("SAGEMAKER_MODEL_SERVER_WORKERS").c_str()); n > 0) options.workers = n;
  if (int n = std::atoi(env("SAGEMAKER_MODEL_SERVER_TIMEOUT").c_str()); n > 0)
    options.timeout_seconds = n;
  app.add_option("REF", ref, "group:3, group:latest or group@alias (followed when it moves)")
      ->required();
  app.add_option("--host", server.host, "address to listen on (default 127.0.0.1)");
  app.add_option("--port", server.port, "port (default 8080, SageMaker's)");
  app.add_option("--workers", options.workers, "Python worker processes (default 1)");
  app.add_option("--entry-point", options.entry_point,
                 "inference script (default: the version's code/inference.py)");
  app.add_option("--source-dir", options.source_dir,
                 "folder holding --entry-point (default: the version's code/)");
  app.add_option("--python", options.python, "interpreter for Python handlers");
  app.add_option("--default-accept", options.default_accept,
                 "answer type when a request names none (default application/json; "
                 "$SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT)");
  app.add_option("--timeout", options.timeout_seconds,
                 "seconds a Python handler may take per request (default 60; "
                 "$SAGEMAKER_MODEL_SERVER_TIMEOUT)");
  double max_payload_mb = 6;
  app.add_option("--max-payload-mb", max_payload_mb,
                 "largest request body, MB (default 6, SageMaker's; at most 100)")
      ->check(CLI::Range(1.0, 100.0));
  app.add_option("--poll", server.poll_seconds,
                 "seconds between looks at the alias / latest (default 2)");
  app.add_option("--max-batch-size", options.max_batch_size,
                 "native: requests run as one batch (default 32)");
  app.add_option("--max-batch-delay-us", options.max_batch_delay_us,
                 "native: how long a batch waits to fill (default 500)");
  app.add_option("--store", store, "store URI (default $CAIRN_STORE)");
  app.add_option("--work-dir", work_dir,
                 "where versions are restored (default a folder under /tmp)");
  CLI11_PARSE(app, argc, argv);
  // CAIRN_PARSE_ONLY=1: check the command line and stop (tests/cli checks documented ones).
  if (const char* p = std::getenv("CAIRN_PARSE_ONLY"); p && std::string(p) == "1") return 0;
  server.max_payload_bytes = static_cast<size_t>(max_payload_mb * 1000 * 1000);

  // SIGTERM / SIGINT are taken by one thread, which stops the server gracefully.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto registry = cairn::OpenRegistry(store);
  if (!registry.ok()) return Fail(registry.status());
  if (work_dir.empty()) work_dir = "/tmp/cairn-serve-" + std::to_string(::getpid());
  cairn::Endpoint endpoint(**registry, ref, options, cairn::LoadNativeModel, work_dir);
  if (cairn::Status st = endpoint.Start(); !st.ok()) return Fail(st);
  std::fprintf(stderr, "cairn-serve: serving %s (%s) on http://%s:%d\n",
               endpoint.current()->ref.c_str(), endpoint.current()->model->kind().c_str(),
               server.host.c_str(), server.port);
  cairn::InferenceServer http(endpoint, server);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == 0) return;
    std::fprintf(stderr, "cairn-serve: signal %d: finishing requests in flight, then stopping\n",
                 sig);
    http.Stop();
  });
  cairn::Status st = http.Run();
  if (stopper.joinable()) {
    pthread_kill(stopper.native_handle(), SIGTERM);  // wakes sigwait if the server stopped itself
    stopper.join();
  }
  std::error_code ec;
  std::filesystem::remove_all(work_dir, ec);
  return st.ok() ? 0 : Fail(st);
}
