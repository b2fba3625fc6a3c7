#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/formats/weights.h"
#include "cairn/serving/native.h"
#include "codec.h"

namespace cairn {

namespace fs = std::filesystem;
using serving::Array;

namespace {

// What runs a batch: a TorchScript module or a linear layer rebuilt from a state dict.
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

InvokeResponse Error(int status, const std::string& message) {
  InvokeResponse r;
  r.status = status;
  r.body = nlohmann::json{{"error", message}}.dump();
  return r;
}

class NativeModel : public LoadedModel {
 public:
  NativeModel(Forward forward, const ServeOptions& options)
      : forward_(std::move(forward)),
        max_batch_(std::max(1, options.max_batch_size)),
        max_delay_(std::chrono::microseconds(options.max_batch_delay_us)),
        default_accept_(options.default_accept),
        thread_([this] { Loop(); }) {}
  ~NativeModel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  InvokeResponse Invoke(const InvokeRequest& req) override {
    std::promise<InvokeResponse> answer;
    auto f = answer.get_future();
    InvokeAsync(req, [&answer](InvokeResponse r) { answer.set_value(std::move(r)); });
    return f.get();
  }

  // Decodes here; the forward pass runs inline (max batch 1) or on the batching thread, which
  // answers through `done`.
  void InvokeAsync(const InvokeRequest& req, std::function<void(InvokeResponse)> done) override {
    auto in = serving::DecodeBody(req.body, req.content_type);
    if (!in.ok()) {
      return done(Error(in.status().code() == Status::Code::kUnsupported ? 415 : 400,
                        in.status().message()));
    }
    if (in->shape.empty() || in->values.empty()) return done(Error(400, "the input has no values"));
    torch::Tensor x = torch::from_blob(in->values.data(), in->shape, torch::kFloat32).clone();
    const bool vector = x.dim() == 1;
    if (vector) x = x.unsqueeze(0);
    Pending p{x, vector, req.accept.empty() || req.accept == "*/*" ? default_accept_ : req.accept,
              std::move(done)};
    if (max_batch_ == 1) {
      std::vector<Pending> one;
      one.push_back(std::move(p));
      return Run(one);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(p));
    }
    cv_.notify_one();
  }

  InvokeResponse Answer(const torch::Tensor& y, bool vector, const std::string& accept) {
    torch::Tensor out = (vector ? y.squeeze(0) : y).contiguous().to(torch::kFloat32);
    Array a;
    a.shape = out.sizes().vec();
    a.values.assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
    InvokeResponse r;
    auto body = serving::EncodeBody(a, accept, &r.content_type);
    if (!body.ok()) return Error(406, body.status().message());
    r.body = std::move(*body);
    return r;
  }
  std::string kind() const override { return "native"; }
  std::thread::id batching_thread() const { return thread_.get_id(); }

 private:
  struct Pending {
    torch::Tensor input;
    bool vector;
    std::string accept;
    std::function<void(InvokeResponse)> done;
  };

  // Takes what is queued (waiting up to max_delay for a batch to fill), runs inputs of the same
  // shape as one batch, and hands each request its rows.
  void Loop() {
    torch::NoGradGuard no_grad;
    at::set_num_threads(1);  // one batch at a time; request threads do the decoding in parallel
    for (;;) {
      std::vector<Pending> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && queue_.empty()) return;
        const auto deadline = std::chrono::steady_clock::now() + max_delay_;
        while (static_cast<int>(queue_.size()) < max_batch_ && !stopping_ &&
               cv_.wait_until(lock, deadline) != std::cv_status::timeout) {
        }
        const auto trailing = queue_.front().input.sizes().slice(1).vec();
        while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_ &&
               queue_.front().input.sizes().slice(1).vec() == trailing) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Run(batch);
    }
  }

  void Run(std::vector<Pending>& batch) {
    try {
      std::vector<torch::Tensor> inputs;
      for (auto& p : batch) inputs.push_back(p.input);
      torch::Tensor y = forward_(batch.size() == 1 ? inputs[0] : torch::cat(inputs, 0));
      int64_t row = 0;
      for (auto& p : batch) {
        const int64_t n = p.input.size(0);
        p.done(Answer(y.slice(0, row, row + n), p.vector, p.accept));
        row += n;
      }
    } catch (const std::exception& e) {
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));
      for (auto& p : batch) p.done(Error(500, "the model failed on this input: " + msg));
    }
  }

  Forward forward_;
  const int max_batch_;
  const std::chrono::microseconds max_delay_;
  const std::string default_accept_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

