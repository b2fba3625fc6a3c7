// cairn weights inspect | convert | diff
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cairn/formats/weights.h"
#include "commands.h"

namespace cairn::cli {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

int Inspect(const std::string& path, bool json) {
  auto w = LoadWeights(path);
  if (!w.ok()) return Fail(w.status());
  auto tensors = FlattenTensors(w->root);
  if (json) {
    const auto digests = HashTensors(tensors);
    nlohmann::ordered_json out;
    out["format"] = FormatName(w->format);
    out["tensors"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = *tensors[i].tensor;
      out["tensors"].push_back({{"name", tensors[i].name},
                                {"dtype", DTypeName(t.dtype)},
                                {"shape", t.shape},
                                {"sha256", ToHex(digests[i])}});
    }
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  size_t wn = 4, wd = 5, ws = 5;
  uint64_t total = 0;
  for (const auto& nt : tensors) {
    wn = std::max(wn, nt.name.size());
    ws = std::max(ws, ShapeText(nt.tensor->shape).size());
    total += nt.tensor->nbytes();
  }
  std::printf("%-*s  %-*s  %-*s  %s\n", int(wn), "NAME", int(wd), "DTYPE", int(ws), "SHAPE",
              "SIZE");
  for (const auto& nt : tensors) {
    const Tensor& t = *nt.tensor;
    std::printf("%-*s  %-*s  %-*s  %s\n", int(wn), nt.name.c_str(), int(wd),
                std::string(DTypeName(t.dtype)).c_str(), int(ws), ShapeText(t.shape).c_str(),
                HumanBytes(t.nbytes()).c_str());
  }
  std::printf("%zu tensors, %s, %s format\n", tensors.size(), HumanBytes(total).c_str(),
              std::string(FormatName(w->format)).c_str());
  return kExitOk;
}

int Convert(const std::string& in, const std::string& out) {
  auto target = FormatForPath(out);
  if (!target.ok()) return Fail(target.status());
  auto w = LoadWeights(in);
  if (!w.ok()) return Fail(w.status());
  Status st = SaveWeights(out, w->root, w->metadata);
  if (!st.ok()) return Fail(st.WithContext(out));
  std::fprintf(stderr, "wrote %s (%s, %zu tensors)\n", out.c_str(),
               std::string(FormatName(*target)).c_str(), FlattenTensors(w->root).size());
  return kExitOk;
}

int Diff(const std::string& a_path, const std::string& b_path) {
  auto a = LoadWeights(a_path);
  if (!a.ok()) return Fail(a.status());
  auto b = LoadWeights(b_path);
  if (!b.ok()) return Fail(b.status());
  auto diffs = DiffTensors(a->root, b->root);
  for (const auto& d : diffs) {
    const char* tag = d.kind == TensorDiff::Kind::kAdded     ? "+"
                      : d.kind == TensorDiff::Kind::kRemoved ? "-"
                                                             : "~";
    std::printf("%s %s%s%s\n", tag, d.name.c_str(), d.detail.empty() ? "" : "  ", d.detail.c_str());
  }
  if (diffs.empty()) {
    std::printf("tensors are identical\n");
    return kExitOk;
  }
  return kExitDifferent;
}

}  // namespace

void AddWeightsCommands(CLI::App& app, Action* action) {
  // Parsed arguments live as long as the callbacks that read them.
  struct Args {
    std::string a, b;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* weights = app.add_subcommand("weights", "Inspect, convert and compare weight files");
  weights->require_subcommand(1);

  auto* inspect =
      weights->add_subcommand("inspect", "List the tensors of a PyTorch or safetensors file");
  inspect->add_option("FILE", args->a, "weights file")->required();
  inspect->add_flag("--json", args->json, "print JSON with each tensor's SHA-256");
  inspect->callback([=] { *action = [=] { return Inspect(args->a, args->json); }; });

  auto* convert = weights->add_subcommand(
      "convert", "Convert between PyTorch and safetensors (the format follows the extension)");
  convert->add_option("IN", args->a, "input file")->required();
  convert->add_option("OUT", args->b, "output file (.safetensors, .pt, .pth, .bin, .ckpt)")
      ->required();
  convert->callback([=] { *action = [=] { return Convert(args->a, args->b); }; });

  auto* diff = weights->add_subcommand(
      "diff", "Compare the tensors of two files (exit 0 equal, 1 different, 2 error)");
  diff->add_option("A", args->a, "first file")->required();
  diff->add_option("B", args->b, "second file")->required();
  diff->callback([=] { *action = [=] { return Diff(args->a, args->b); }; });
}

}  // namespace cairn::cli
