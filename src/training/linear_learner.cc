#include "cairn/training/linear_learner.h"

#include <ATen/CPUGeneratorImpl.h>
#include <signal.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "cairn/core/file.h"
#include "cairn/formats/pytorch.h"
#include "cairn/formats/weights.h"

namespace cairn {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_term{false};
void OnTerm(int) { g_term = true; }

struct Config {
  std::string predictor_type = "regressor";  // or binary_classifier
  int64_t epochs = 15, mini_batch_size = 1000;
  double learning_rate = 0.01, wd = 0.0;
  std::string train_dir, validation_dir, model_dir, checkpoint_dir;
};

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

Result<Config> ParseConfig(const std::vector<std::string>& args) {
  Config c;
  for (size_t i = 0; i < args.size(); i += 2) {
    std::string key = args[i];
    while (!key.empty() && key.front() == '-') key.erase(key.begin());
    if (i + 1 >= args.size())
      return Status::InvalidArgument("hyperparameter " + key + " has no value");
    const std::string& v = args[i + 1];
    try {
      if (key == "predictor_type") {
        if (v != "regressor" && v != "binary_classifier")
          return Status::InvalidArgument("predictor_type is regressor or binary_classifier, not " +
                                         v);
        c.predictor_type = v;
      } else if (key == "epochs") {
        c.epochs = std::stoll(v);
      } else if (key == "mini_batch_size") {
        c.mini_batch_size = std::stoll(v);
      } else if (key == "learning_rate") {
        c.learning_rate = std::stod(v);
      } else if (key == "wd" || key == "l2") {
        c.wd = std::stod(v);
      } else if (key != "feature_dim") {  // feature_dim: taken from the data
        return Status::InvalidArgument("linear-learner has no hyperparameter '" + key +
                                       "' (it has predictor_type, epochs, mini_batch_size, "
                                       "learning_rate, wd/l2, feature_dim)");
      }
    } catch (const std::exception&) {
      return Status::InvalidArgument("hyperparameter " + key + ": bad value '" + v + "'");
    }
  }
  if (c.epochs < 1 || c.mini_batch_size < 1 || !(c.learning_rate > 0) || c.wd < 0)
    return Status::InvalidArgument("epochs, mini_batch_size and learning_rate must be positive");
  c.train_dir = Env("SM_CHANNEL_TRAIN");
  c.validation_dir = Env("SM_CHANNEL_VALIDATION");
  c.model_dir = Env("SM_MODEL_DIR", "/opt/ml/model");
  c.checkpoint_dir = "/opt/ml/checkpoints";
  if (auto cfg = ReadFileToString(Env("SM_CHECKPOINT_CONFIG_FILE")); cfg.ok()) {
    auto j = nlohmann::json::parse(*cfg, nullptr, false);
    if (j.is_object() && j.contains("LocalPath"))
      c.checkpoint_dir = j["LocalPath"].get<std::string>();
  } else {
    c.checkpoint_dir.clear();  // no checkpoint configuration: no checkpoints
  }
  if (c.train_dir.empty()) return Status::InvalidArgument("linear-learner needs a 'train' channel");
  return c;
}

// Every CSV file of a channel: rows of numbers, label first.
Result<torch::Tensor> ReadCsvChannel(const std::string& dir) {
  std::vector<float> values;
  int64_t cols = -1, rows = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    int64_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      int64_t n = 0;
      const char* p = line.c_str();
      for (;;) {
        char* end = nullptr;
        const float v = std::strtof(p, &end);
        if (end == p || (*end != ',' && *end != '\0' && *end != ' '))
          return Status::InvalidArgument(f.string() + ":" + std::to_string(lineno) +
                                         ": not a number in '" + line.substr(0, 80) + "'");
        values.push_back(v);
        ++n;
        while (*end == ' ') ++end;
        if (*end == '\0') break;
        p = end + 1;
      }
      if (cols >= 0 && n != cols)
        return Status::InvalidArgument(f.string() + ":" + std::to_string(lineno) + ": " +
                                       std::to_string(n) + " columns, expected " +
                                       std::to_string(cols));
      if (n < 2)
        return Status::InvalidArgument(f.string() + ": rows need a label and at least one feature");
      cols = n;
      ++rows;
    }
  }
  if (rows == 0) return Status::InvalidArgument("no CSV rows in " + dir);
  return torch::from_blob(values.data(), {rows, cols}, torch::kFloat32).clone();
}

