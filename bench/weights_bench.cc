// cairn's half of the weights benchmark (bench/weights_bench.py runs PyTorch's half and compares).
// Usage: weights_bench IN.pth OUT.pth REPS
// Prints one JSON object of median seconds per operation:
//   read          ReadPyTorch: parse and map; tensor bytes are paged in lazily
//   read_copy     read + copy every tensor's values into memory (what torch.load ends with)
//   read_sha256   read + SHA-256 of every tensor's values (on all cores)
//   write         WritePyTorch from tensors in memory, fsynced
//   write_nosync  the same without fsync (what torch.save does)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "cairn/core/parallel.h"
#include "cairn/formats/pytorch.h"

using namespace cairn;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Time(int reps, const std::function<void()>& fn) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return Median(t);
}

void Check(const Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "weights_bench: %s\n", st.ToString().c_str());
    std::exit(1);
  }
}

Value Load(const std::string& path) {
  auto r = ReadPyTorch(path);
  Check(r.status());
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: weights_bench IN.pth OUT.pth REPS\n");
    return 2;
  }
  const std::string in = argv[1], out = argv[2];
  const int reps = std::atoi(argv[3]);
  size_t checksum = 0;

  double read = Time(reps, [&] { checksum += FlattenTensors(Load(in)).size(); });
  double read_copy = Time(reps, [&] {
    auto tensors = FlattenTensors(Load(in));
    std::vector<std::vector<uint8_t>> copies(tensors.size());
    Check(ParallelFor(tensors.size(), [&](size_t i) {
      copies[i] = tensors[i].tensor->ContiguousBytes();
      return Status::OK();
    }));
    for (auto& c : copies) checksum += c.empty() ? 0 : c[0];
  });
  double read_sha = Time(reps, [&] {
    auto digests = HashTensors(FlattenTensors(Load(in)));
    for (auto& d : digests) checksum += d[0];
  });

  // Write from tensors held in memory, as torch.save writes from a model's tensors.
  Value root = Load(in);
  Value owned = Value::Dict(true);
  for (const auto& nt : FlattenTensors(root)) {
    auto t = Tensor::FromBytes(nt.tensor->dtype, nt.tensor->shape, nt.tensor->ContiguousBytes());
    Check(t.status());
    owned.dict().Set(Value::String(nt.name), Value::FromTensor(std::move(t).value()));
  }
  double write = Time(reps, [&] { Check(WritePyTorch(out, owned, {.sync = true})); });
  double write_nosync = Time(reps, [&] { Check(WritePyTorch(out, owned, {.sync = false})); });

  std::printf(
      "{\"read\": %.6f, \"read_copy\": %.6f, \"read_sha256\": %.6f, \"write\": %.6f, "
      "\"write_nosync\": %.6f, \"threads\": %zu, \"checksum\": %zu}\n",
      read, read_copy, read_sha, write, write_nosync, DefaultParallelism(), checksum);
  return 0;
}
