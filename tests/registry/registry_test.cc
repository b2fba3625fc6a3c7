#include "cairn/registry/registry.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/storage/fault_store.h"
#include "cairn/storage/forwarding_store.h"
#include "registry/chunker.h"
#include "registry/locks.h"
#include "test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_ = Open(); }
  std::unique_ptr<Registry> Open() {
    auto store = OpenStore(dir_.File("store"));
    EXPECT_OK(store.status());
    return std::make_unique<Registry>(std::move(store).value());
  }
  // A model directory: model.pth (big, random) and code/inference.py.
  std::string MakeModel(const std::string& name, const std::string& weights) {
    const std::string d = dir_.File(name);
    fs::create_directories(d + "/code");
    EXPECT_OK(WriteFileAtomically(d + "/model.pth", weights));
    EXPECT_OK(WriteFileAtomically(d + "/code/inference.py", "def model_fn(d):\n    return d\n"));
    return d;
  }
  testing::TempDir dir_;
  std::unique_ptr<Registry> registry_;
};

TEST(Chunker, ContentDefinedAndBounded) {
  const std::string data = RandomBytes(20 << 20, 1);
  auto p = reinterpret_cast<const uint8_t*>(data.data());
  auto ends = registry::ChunkEnds(p, data.size());
  ASSERT_FALSE(ends.empty());
  EXPECT_EQ(ends.back(), data.size());
  size_t prev = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    size_t len = ends[i] - prev;
    EXPECT_LE(len, 4u << 20);
    if (i + 1 < ends.size()) {
      EXPECT_GE(len, 256u << 10);
    }
    prev = ends[i];
  }
  EXPECT_GT(ends.size(), 8u);
  EXPECT_LT(ends.size(), 60u);
  // Bytes inserted at the front shift the data; the cut points after them resynchronize.
  const std::string shifted = "inserted!" + data;
  auto ends2 =
      registry::ChunkEnds(reinterpret_cast<const uint8_t*>(shifted.data()), shifted.size());
  size_t shared = 0;
  for (size_t e : ends) shared += std::count(ends2.begin(), ends2.end(), e + 9);
  EXPECT_GE(shared, ends.size() - 2);
}