Value TensorValue(const torch::Tensor& t) {
  torch::Tensor c = t.detach().contiguous().to(torch::kFloat32);
  std::vector<uint8_t> bytes(c.numel() * 4);
  std::memcpy(bytes.data(), c.data_ptr<float>(), bytes.size());
  return Value::FromTensor(*Tensor::FromBytes(DType::kF32, c.sizes().vec(), std::move(bytes)));
}

torch::Tensor FromValue(const Value* v) {
  const Tensor& t = v->tensor();
  auto bytes = t.ContiguousBytes();
  return torch::from_blob(bytes.data(), t.shape, torch::kFloat32).clone();
}

struct State {
  torch::Tensor w, b, m_w, m_b, v_w, v_b;
  int64_t step = 0, epoch = 0;  // epochs completed
};

Status SaveModel(const Config& c, const State& s, int64_t features) {
  Value sd = Value::Dict(true);
  sd.dict().Set(Value::String("linear.weight"), TensorValue(s.w));
  sd.dict().Set(Value::String("linear.bias"), TensorValue(s.b));
  fs::create_directories(c.model_dir);
  CAIRN_RETURN_IF_ERROR(WritePyTorch(c.model_dir + "/model.pth", sd));
  nlohmann::ordered_json arch = {
      {"format", "cairn.model/1"},
      {"architecture", "linear"},
      {"weights", "model.pth"},
      {"in_features", features},
      {"out_features", 1},
      {"output", c.predictor_type == "regressor" ? "identity" : "sigmoid"},
      {"predictor_type", c.predictor_type}};
  return WriteFileAtomically(c.model_dir + "/cairn-model.json", arch.dump(2) + "\n");
}

Status SaveCheckpoint(const Config& c, const State& s) {
  Value ck = Value::Dict(true);
  auto set = [&](const char* k, const torch::Tensor& t) {
    ck.dict().Set(Value::String(k), TensorValue(t));
  };
  set("w", s.w), set("b", s.b), set("m_w", s.m_w), set("m_b", s.m_b), set("v_w", s.v_w),
      set("v_b", s.v_b);
  ck.dict().Set(Value::String("step"), Value::Int(s.step));
  ck.dict().Set(Value::String("epoch"), Value::Int(s.epoch));
  char name[64];
  std::snprintf(name, sizeof(name), "/linear-learner-epoch-%06lld.pth",
                static_cast<long long>(s.epoch));
  fs::create_directories(c.checkpoint_dir);
  CAIRN_RETURN_IF_ERROR(WritePyTorch(c.checkpoint_dir + name, ck));
  // Keep the two newest.
  std::vector<fs::path> old;
  for (const auto& e : fs::directory_iterator(c.checkpoint_dir))
    if (e.path().filename().string().rfind("linear-learner-epoch-", 0) == 0)
      old.push_back(e.path());
  std::sort(old.begin(), old.end());
  for (size_t i = 0; i + 2 < old.size(); ++i) fs::remove(old[i]);
  return Status::OK();
}

// The newest checkpoint, if any.
Result<bool> LoadCheckpoint(const Config& c, State* s) {
  if (c.checkpoint_dir.empty() || !fs::is_directory(c.checkpoint_dir)) return false;
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(c.checkpoint_dir))
    if (e.path().filename().string().rfind("linear-learner-epoch-", 0) == 0)
      found.push_back(e.path());
  if (found.empty()) return false;
  std::sort(found.begin(), found.end());
  CAIRN_ASSIGN_OR_RETURN(Weights ck, LoadWeights(found.back().string()));
  auto get = [&](const char* k) { return ck.root.dict().Find(Value::String(k)); };
  for (const char* k : {"w", "b", "m_w", "m_b", "v_w", "v_b", "step", "epoch"})
    if (!get(k))
      return Status::Corrupt(found.back().string() + " is not a linear-learner checkpoint");
  s->w = FromValue(get("w")), s->b = FromValue(get("b"));
  s->m_w = FromValue(get("m_w")), s->m_b = FromValue(get("m_b"));
  s->v_w = FromValue(get("v_w")), s->v_b = FromValue(get("v_b"));
  s->step = get("step")->as_int();
  s->epoch = get("epoch")->as_int();
  std::printf("resumed from checkpoint %s (epoch %lld)\n", found.back().filename().c_str(),
              static_cast<long long>(s->epoch));
  return true;
}

