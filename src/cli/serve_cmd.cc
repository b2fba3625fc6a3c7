// cairn serve ...: runs cairn-serve (beside this binary; it links LibTorch for native serving).
// cairn predict URL: one invocation of an endpoint, as SageMaker's Predictor.predict would.
#include <curl/curl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#include "cairn/core/file.h"
#include "commands.h"

namespace cairn::cli {
namespace {

int Serve(const std::vector<std::string>& args) {
  const std::string program = SiblingProgram("cairn-serve");
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

size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

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
  CURL* curl = curl_easy_init();
  if (!curl) return Fail(Status::Internal("curl_easy_init failed"));
  std::string response, headers;
  curl_slist* h = nullptr;
  h = curl_slist_append(h, ("Content-Type: " + a.content_type).c_str());
  if (!a.accept.empty()) h = curl_slist_append(h, ("Accept: " + a.accept).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &headers);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return Fail(Status::IOError(url + ": " + curl_easy_strerror(rc)));
  std::fwrite(response.data(), 1, response.size(), stdout);
  if (!response.empty() && response.back() != '\n') std::printf("\n");
  for (const char* name : {"x-cairn-model-version:"}) {
    std::string lower = headers;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (size_t p = lower.find(name); p != std::string::npos) {
      size_t end = headers.find('\r', p);
      std::fprintf(
          stderr, "cairn: answered by %s\n",
          headers.substr(p + std::strlen(name) + 1, end - p - std::strlen(name) - 1).c_str());
    }
  }
  if (status >= 200 && status < 300) return kExitOk;
  std::fprintf(stderr, "cairn: HTTP %ld\n", status);
  return kExitError;
}

}  // namespace

void AddServeCommands(CLI::App& app, Action* action) {
  auto* s = app.add_subcommand(
      "serve", "Serve a version over HTTP (runs cairn-serve; see cairn-serve --help)");
  s->prefix_command();
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
