// cairn's half of the registry benchmark (bench/registry_bench.py runs the SageMaker path and
// compares). Usage: registry_bench WORKDIR DIR1 DIR2
// Prints JSON: seconds to publish DIR1 as version 1 of a fresh local store, DIR2 as version 2,
// and to load version 2's model.pth into memory (every chunk verified, then ReadPyTorch).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cairn/formats/pytorch.h"
#include "cairn/registry/registry.h"

using namespace cairn;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Check(const Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "registry_bench: %s\n", st.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: registry_bench WORKDIR DIR1 DIR2\n");
    return 2;
  }
  const std::string store_dir = std::string(argv[1]) + "/store";
  std::filesystem::remove_all(store_dir);
  auto store = OpenStore(store_dir);
  Check(store.status());
  Registry registry(std::move(store).value());

  PublishStats s1, s2;
  auto t = std::chrono::steady_clock::now();
  Check(registry.Publish("bench", argv[2], {}, &s1).status());
  const double publish1 = Seconds(t);
  t = std::chrono::steady_clock::now();
  Check(registry.Publish("bench", argv[3], {}, &s2).status());
  const double publish2 = Seconds(t);

  t = std::chrono::steady_clock::now();
  auto file = registry.ReadFile("bench:2", "model.pth");
  Check(file.status());
  auto sd = ReadPyTorch(*file);
  Check(sd.status());
  const double load = Seconds(t);
  std::printf(
      "{\"publish1\": %.6f, \"publish2\": %.6f, \"load\": %.6f, \"bytes1\": %llu, "
      "\"new_bytes1\": %llu, \"new_bytes2\": %llu, \"tensors\": %zu}\n",
      publish1, publish2, load, static_cast<unsigned long long>(s1.bytes),
      static_cast<unsigned long long>(s1.new_bytes), static_cast<unsigned long long>(s2.new_bytes),
      FlattenTensors(*sd).size());
  return 0;
}