torch::Tensor Loss(const Config& c, const torch::Tensor& out, const torch::Tensor& y) {
  return c.predictor_type == "regressor" ? torch::mse_loss(out, y)
                                         : torch::binary_cross_entropy_with_logits(out, y);
}

Status Train(const Config& c) {
  CAIRN_ASSIGN_OR_RETURN(torch::Tensor train, ReadCsvChannel(c.train_dir));
  torch::Tensor validation;
  if (!c.validation_dir.empty()) {
    CAIRN_ASSIGN_OR_RETURN(validation, ReadCsvChannel(c.validation_dir));
    if (validation.size(1) != train.size(1))
      return Status::InvalidArgument("validation and train have different column counts");
  }
  const int64_t d = train.size(1) - 1, n = train.size(0);
  torch::Tensor x = train.slice(1, 1), y = train.slice(1, 0, 1);
  State s;
  s.w = torch::zeros({1, d}), s.b = torch::zeros({1});
  s.m_w = torch::zeros_like(s.w), s.v_w = torch::zeros_like(s.w);
  s.m_b = torch::zeros_like(s.b), s.v_b = torch::zeros_like(s.b);
  CAIRN_RETURN_IF_ERROR(LoadCheckpoint(c, &s).status());
  std::printf("linear-learner: %lld rows, %lld features, predictor_type=%s, epochs=%lld\n",
              static_cast<long long>(n), static_cast<long long>(d), c.predictor_type.c_str(),
              static_cast<long long>(c.epochs));
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (; s.epoch < c.epochs && !g_term;) {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(s.epoch) + 1);
    torch::Tensor order = torch::randperm(n, gen, torch::kLong);  // same order on a resumed run
    double total = 0;
    for (int64_t start = 0; start < n && !g_term; start += c.mini_batch_size) {
      torch::Tensor idx = order.slice(0, start, std::min(n, start + c.mini_batch_size));
      torch::Tensor xb = x.index_select(0, idx), yb = y.index_select(0, idx);
      torch::Tensor w = s.w.clone().requires_grad_(true), b = s.b.clone().requires_grad_(true);
      torch::Tensor loss = Loss(c, torch::addmm(b, xb, w.t()), yb) + 0.5 * c.wd * (w * w).sum();
      loss.backward();
      total += loss.item<double>() * idx.size(0);
      ++s.step;
      torch::NoGradGuard ng;
      auto adam = [&](torch::Tensor& p, torch::Tensor& m, torch::Tensor& v,
                      const torch::Tensor& g) {
        m.mul_(b1).add_(g, 1 - b1);
        v.mul_(b2).addcmul_(g, g, 1 - b2);
        const double mh = 1 - std::pow(b1, s.step), vh = 1 - std::pow(b2, s.step);
        p.sub_(c.learning_rate * (m / mh) / ((v / vh).sqrt() + eps));
      };
      adam(s.w, s.m_w, s.v_w, w.grad());
      adam(s.b, s.m_b, s.v_b, b.grad());
    }
    if (g_term) break;
    ++s.epoch;
    std::printf("#epoch=%lld train_loss=%.6g", static_cast<long long>(s.epoch), total / n);
    if (validation.defined()) {
      torch::NoGradGuard ng;
      torch::Tensor vx = validation.slice(1, 1), vy = validation.slice(1, 0, 1);
      std::printf(" validation_loss=%.6g",
                  Loss(c, torch::addmm(s.b, vx, s.w.t()), vy).item<double>());
    }
    std::printf("\n");
    std::fflush(stdout);
    if (!c.checkpoint_dir.empty()) CAIRN_RETURN_IF_ERROR(SaveCheckpoint(c, s));
  }
  if (g_term)
    std::printf("linear-learner: SIGTERM: saving the model after %lld epochs\n",
                static_cast<long long>(s.epoch));
  return SaveModel(c, s, d);
}

}  // namespace

int RunLinearLearner(const std::vector<std::string>& args) {
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  ::sigaction(SIGTERM, &sa, nullptr);
  torch::set_num_threads(1);
  auto config = ParseConfig(args);
  Status st = config.ok() ? Train(*config) : config.status();
  if (st.ok()) return 0;
  std::fprintf(stderr, "linear-learner: %s\n", st.message().c_str());
  // SageMaker's contract: the reason goes to output/failure.
  const std::string output_dir = Env("SM_OUTPUT_DIR");
  if (!output_dir.empty()) (void)WriteFileAtomically(output_dir + "/failure", st.message() + "\n");
  return 1;
}

}  // namespace cairn
