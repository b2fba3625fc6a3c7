// cairn serve ...: runs cairn-serve (beside this binary; it links LibTorch for native serving).
// cairn predict URL: one invocation of an endpoint, as SageMaker's Predictor.predict would.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cairn/core/file.h"
#include "cairn/net/http_client.h"
#include "commands.h"

namespace cairn::cli {
namespace {

int Serve(const std::vector<std::string>& args) {
  const std::string program = SiblingProgram("cairn-serve");
  // `cairn --store URI serve ...`: cairn-serve reads the store from $CAIRN_STORE without --store.
  if (const std::string store = StoreUri(""); !store.empty())
    ::setenv("CAIRN_STORE", store.c_str(), 1);
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execv(program.c_str(), cargv.data());
  return Fail(Status::FromErrno("run " + program, errno));
}

struct PredictArgs {
  std::string url, content_type = "application/json", accept, data;
};

int Predict(const PredictArgs& a) {
  std::string body = a.data;
  if (!body.empty() && body[0] == '@') {
    auto file = ReadFileToString(body.substr(1));
    if (!file.ok()) return Fail(file.status());
    body = *file;
  }
  std::string url = a.url;
  if (url.find("/invocations") == std::string::npos) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += "/invocations";
  }
  net::Headers headers = {{"Content-Type", a.content_type}};
  if (!a.accept.empty()) headers.emplace_back("Accept", a.accept);
  net::Client client;
  auto r = client.Send("POST", url, body, headers);
  if (!r.ok()) return Fail(r.status());
  std::fwrite(r->body.data(), 1, r->body.size(), stdout);
  if (!r->body.empty() && r->body.back() != '\n') std::printf("\n");
  if (const std::string version = r->Header("x-cairn-model-version"); !version.empty())
    std::fprintf(stderr, "cairn: answered by %s\n", version.c_str());
  if (r->status >= 200 && r->status < 300) return kExitOk;
  std::fprintf(stderr, "cairn: HTTP %ld\n", r->status);
  return kExitError;
}

}  // namespace

void AddServeCommands(CLI::App& app, Action* action) {
  auto* s = app.add_subcommand(
      "serve", "Serve a version over HTTP (runs cairn-serve; see cairn-serve --help)");
  s->prefix_command();
  s->set_help_flag();  // --help reaches cairn-serve, which lists the real options
  s->callback([=] { *action = [=] { return Serve(s->remaining()); }; });
  auto args = std::make_shared<PredictArgs>();
  auto* p = app.add_subcommand("predict", "Send one request to an endpoint's /invocations");
  p->add_option("URL", args->url, "the endpoint, e.g. http://127.0.0.1:8080")->required();
  p->add_option("--content-type", args->content_type, "default application/json");
  p->add_option("--accept", args->accept, "default: the endpoint's (application/json)");
  p->add_option("-d,--data", args->data, "the body, or @FILE")->required();
  p->callback([=] { *action = [=] { return Predict(*args); }; });
}

}  // namespace cairn::cli