// The chunker's definition, written the slow and obvious way: a chunk ends after the first byte
// at least min_size into it where the gear hash of the 64 bytes up to it has the mask's bits
// clear, or at max_size. The parallel, multi-lane scan must cut exactly here.
std::vector<size_t> ReferenceChunkEnds(const std::string& s) {
  const registry::ChunkParams p;
  const uint64_t mask = [] {
    uint64_t m = 0;
    for (int i = 0; i < 20; ++i) m |= uint64_t{1} << (63 - 2 * i);
    return m;
  }();
  auto gear = [](uint8_t b) {
    uint64_t z = (uint64_t{b} + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<size_t> ends;
  size_t start = 0;
  while (start < s.size()) {
    size_t limit = std::min(s.size() - start, p.max_size), cut = limit;
    if (s.size() - start > p.min_size) {
      uint64_t h = 0;  // rolled from the chunk's first byte; bytes 64 back are shifted out
      for (size_t i = 0; i < limit; ++i) {
        h = (h << 1) + gear(uint8_t(s[start + i]));
        if (i >= p.min_size && (h & mask) == 0) {
          cut = i + 1;
          break;
        }
      }
    }
    start += cut;
    ends.push_back(start);
  }
  return ends;
}

TEST(Chunker, MatchesItsDefinition) {
  // Sizes around the 16 MiB blocks of the parallel scan, and data with long runs of one byte.
  std::string runs = RandomBytes(20 << 20, 7);
  for (size_t i = 3 << 20; i < (9 << 20); ++i) runs[i] = 'x';
  for (const std::string& data : {RandomBytes(33 << 20 | 12345, 5), RandomBytes(16 << 20, 6),
                                  RandomBytes(300 << 10, 8), runs}) {
    auto ends = registry::ChunkEnds(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    EXPECT_EQ(ends, ReferenceChunkEnds(data)) << data.size();
  }
}

TEST_F(RegistryTest, PublishResolveRestore) {
  const std::string weights = RandomBytes(6 << 20, 2);
  PublishOptions opts;
  opts.description = "first";
  opts.metrics = {{"loss", "0.25"}};
  opts.tags = {{"team", "a"}};
  PublishStats stats;
  auto v1 = registry_->Publish("simple-model", MakeModel("m1", weights), opts, &stats);
  ASSERT_OK(v1.status());
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->ref(), "simple-model:1");
  EXPECT_EQ(stats.files, 2u);
  EXPECT_EQ(stats.new_bytes, stats.bytes);

  for (std::string ref : {"simple-model:1", "simple-model:latest", "simple-model"}) {
    auto r = registry_->Resolve(ref);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->version, 1);
    EXPECT_EQ(r->description, "first");
    EXPECT_EQ(r->metrics.at("loss"), "0.25");
    EXPECT_EQ(r->approval, Approval::kPendingManualApproval);
  }
  EXPECT_EQ(registry_->Resolve("simple-model:2").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(registry_->Resolve("nope:1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(registry_->Resolve("../x:1").status().code(), Status::Code::kInvalidArgument);

  auto restored = registry_->Restore("simple-model:1", dir_.File("out/restored"));
  ASSERT_OK(restored.status());
  EXPECT_EQ(*ReadFileToString(dir_.File("out/restored/model.pth")), weights);
  EXPECT_EQ(*ReadFileToString(dir_.File("out/restored/code/inference.py")),
            "def model_fn(d):\n    return d\n");
  EXPECT_EQ(registry_->Restore("simple-model:1", dir_.File("out/restored")).status().code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(*registry_->ListGroups(), std::vector<std::string>{"simple-model"});
  auto in_memory = registry_->ReadFile("simple-model@nothing", "model.pth");
  EXPECT_EQ(in_memory.status().code(), Status::Code::kNotFound);
  in_memory = registry_->ReadFile("simple-model:1", "model.pth");
  ASSERT_OK(in_memory.status());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*in_memory)->data()), (*in_memory)->size()),
            weights);
  EXPECT_EQ(registry_->ReadFile("simple-model:1", "nope").status().code(), Status::Code::kNotFound);
}

TEST_F(RegistryTest, UnchangedBytesAreStoredOnce) {
  std::string weights = RandomBytes(16 << 20, 3);
  PublishStats first, second;
  ASSERT_OK(registry_->Publish("g", MakeModel("a", weights), {}, &first).status());
  // Change 1 MiB in the middle: most chunks are shared with version 1.
  for (size_t i = 8 << 20; i < (9 << 20); ++i) weights[i] ^= 0x5a;
  auto v2 = registry_->Publish("g", MakeModel("b", weights), {}, &second);
  ASSERT_OK(v2.status());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(second.bytes, first.bytes);
  EXPECT_LT(second.new_bytes, first.bytes / 4) << second.new_bytes;
  ASSERT_OK(registry_->Restore("g:2", dir_.File("r2")).status());
  EXPECT_EQ(*ReadFileToString(dir_.File("r2/model.pth")), weights);
}

TEST_F(RegistryTest, ThirtyTwoProcessesPublishAtOnce) {
  const std::string root = dir_.File("store");
  std::vector<std::string> dirs;
  for (int i = 0; i < 32; ++i)
    dirs.push_back(MakeModel("p" + std::to_string(i), "weights " + std::to_string(i)));
  std::vector<pid_t> pids;
  for (int i = 0; i < 32; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = OpenStore(root);
      if (!store.ok()) ::_exit(2);
      Registry r(std::move(store).value());
      ::_exit(r.Publish("race", dirs[i]).ok() ? 0 : 1);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto versions = registry_->ListVersions("race");
  ASSERT_OK(versions.status());
  ASSERT_EQ(versions->size(), 32u);
  std::set<std::string> contents;
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ((*versions)[i].version, i + 1);
    ASSERT_OK(
        registry_->Restore("race:" + std::to_string(i + 1), dir_.File("r" + std::to_string(i)))
            .status());
    contents.insert(*ReadFileToString(dir_.File("r" + std::to_string(i) + "/model.pth")));
  }
  EXPECT_EQ(contents.size(), 32u);  // every publish landed exactly once
}

TEST_F(RegistryTest, APublishFailingAtAnyStepLeavesNoVersion) {
  const std::string model = MakeModel("m", RandomBytes(3 << 20, 4));
  for (int n = 1;; ++n) {
    auto inner = OpenStore(dir_.File("faulty-" + std::to_string(n)));
    ASSERT_OK(inner.status());
    auto faulty = std::make_unique<FaultInjectingStore>(std::move(inner).value());
    FaultInjectingStore* f = faulty.get();
    f->FailNthCall(n, Status::IOError("injected failure"));
    Registry r(std::move(faulty));
    auto v = r.Publish("g", model, {.parallelism = 1});
    f->Clear();
    if (v.ok()) {
      EXPECT_GT(n, 3);  // every store call of a publish was failed once before this
      break;
    }
    EXPECT_EQ(v.status().code(), Status::Code::kIOError);
    EXPECT_EQ(r.Resolve("g:latest").status().code(), Status::Code::kNotFound) << n;
    ASSERT_OK(r.Publish("g", model).status());  // the store is still usable
    EXPECT_EQ(r.Resolve("g:latest")->version, 1);
    auto report = r.Verify();
    ASSERT_OK(report.status());
    EXPECT_TRUE(report->problems.empty()) << report->problems[0];
    EXPECT_EQ(report->versions, 1u);
  }
}

TEST_F(RegistryTest, ACorruptChunkFailsTheRestoreClosed) {
  ASSERT_OK(registry_->Publish("g", MakeModel("m", RandomBytes(2 << 20, 5))).status());
  // Flip one byte of one stored chunk.
  std::string victim;
  for (auto& e : fs::recursive_directory_iterator(dir_.File("store/chunks"))) {
    if (e.is_regular_file()) victim = e.path().string();
  }
  ASSERT_FALSE(victim.empty());
  std::string bytes = *ReadFileToString(victim);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_OK(WriteFileAtomically(victim, bytes));
  EXPECT_EQ(registry_->ReadFile("g:1", "model.pth").status().code(), Status::Code::kCorrupt);
  auto r = registry_->Restore("g:1", dir_.File("out"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorrupt);
  EXPECT_NE(r.status().message().find(fs::path(victim).filename().string()), std::string::npos);
  EXPECT_NE(r.status().message().find("model.pth"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(dir_.File("out")));
  // No temporary directory is left behind either.
  for (auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find("cairn-restore"), std::string::npos);
  }
}

TEST_F(RegistryTest, TheChunkCacheFetchesOnlyWhatItLacks) {
  std::string weights = RandomBytes(12 << 20, 6);
  ASSERT_OK(registry_->Publish("g", MakeModel("a", weights)).status());
  for (size_t i = 6 << 20; i < (7 << 20); ++i) weights[i] ^= 1;
  ASSERT_OK(registry_->Publish("g", MakeModel("b", weights)).status());

  auto inner = OpenStore(dir_.File("store"));
  ASSERT_OK(inner.status());
  auto counting = std::make_unique<FaultInjectingStore>(std::move(inner).value());
  FaultInjectingStore* store = counting.get();
  Registry cached(std::move(counting), dir_.File("cache"));
  auto chunk_gets = [&] {
    size_t n = 0;
    for (const auto& c : store->calls())
      n += c.rfind("Get chunks/", 0) == 0 || c.rfind("GetInto chunks/", 0) == 0;
    return n;
  };
  ASSERT_OK(cached.Restore("g:1", dir_.File("r1")).status());
  const size_t first = chunk_gets();
  const size_t v1_chunks = cached.Resolve("g:1")->files[1].chunks.size() + 1;
  EXPECT_EQ(first, v1_chunks);
  ASSERT_OK(cached.Restore("g:2", dir_.File("r2")).status());
  const size_t second = chunk_gets() - first;
  EXPECT_GT(second, 0u);
  EXPECT_LT(second, first / 2) << "the cache should have held most of version 2's chunks";
  EXPECT_EQ(*ReadFileToString(dir_.File("r2/model.pth")), weights);
  // A damaged cache entry is noticed by the SHA-256 check and fetched again.
  for (auto& e : fs::recursive_directory_iterator(dir_.File("cache"))) {
    if (!e.is_regular_file()) continue;
    std::string b = *ReadFileToString(e.path().string());
    b[0] ^= 1;
    ASSERT_OK(WriteFileAtomically(e.path().string(), b));
  }
  ASSERT_OK(cached.Restore("g:2", dir_.File("r3")).status());
  EXPECT_EQ(*ReadFileToString(dir_.File("r3/model.pth")), weights);
}

TEST_F(RegistryTest, GcDeletesWhatFailedPublishesLeft) {
  ASSERT_OK(registry_->Publish("g", MakeModel("kept", RandomBytes(3 << 20, 7))).status());
  // A publish whose manifest write fails leaves its chunks behind.
  auto inner = OpenStore(dir_.File("store"));
  ASSERT_OK(inner.status());
  auto faulty = std::make_unique<FaultInjectingStore>(std::move(inner).value());
  faulty->FailMatching("Put", "/versions/", Status::IOError("injected"));
  Registry failing(std::move(faulty));
  EXPECT_FALSE(failing.Publish("g", MakeModel("lost", RandomBytes(2 << 20, 8))).ok());

  auto dry = registry_->CollectGarbage(/*dry_run=*/true);
  ASSERT_OK(dry.status());
  EXPECT_GE(dry->deleted, 2u);
  auto gc = registry_->CollectGarbage();
  ASSERT_OK(gc.status());
  EXPECT_EQ(gc->deleted, dry->deleted);
  EXPECT_EQ(gc->referenced, dry->referenced);
  EXPECT_EQ(registry_->CollectGarbage()->deleted, 0u);
  EXPECT_FALSE(gc->space_kept_as_versions);  // a local store frees what it deletes
  // A store that keeps deleted objects as versions (a versioned bucket) says so in the report.
  struct KeepsVersions : ForwardingStore {
    using ForwardingStore::ForwardingStore;
    bool DeleteKeepsVersions() override { return true; }
  };
  auto again = OpenStore(dir_.File("store"));
  ASSERT_OK(again.status());
  Registry versioned(std::make_unique<KeepsVersions>(std::move(again).value()));
  auto kept = versioned.CollectGarbage(/*dry_run=*/true);
  ASSERT_OK(kept.status());
  EXPECT_TRUE(kept->space_kept_as_versions);
  auto report = registry_->Verify();
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->problems.empty());
  ASSERT_OK(registry_->Restore("g:1", dir_.File("r")).status());
}

TEST_F(RegistryTest, GcAndPublishKeepApart) {
  {
    auto held =
        registry::StoreLock::Acquire(registry_->store(), registry::StoreLock::Kind::kShared);
    ASSERT_OK(held.status());
    EXPECT_EQ(registry_->CollectGarbage().status().code(), Status::Code::kPreconditionFailed);
  }
  ASSERT_OK(registry_->CollectGarbage().status());
  // Publishers and a gc loop at once: no version may lose a chunk.
  std::atomic<bool> stop{false};
  std::atomic<int> gcs{0};
  std::thread collector([&] {
    while (!stop) {
      if (registry_->CollectGarbage().ok()) ++gcs;
    }
  });
  const std::string shared = RandomBytes(2 << 20, 9);
  std::vector<std::thread> publishers;
  for (int t = 0; t < 3; ++t) {
    publishers.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const std::string name = "c" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_OK(registry_->Publish("g", MakeModel(name, shared + name)).status());
      }
    });
  }
  for (auto& p : publishers) p.join();
  stop = true;
  collector.join();
  EXPECT_GT(gcs, 0);
  auto report = registry_->Verify();
  ASSERT_OK(report.status());
  EXPECT_EQ(report->versions, 12u);
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
}

