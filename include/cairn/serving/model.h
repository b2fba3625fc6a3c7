// A loaded model version that answers invocations, and how one is loaded from a model directory.
// Models are held by shared_ptr: a request in flight keeps the version it started on alive while
// an endpoint swaps in the next one (Triton's approach).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cairn/core/status.h"

namespace cairn {

struct InvokeRequest {
  std::string body;
  std::string content_type;  // "" = application/json
  std::string accept;        // "" or "*/*" = the default (application/json)
  std::string custom_attributes;
};

struct InvokeResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  // Thread-safe. Errors are answers (4xx for the request's fault, 5xx for the model's).
  virtual InvokeResponse Invoke(const InvokeRequest& request) = 0;
  // The same, answering through `done` (possibly later, from another thread). Models that batch
  // override it so that callers need not wait; the default calls Invoke.
  virtual void InvokeAsync(const InvokeRequest& request, std::function<void(InvokeResponse)> done) {
    done(Invoke(request));
  }
  virtual std::string kind() const = 0;  // "python" or "native"
};

struct ServeOptions {
  // Python handlers: --entry-point (a file name in code/ or --source-dir), else code/inference.py
  // when the version has one. Without either the model is served natively.
  std::string entry_point, source_dir;
  std::string python = "/usr/bin/python3";
  int workers = 1;             // Python worker processes
  int max_batch_size = 32;     // native: requests batched together under load
  int max_batch_delay_us = 0;  // native: how long a batch waits to fill (0: what is queued)
  std::string default_accept = "application/json";
  int timeout_seconds = 60;  // a Python handler's answer (SAGEMAKER_MODEL_SERVER_TIMEOUT)
};

// Loads the model in `model_dir` (a restored version). The native loader is supplied by the
// program that links LibTorch (cairn-serve); without it only Python handlers can be served.
using NativeLoader = std::function<Result<std::shared_ptr<LoadedModel>>(
    const std::string& model_dir, const ServeOptions& options)>;
Result<std::shared_ptr<LoadedModel>> LoadModel(const std::string& model_dir,
                                               const ServeOptions& options,
                                               const NativeLoader& native);

// Python handlers in worker processes (src/serving/python_model.cc).
Result<std::shared_ptr<LoadedModel>> LoadPythonModel(const std::string& model_dir,
                                                     const std::string& code_dir,
                                                     const std::string& entry_point,
                                                     const ServeOptions& options);

// The largest request body SageMaker accepts (6 MB).
inline constexpr size_t kMaxPayloadBytes = 6 * 1000 * 1000;

}  // namespace cairn
