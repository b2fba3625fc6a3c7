#include "cairn/serving/endpoint.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "cairn/core/clock.h"
#include "cairn/core/sha256.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

std::string VersionDigest(const VersionInfo& v) {
  Sha256 h;
  for (const auto& f : v.files) h.Update(f.path + "\n" + f.sha256 + "\n");
  return ToHex(h.Finish());
}

}  // namespace

LoadedVersion::~LoadedVersion() {
  model.reset();  // stops Python workers before their files go
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
}

Result<std::shared_ptr<LoadedModel>> LoadModel(const std::string& model_dir,
                                               const ServeOptions& options,
                                               const NativeLoader& native) {
  // Python handlers: an explicit entry point (in --source-dir or the version's code/), or the
  // SageMaker layout's code/inference.py.
  if (!options.entry_point.empty()) {
    const std::string code = options.source_dir.empty() ? model_dir + "/code" : options.source_dir;
    if (!fs::is_regular_file(fs::path(code) / options.entry_point))
      return Status::NotFound("entry point " + options.entry_point + " is not in " + code);
    return LoadPythonModel(model_dir, code, options.entry_point, options);
  }
  if (fs::is_regular_file(model_dir + "/code/inference.py"))
    return LoadPythonModel(model_dir, model_dir + "/code", "inference.py", options);
  if (!native) {
    return Status::Unsupported(
        "this version has no code/inference.py and this program cannot "
        "serve natively; give --entry-point");
  }
  return native(model_dir, options);
}

Endpoint::Endpoint(Registry& registry, std::string ref, ServeOptions options, NativeLoader native,
                   std::string work_dir)
    : registry_(registry),
      ref_(std::move(ref)),
      options_(std::move(options)),
      native_(std::move(native)),
      work_dir_(std::move(work_dir)) {}

Result<std::shared_ptr<LoadedVersion>> Endpoint::Load(const VersionInfo& v) {
  const auto start = std::chrono::steady_clock::now();
  auto lv = std::make_shared<LoadedVersion>();
  lv->ref = v.ref();
  lv->digest = VersionDigest(v);
  std::error_code ec;
  fs::create_directories(work_dir_, ec);
  lv->dir = work_dir_ + "/" + v.group + "-" + std::to_string(v.version) + "-" +
            std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  CAIRN_RETURN_IF_ERROR(registry_.Restore(v.ref(), lv->dir).status());
  CAIRN_ASSIGN_OR_RETURN(lv->model, LoadModel(lv->dir, options_, native_));
  lv->loaded_ms = NowMs();
  lv->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_load_seconds_ = lv->load_seconds;
  return lv;
}

Status Endpoint::Start() {
  CAIRN_ASSIGN_OR_RETURN(VersionInfo v, registry_.Resolve(ref_));
  auto lv = Load(v);
  if (!lv.ok()) return lv.status().WithContext("load " + v.ref());
  std::atomic_store(&current_, std::shared_ptr<const LoadedVersion>(*lv));
  return Status::OK();
}

bool Endpoint::Refresh() {
  std::lock_guard<std::mutex> refreshing(refresh_mu_);  // one refresh at a time
  auto set_error = [&](std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = std::move(e);
  };
  auto v = registry_.Resolve(ref_);
  if (!v.ok()) {
    set_error("resolve " + ref_ + ": " + v.status().message());
    return false;
  }
  auto cur = current();
  if (cur && cur->ref == v->ref()) return false;
  if (failed_ref_ == v->ref()) return false;  // already tried; wait for the reference to move
  auto lv = Load(*v);
  if (!lv.ok()) {
    failed_ref_ = v->ref();
    set_error(v->ref() + " failed to load, so " + (cur ? cur->ref : "nothing") +
              " keeps serving: " + lv.status().message());
    return false;
  }
  failed_ref_.clear();
  std::atomic_store(&current_, std::shared_ptr<const LoadedVersion>(*lv));
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_.clear();
    std::erase_if(retired_, [](const auto& w) { return w.expired(); });
    if (cur) retired_.push_back(cur);  // unloads when its last request finishes
  }
  ++swaps_;
  return true;
}

std::string Endpoint::ModelsJson() const {
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  auto add = [&](const LoadedVersion& lv, const char* state) {
    models.push_back({{"version", lv.ref},
                      {"digest", lv.digest},
                      {"state", state},
                      {"kind", lv.model ? lv.model->kind() : ""},
                      {"loaded_ms", lv.loaded_ms},
                      {"load_seconds", lv.load_seconds}});
  };
  if (auto cur = current()) add(*cur, "AVAILABLE");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& w : retired_)
    if (auto old = w.lock()) add(*old, "UNLOADING");
  nlohmann::ordered_json out = {{"ref", ref_}, {"models", models}, {"last_error", last_error_}};
  return out.dump(2) + "\n";
}

}  // namespace cairn
