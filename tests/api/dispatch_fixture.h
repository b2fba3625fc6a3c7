// A cairn server's request handling in-process, for tests: a Context over a local store and
// requests signed as boto3 signs them.
#pragma once

#include <ctime>
#include <memory>
#include <string>

#include "api/api.h"
#include "api/endpoint_hosts.h"
#include "cairn/core/sha256.h"
#include "cairn/storage/sigv4.h"
#include "test_util.h"

namespace cairn::api {

// Requests through HandleRequest, signed as boto3 signs them.
class Dispatch : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.credentials = {{"AKID", "secret"}};
    options_.store = dir_.path();
    options_.work_root = dir_.File("work");
    auto store = OpenStore(dir_.File("store"));
    ASSERT_OK(store.status());
    registry_ = std::make_unique<Registry>(std::move(*store));
    context_ = std::make_unique<Context>(Context{options_, *registry_, http_});
    hosts_ = std::make_unique<EndpointHosts>(*context_);
    context_->endpoints = hosts_.get();
  }
  void TearDown() override { hosts_.reset(); }

  // A JSON 1.1 call of `op` (X-Amz-Target <prefix><op>), or with an empty `op` a query-protocol
  // call whose form is `body`, signed for `service`.
  net::HttpResponse Call(const std::string& op, const std::string& body,
                         const std::string& service = "sagemaker",
                         const std::string& prefix = "SageMaker.") {
    net::HttpRequest req;
    req.method = "POST";
    req.target = "/";
    req.body = body;
    sigv4::Request r{"POST", "127.0.0.1:8770", "/", {}, {}, Sha256Hex(body)};
    if (!op.empty()) r.headers = {{"x-amz-target", prefix + op}};
    const auto sig =
        sigv4::Sign(r, {"AKID", "secret", ""}, "us-east-1", service, std::time(nullptr));
    req.headers = {{"host", r.host}, {"x-amz-date", sig.amz_date}};
    if (!op.empty()) req.headers.emplace_back("x-amz-target", prefix + op);
    req.headers.emplace_back("authorization", sig.authorization);
    return HandleRequest(*context_, req);
  }
  static std::string Code(const net::HttpResponse& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "x-amzn-ErrorType") return v;
    return "";
  }

  testing::TempDir dir_;
  ApiServerOptions options_;
  std::unique_ptr<Registry> registry_;
  net::Client http_;
  std::unique_ptr<Context> context_;
  std::unique_ptr<EndpointHosts> hosts_;
};

}  // namespace cairn::api
