// cairn's half of the floors benchmark (bench/floors.py adds torch.load and prints ratios).
// Usage: floors WORKDIR V1DIR V2DIR REPS
// V2DIR holds the same files as V1DIR with some tensors changed. In one process, on the same
// cores (CAIRN_THREADS or all), every figure a median of REPS timed runs after one warm-up:
//  - publish: V2DIR published after V1DIR (a fresh group each run; the chunks V2 added are
//    deleted between runs, so each run stores the same new bytes), against its floor: cutting
//    V2's bytes into chunks + SHA-256 of every byte + writing and fsyncing the new chunks' bytes
//    to fresh files beside the store, each measured alone;
//  - load: Registry::ReadFile + ReadPyTorch of V2's model.pth (every chunk verified), against
//    the SHA-256 floor: hashing the same chunks, already in memory, on the same threads.
// Prints one JSON object (seconds and bytes).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <vector>

#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"
#include "cairn/formats/pytorch.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "registry/chunker.h"  // private to the registry: the benchmark times the cut alone

using namespace cairn;
namespace fs = std::filesystem;

namespace {

void Check(const Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "floors: %s\n", st.ToString().c_str());
    std::exit(1);
  }
}

// Median seconds of `reps` runs of fn, after one untimed warm-up run; `before` runs untimed
// ahead of each run.
double Median(int reps, const std::function<void()>& fn,
              const std::function<void()>& before = nullptr) {
  std::vector<double> t;
  for (int i = 0; i <= reps; ++i) {
    if (before) before();
    auto start = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i > 0) t.push_back(s);
    if (std::getenv("FLOORS_VERBOSE")) std::fprintf(stderr, "%s%.4f", i ? " " : "\n", s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: floors WORKDIR V1DIR V2DIR REPS\n");
    return 2;
  }
  const std::string work = argv[1], v1 = argv[2], v2 = argv[3];
  const int reps = std::max(1, std::atoi(argv[4]));
  const std::string store_dir = work + "/store";
  fs::remove_all(store_dir);
  auto opened = OpenStore(store_dir);
  Check(opened.status());
  Registry registry(std::move(opened).value());
  ObjectStore& store = registry.store();

  auto base = registry.Publish("base", v1);
  Check(base.status());
  std::set<std::string> v1_chunks;
  for (const auto& f : base->files)
    for (const auto& c : f.chunks) v1_chunks.insert(c.sha256);

  // Publish V2 as a fresh group's first version, then take back what it added.
  int run = 0;
  std::vector<std::string> added;
  uint64_t new_bytes = 0, bytes = 0;
  auto undo = [&] {
    for (const auto& key : added) Check(store.Delete(key));
    added.clear();
  };
  const double publish = Median(
      reps,
      [&] {
        PublishStats stats;
        auto v = registry.Publish("g" + std::to_string(run++), v2, {}, &stats);
        Check(v.status());
        new_bytes = stats.new_bytes;
        bytes = stats.bytes;
        std::set<std::string> mine;
        for (const auto& f : v->files)
          for (const auto& c : f.chunks)
            if (!v1_chunks.count(c.sha256)) mine.insert(c.sha256);
        for (const auto& sha : mine) added.push_back(layout::ChunkKey(sha));
      },
      undo);

  // The publish floor, over V2's model.pth in memory (mapped as publish maps it).
  auto map = MappedFile::Open(v2 + "/model.pth");
  Check(map.status());
  const uint8_t* data = (*map)->data();
  const size_t size = (*map)->size();
  std::vector<size_t> ends;
  const double cut = Median(reps, [&] { ends = registry::ChunkEnds(data, size); });
  std::vector<std::pair<size_t, size_t>> pieces;  // offset, size
  for (size_t start = 0, i = 0; i < ends.size(); start = ends[i++])
    pieces.emplace_back(start, ends[i] - start);
  auto hash_pieces = [&](const uint8_t* base_ptr) {
    Check(ParallelFor(pieces.size(), [&](size_t i) {
      (void)Sha256Of(base_ptr + pieces[i].first, pieces[i].second);
      return Status::OK();
    }));
  };
  const double hash_file = Median(reps, [&] { hash_pieces(data); });

  // Writing the new bytes: the pieces no V1 chunk has, each to a fresh file, then fsync all.
  std::vector<size_t> fresh;
  for (size_t i = 0; i < pieces.size(); ++i)
    if (!v1_chunks.count(Sha256Hex(data + pieces[i].first, pieces[i].second))) fresh.push_back(i);
  const std::string wdir = work + "/write-floor";
  const double write = Median(
      reps,
      [&] {
        fs::create_directories(wdir);
        std::vector<UniqueFd> fds(fresh.size());
        Check(ParallelFor(fresh.size(), [&](size_t k) {
          const auto& p = pieces[fresh[k]];
          std::string path = wdir + "/" + std::to_string(k);
          fds[k] = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
          if (!fds[k].valid() ||
              ::write(fds[k].get(), data + p.first, p.second) != static_cast<ssize_t>(p.second))
            return Status::FromErrno("write " + path, errno);
          return Status::OK();
        }));
        Check(ParallelFor(fresh.size(), [&](size_t k) {
          return ::fsync(fds[k].get()) == 0 ? Status::OK() : Status::FromErrno("fsync", errno);
        }));
        UniqueFd dfd(::open(wdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ::fsync(dfd.get());
      },
      [&] { fs::remove_all(wdir); });
  fs::remove_all(wdir);

  // The verified load of V2's model.pth and its SHA-256 floor.
  auto published = registry.Publish("load", v2);
  Check(published.status());
  std::shared_ptr<const MappedFile> held;
  size_t tensors = 0;
  const double load = Median(
      reps,
      [&] {
        auto file = registry.ReadFile("load:1", "model.pth");
        Check(file.status());
        auto sd = ReadPyTorch(*file);
        Check(sd.status());
        tensors = FlattenTensors(*sd).size();
        held = *file;
      },
      [&] { held.reset(); });  // the previous load released first, as a hot swap releases one
  const double hash_floor = Median(reps, [&] { hash_pieces(held->data()); });
  const double read_only = Median(  // the same load without ReadPyTorch: where the time goes
      reps,
      [&] {
        auto file = registry.ReadFile("load:1", "model.pth");
        Check(file.status());
        held = *file;
      },
      [&] { held.reset(); });

  std::printf(
      "{\"threads\": %zu, \"bytes\": %llu, \"new_bytes\": %llu, \"chunks\": %zu, "
      "\"new_chunks\": %zu, \"tensors\": %zu, \"publish\": %.6f, \"cut\": %.6f, "
      "\"hash_file\": %.6f, \"write\": %.6f, \"load\": %.6f, \"hash_floor\": %.6f, "
      "\"read_only\": %.6f}\n",
      DefaultParallelism(), static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(new_bytes), pieces.size(), fresh.size(), tensors, publish,
      cut, hash_file, write, load, hash_floor, read_only);
  fs::remove_all(store_dir);
  return 0;
}
