// A publish "crashed" at every point (every store call after the crash fails, and writes not made
// durable by Sync() are lost, as after a power cut) leaves no visible version, or one that
// verifies; and lock expiry follows the registry's clock.
#include <filesystem>
#include <random>

#include "cairn/core/clock.h"
#include "cairn/core/file.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "cairn/storage/fault_store.h"
#include "test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

std::string MakeModel(const testing::TempDir& dir, const std::string& name, size_t bytes) {
  std::mt19937 rng(7);
  std::string weights(bytes, '\0');
  for (auto& c : weights) c = static_cast<char>(rng());
  const std::string d = dir.File(name);
  fs::create_directories(d + "/code");
  EXPECT_OK(WriteFileAtomically(d + "/model.pth", weights));
  EXPECT_OK(WriteFileAtomically(d + "/code/inference.py", "def model_fn(d):\n    return d\n"));
  return d;
}

TEST(Crash, APublishCrashedAtAnyPointLeavesNoVersionOrOneThatVerifies) {
  testing::TempDir dir;
  const std::string model = MakeModel(dir, "m", 3 << 20);
  int lost_writes = 0, visible = 0;
  for (int n = 1;; ++n) {
    const std::string path = dir.File("store-" + std::to_string(n));
    auto inner = OpenStore(path);
    ASSERT_OK(inner.status());
    auto faulty = std::make_unique<FaultInjectingStore>(std::move(*inner));
    FaultInjectingStore* f = faulty.get();
    f->CrashAtCall(n);
    {
      Registry r(std::move(faulty));
      auto v = r.Publish("g", model, {.parallelism = 1});
      if (v.ok()) {
        EXPECT_GT(n, 5);  // it crashed at every call of a publish before this one
        break;
      }
      auto dropped = f->DropUnsyncedWrites();  // the power cut
      ASSERT_OK(dropped.status());
      lost_writes += *dropped;
    }
    // What the next process finds.
    auto after = OpenStore(path);
    ASSERT_OK(after.status());
    Registry fresh(std::move(*after));
    auto versions = fresh.ListVersions("g");
    ASSERT_OK(versions.status());
    ASSERT_LE(versions->size(), 1u) << n;
    if (versions->size() == 1) {
      ++visible;
      auto report = fresh.Verify();
      ASSERT_OK(report.status());
      EXPECT_TRUE(report->problems.empty()) << n << ": " << report->problems[0];
      ASSERT_OK(fresh.Restore("g:1", dir.File("restored-" + std::to_string(n))).status());
    }
    // The store stays usable: the next publish succeeds and verifies.
    ASSERT_OK(fresh.Publish("g", model).status());
    auto report = fresh.Verify();
    ASSERT_OK(report.status());
    EXPECT_TRUE(report->problems.empty()) << n;
  }
  EXPECT_GT(lost_writes, 0) << "no crash point lost an unsynced chunk: the test proves nothing";
}

TEST(Crash, LocksExpireByTheRegistrysClock) {
  testing::TempDir dir;
  auto store = OpenStore(dir.File("store"));
  ASSERT_OK(store.status());
  ManualClock clock(1'000'000'000);
  // A publisher that crashed left its shared lock, valid until now + 1 minute.
  ASSERT_OK(PutString(**store, layout::LockKey("shared", "crashed-publish"),
                      R"({"expires_ms": 1000060000, "by": "gone@host"})")
                .status());
  Registry r(std::move(*store), "", clock);
  EXPECT_EQ(r.CollectGarbage().status().code(), Status::Code::kPreconditionFailed);
  clock.Advance(59'000);
  EXPECT_EQ(r.CollectGarbage().status().code(), Status::Code::kPreconditionFailed);
  clock.Advance(2'000);  // past its expiry: a stale lock is ignored
  ASSERT_OK(r.CollectGarbage().status());
}

}  // namespace
}  // namespace cairn
