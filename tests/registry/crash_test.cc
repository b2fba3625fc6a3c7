// A publish "crashed" at every point (every store call after the crash fails, and writes not made
// durable by Sync() are lost, as after a power cut) leaves no visible version, or one that
// verifies; and lock expiry follows the registry's clock.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "cairn/core/clock.h"
#include "cairn/core/file.h"
#include "cairn/core/host.h"
#include "cairn/core/subprocess.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "cairn/storage/fault_store.h"
#include "cairn/storage/forwarding_store.h"
#include "registry/locks.h"
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

// A lock of a process that is gone, on this host and boot.
std::string LockOfAGoneProcess(int64_t heartbeat_ms) {
  SubprocessOptions o;
  o.argv = {"/bin/true"};
  auto p = Subprocess::Start(o);
  EXPECT_TRUE(p.ok());
  const int64_t pid = (*p)->pid();
  (*p)->Wait();  // reaped: no process has this pid now (the kernel cycles through pids)
  return nlohmann::json{{"expires_ms", heartbeat_ms + registry::StoreLock::kTtlMs},
                        {"by", "someone@here"},
                        {"host", HostName()},
                        {"boot_id", BootId()},
                        {"pid", pid},
                        {"heartbeat_ms", heartbeat_ms}}
      .dump();
}

TEST(Crash, StaleLocksAreRecognisedAndBrokenSafely) {
  testing::TempDir dir;
  auto store = OpenStore(dir.File("store"));
  ASSERT_OK(store.status());
  ManualClock clock(NowMs());
  const int64_t now = clock.NowMs();
  // Process gone (same host and boot): stale at once, though it has hours to live.
  ASSERT_OK(
      PutString(**store, layout::LockKey("shared", "gone"), LockOfAGoneProcess(now)).status());
  // Another host whose heartbeat stopped 10 minutes ago.
  const std::string far = nlohmann::json{
      {"expires_ms", now + 3'600'000},
      {"host", "elsewhere"},
      {"boot_id", "x"},
      {"pid", 1},
      {"heartbeat_ms",
       now - 600'000}}.dump();
  ASSERT_OK(PutString(**store, layout::LockKey("shared", "silent"), far).status());
  EXPECT_NE(registry::StaleReason(far, now).find("heartbeat stopped"), std::string::npos);
  // Another host, beating: live.
  const std::string live = nlohmann::json{
      {"expires_ms", now + 3'600'000},
      {"host", "elsewhere"},
      {"boot_id", "x"},
      {"pid", 1},
      {"heartbeat_ms",
       now - 10'000}}.dump();
  EXPECT_EQ(registry::StaleReason(live, now), "");
  // This very process: live.
  EXPECT_EQ(registry::StaleReason(nlohmann::json{{"expires_ms", now + 1000},
                                                 {"host", HostName()},
                                                 {"boot_id", BootId()},
                                                 {"pid", CurrentPid()},
                                                 {"heartbeat_ms", now}}
                                      .dump(),
                                  now),
            "");
  Registry r(std::move(*store), "", clock);
  ASSERT_OK(r.CollectGarbage().status());  // neither stale lock holds gc back
  auto broken = r.BreakStaleLocks();
  ASSERT_OK(broken.status());
  ASSERT_EQ(broken->size(), 2u);
  EXPECT_NE((*broken)[0].find("is gone"), std::string::npos) << (*broken)[0];
  EXPECT_NE((*broken)[1].find("heartbeat stopped"), std::string::npos) << (*broken)[1];
  EXPECT_TRUE(r.store().List(layout::LocksPrefix())->empty());
  // A live lock is never broken, and a holder whose lock was broken finds out.
  auto held = registry::StoreLock::Acquire(r.store(), registry::StoreLock::Kind::kShared, clock);
  ASSERT_OK(held.status());
  ASSERT_OK((*held)->StillHeld());
  EXPECT_TRUE(r.BreakStaleLocks()->empty());
  EXPECT_EQ(r.CollectGarbage().status().code(), Status::Code::kPreconditionFailed);
  clock.Advance(registry::StoreLock::kStaleAfterMs + 1000);  // its heartbeat (30 s) not yet due
  ASSERT_EQ(r.BreakStaleLocks()->size(), 1u);
  EXPECT_EQ((*held)->StillHeld().code(), Status::Code::kPreconditionFailed);
}

// A holder that beats right after gc read its stale-looking lock: the break must not delete the
// renewed lock (it is made conditional on the lock gc judged).
class RenewsAfterRead : public ForwardingStore {
 public:
  RenewsAfterRead(std::unique_ptr<ObjectStore> inner, std::string key, std::string fresh)
      : ForwardingStore(std::move(inner)), key_(std::move(key)), fresh_(std::move(fresh)) {}
  Status Get(const std::string& key, const ByteSink& sink, ByteRange range) override {
    Status st = ForwardingStore::Get(key, sink, range);
    if (key == key_ && !renewed_) {
      renewed_ = true;
      EXPECT_OK(PutString(inner(), key_, fresh_).status());
    }
    return st;
  }

 private:
  std::string key_, fresh_;
  bool renewed_ = false;
};

TEST(Crash, ALockRenewedWhileJudgedStaleIsNotBroken) {
  testing::TempDir dir;
  auto store = OpenStore(dir.File("store"));
  ASSERT_OK(store.status());
  const int64_t now = NowMs();
  const std::string key = layout::LockKey("shared", "paused");
  auto body = [&](int64_t beat) {
    return nlohmann::json{{"expires_ms", now + 3'600'000},
                          {"host", "elsewhere"},
                          {"boot_id", "x"},
                          {"pid", 1},
                          {"heartbeat_ms", beat}}
        .dump();
  };
  ASSERT_OK(PutString(**store, key, body(now - 600'000)).status());  // silent for 10 minutes
  RenewsAfterRead renewing(std::move(*store), key, body(now));
  auto broken = registry::StoreLock::BreakStale(renewing, Clock::System());
  ASSERT_OK(broken.status());
  EXPECT_TRUE(broken->empty());
  EXPECT_EQ(*GetString(renewing, key), body(now));  // the renewed lock stands
  // Judged again, it is live; once it goes silent for good it is broken.
  EXPECT_TRUE(registry::StoreLock::BreakStale(renewing, Clock::System())->empty());
  ASSERT_OK(PutString(renewing, key, body(now - 600'000)).status());
  EXPECT_EQ(registry::StoreLock::BreakStale(renewing, Clock::System())->size(), 1u);
  EXPECT_EQ(renewing.Head(key).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace cairn