TEST_F(RegistryTest, AliasesRollbackAndApproval) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(registry_->Publish("g", MakeModel("m" + std::to_string(i), "w" + std::to_string(i)))
                  .status());
  }
  ASSERT_OK(registry_->SetAlias("g", "production", 1));
  ASSERT_OK(registry_->SetAlias("g", "production", 3));
  ASSERT_OK(registry_->SetAlias("g", "staging", 3));
  EXPECT_EQ(registry_->Resolve("g@production")->version, 3);
  auto v3 = registry_->Resolve("g:3");
  EXPECT_EQ(v3->aliases, (std::vector<std::string>{"production", "staging"}));
  auto back = registry_->Rollback("g", "production");
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, 1);
  EXPECT_EQ(registry_->Resolve("g@production")->version, 1);
  EXPECT_EQ(registry_->Rollback("g", "production").status().code(),
            Status::Code::kPreconditionFailed);
  EXPECT_EQ(registry_->AliasHistory("g", "production")->size(), 3u);
  EXPECT_EQ(registry_->SetAlias("g", "production", 9).code(), Status::Code::kNotFound);
  EXPECT_EQ(registry_->Resolve("g@nothing").status().code(), Status::Code::kNotFound);

  ASSERT_OK(registry_->SetApproval("g:2", Approval::kApproved));
  EXPECT_EQ(registry_->Resolve("g:2")->approval, Approval::kApproved);
  ASSERT_OK(registry_->SetApproval("g:2", Approval::kRejected));
  EXPECT_EQ(registry_->Resolve("g:2")->approval, Approval::kRejected);
  EXPECT_EQ(registry_->Resolve("g:1")->approval, Approval::kPendingManualApproval);
}

}  // namespace
}  // namespace cairn