torch::Tensor ToTorch(const Value* v, const std::string& what) {
  if (!v || !v->is_tensor()) throw std::runtime_error("the weights have no tensor " + what);
  const Tensor& t = v->tensor();
  auto bytes = t.ContiguousBytes();
  if (t.dtype != DType::kF32) throw std::runtime_error(what + " is not float32");
  return torch::from_blob(bytes.data(), t.shape, torch::kFloat32).clone();
}

Result<Forward> LoadArchitecture(const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/cairn-model.json"));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || j.value("architecture", "") != "linear")
    return Status::Unsupported("cairn-model.json describes no architecture cairn knows (linear)");
  CAIRN_ASSIGN_OR_RETURN(Weights w, LoadWeights(dir + "/" + j.value("weights", "model.pth")));
  if (!w.root.is_dict()) return Status::Corrupt("the weights are not a state dict");
  try {
    torch::Tensor weight =
        ToTorch(w.root.dict().Find(Value::String("linear.weight")), "linear.weight");
    torch::Tensor bias = ToTorch(w.root.dict().Find(Value::String("linear.bias")), "linear.bias");
    if (weight.dim() != 2 || bias.dim() != 1 || bias.size(0) != weight.size(0))
      return Status::Corrupt("linear.weight / linear.bias have the wrong shapes");
    const bool sigmoid = j.value("output", "identity") == "sigmoid";
    return Forward([weight, bias, sigmoid](const torch::Tensor& x) {
      torch::Tensor y = torch::addmm(bias, x, weight.t());
      return sigmoid ? torch::sigmoid(y) : y;
    });
  } catch (const std::exception& e) {
    return Status::Corrupt(e.what());
  }
}

Result<Forward> LoadTorchScript(const std::string& dir) {
  std::vector<fs::path> found;
  if (fs::exists(dir + "/model.pt")) {
    found.push_back(dir + "/model.pt");
  } else {
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".pt" || ext == ".pth")) found.push_back(e.path());
    }
  }
  if (found.size() != 1)
    return Status::InvalidArgument(
        "native serving needs cairn-model.json or exactly one .pt/.pth TorchScript file in the "
        "version; found " +
        std::to_string(found.size()));
  try {
    auto module =
        std::make_shared<torch::jit::Module>(torch::jit::load(found[0].string(), torch::kCPU));
    module->eval();
    return Forward([module](const torch::Tensor& x) { return module->forward({x}).toTensor(); });
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return Status::InvalidArgument(found[0].filename().string() +
                                   " is not a TorchScript file (save it with torch.jit.save, or "
                                   "serve it with a Python entry point): " +
                                   msg.substr(0, msg.find('\n')));
  }
}

}  // namespace

Result<std::shared_ptr<LoadedModel>> LoadNativeModel(const std::string& dir,
                                                     const ServeOptions& options) {
  Result<Forward> f =
      fs::exists(dir + "/cairn-model.json") ? LoadArchitecture(dir) : LoadTorchScript(dir);
  if (!f.ok()) return f.status();
  // A request answered on the batching thread may drop the model's last reference there (an old
  // version whose last request ends after a swap); the destructor joins that thread, so it must
  // then run on another one (joining itself would throw EDEADLK and end the process).
  return std::shared_ptr<LoadedModel>(new NativeModel(std::move(*f), options), [](LoadedModel* m) {
    auto* model = static_cast<NativeModel*>(m);
    if (std::this_thread::get_id() == model->batching_thread()) {
      std::thread([model] { delete model; }).detach();
    } else {
      delete model;
    }
  });
}

}  // namespace cairn
