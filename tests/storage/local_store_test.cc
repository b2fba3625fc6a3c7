#include "cairn/storage/local_store.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/storage/fault_store.h"
#include "test_util.h"

namespace cairn {
namespace {

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenStore(dir_.path() + "/store");
    ASSERT_OK(s.status());
    store_ = std::move(s).value();
  }
  testing::TempDir dir_;
  std::unique_ptr<ObjectStore> store_;
};

// A source that fails after handing out some bytes, like a network stream that breaks.
class BrokenSource : public ByteSource {
 public:
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    if (calls_++ > 0) return Status::IOError("connection reset");
    std::memset(buf, 'x', size);
    return size;
  }

 private:
  int calls_ = 0;
};

TEST_F(LocalStoreTest, PutGetHeadListDelete) {
  auto put = PutString(*store_, "models/a/1.json", "{\"v\": 1}");
  ASSERT_OK(put.status());
  EXPECT_EQ(put->size, 8u);
  ASSERT_OK(PutString(*store_, "models/a/2.json", "two").status());
  ASSERT_OK(PutString(*store_, "models/ab", "x").status());
  ASSERT_OK(PutString(*store_, "other", "y").status());
  EXPECT_EQ(*GetString(*store_, "models/a/1.json"), "{\"v\": 1}");
  auto head = store_->Head("models/a/1.json");
  ASSERT_OK(head.status());
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_GT(head->mtime_ms, 1700000000000LL);

  auto list = store_->List("models/a");
  ASSERT_OK(list.status());
  std::vector<std::string> keys;
  for (auto& o : *list) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"models/a/1.json", "models/a/2.json", "models/ab"}));
  EXPECT_EQ(store_->List("models/a/")->size(), 2u);
  EXPECT_EQ(store_->List("")->size(), 4u);
  EXPECT_TRUE(store_->List("nothing/here")->empty());

  ASSERT_OK(store_->Delete("models/a/1.json"));
  ASSERT_OK(store_->Delete("models/a/1.json"));  // deleting twice is fine
  EXPECT_EQ(store_->Head("models/a/1.json").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(GetString(*store_, "models/a/1.json").status().code(), Status::Code::kNotFound);
  ASSERT_OK(store_->Delete("models/a/2.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/store/models/a"));  // empty folders go
}

TEST_F(LocalStoreTest, GetIntoHashesEveryByteAsItLands) {
  std::string bytes(3 * (256 << 10) + 7, '\0');  // several of the pieces it reads and hashes
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + (i >> 9));
  ASSERT_OK(PutString(*store_, "chunks/x", bytes).status());
  std::string dest(bytes.size(), '\0');
  Sha256 hash;
  ASSERT_OK(
      store_->GetInto("chunks/x", reinterpret_cast<uint8_t*>(dest.data()), dest.size(), &hash));
  EXPECT_EQ(dest, bytes);
  EXPECT_EQ(ToHex(hash.Finish()), Sha256Hex(bytes));
  // The same through a wrapper store (ForwardingStore passes the hash on).
  FaultInjectingStore faulty(std::move(store_));
  Sha256 again;
  std::string dest2(bytes.size(), '\0');
  ASSERT_OK(
      faulty.GetInto("chunks/x", reinterpret_cast<uint8_t*>(dest2.data()), dest2.size(), &again));
  EXPECT_EQ(ToHex(again.Finish()), Sha256Hex(bytes));
  // A size that does not match is kCorrupt, hash or not.
  Sha256 wrong;
  EXPECT_EQ(faulty.GetInto("chunks/x", reinterpret_cast<uint8_t*>(dest2.data()), 10, &wrong).code(),
            Status::Code::kCorrupt);
}

TEST_F(LocalStoreTest, DownloadWritesTheWholeFileOrNothing) {
  std::string data(3 << 20, 'd');
  ASSERT_OK(PutString(*store_, "m/model.pth", data).status());
  uint64_t seen = 0;
  DownloadOptions options{[&](uint64_t n) { seen += n; }};
  auto info = store_->Download("m/model.pth", dir_.File("model.pth"), options);
  ASSERT_OK(info.status());
  EXPECT_EQ(seen, data.size());
  EXPECT_EQ(*ReadFileToString(dir_.File("model.pth")), data);
  EXPECT_EQ(store_->Download("m/none", dir_.File("none")).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("none")));
}

TEST_F(LocalStoreTest, Ranges) {
  ASSERT_OK(PutString(*store_, "k", "0123456789").status());
  EXPECT_EQ(*GetString(*store_, "k", {3, 4}), "3456");
  EXPECT_EQ(*GetString(*store_, "k", {7, std::nullopt}), "789");
  EXPECT_EQ(*GetString(*store_, "k", {8, 100}), "89");
  EXPECT_EQ(GetString(*store_, "k", {11, 1}).status().code(), Status::Code::kInvalidArgument);
  ASSERT_OK(PutString(*store_, "empty", "").status());
  EXPECT_EQ(*GetString(*store_, "empty"), "");
}

TEST_F(LocalStoreTest, ConditionalPuts) {
  PutOptions if_absent = PutOptions::IfAbsent();
  auto first = PutString(*store_, "v/1", "first", if_absent);
  ASSERT_OK(first.status());
  auto again = PutString(*store_, "v/1", "second", if_absent);
  EXPECT_EQ(again.status().code(), Status::Code::kPreconditionFailed);
  EXPECT_EQ(*GetString(*store_, "v/1"), "first");

  PutOptions if_match = PutOptions::IfMatch("not-the-etag");
  EXPECT_EQ(PutString(*store_, "v/1", "x", if_match).status().code(),
            Status::Code::kPreconditionFailed);
  EXPECT_EQ(PutString(*store_, "v/absent", "x", if_match).status().code(),
            Status::Code::kPreconditionFailed);
  if_match.if_match = first->etag;
  auto swapped = PutString(*store_, "v/1", "third", if_match);
  ASSERT_OK(swapped.status());
  EXPECT_NE(swapped->etag, first->etag);
  EXPECT_EQ(*GetString(*store_, "v/1"), "third");
  // The old etag no longer matches.
  EXPECT_EQ(PutString(*store_, "v/1", "fourth", if_match).status().code(),
            Status::Code::kPreconditionFailed);
}

TEST_F(LocalStoreTest, AFailedPutLeavesNothing) {
  ASSERT_OK(PutString(*store_, "keep", "old").status());
  BrokenSource broken;
  EXPECT_EQ(store_->Put("keep", broken).status().code(), Status::Code::kIOError);
  BrokenSource broken2;
  EXPECT_FALSE(store_->Put("new", broken2).ok());
  EXPECT_EQ(*GetString(*store_, "keep"), "old");
  EXPECT_EQ(store_->Head("new").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/store/.cairn-tmp"));
}

TEST_F(LocalStoreTest, RejectsBadKeys) {
  for (std::string key :
       std::vector<std::string>{"", "/abs", "a//b", "a/../b", "./a", "a/", ".cairn-tmp/x",
                                std::string("a\0b", 3), std::string(1025, 'k')}) {
    EXPECT_EQ(PutString(*store_, key, "x").status().code(), Status::Code::kInvalidArgument) << key;
  }
  ASSERT_OK(PutString(*store_, "file", "x").status());
  auto st = PutString(*store_, "file/child", "y").status();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("parent"), std::string::npos);
}

TEST_F(LocalStoreTest, SixteenProcessesCreateOneKeyAndExactlyOneWins) {
  const std::string root = dir_.path() + "/store";
  for (int round = 0; round < 5; ++round) {
    const std::string key = "race/" + std::to_string(round);
    std::vector<pid_t> pids;
    for (int i = 0; i < 16; ++i) {
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        auto store = OpenStore(root);
        if (!store.ok()) ::_exit(2);
        auto r = PutString(**store, key, "writer " + std::to_string(i), PutOptions::IfAbsent());
        ::_exit(r.ok() ? 0 : r.status().code() == Status::Code::kPreconditionFailed ? 1 : 2);
      }
      pids.push_back(pid);
    }
    int won = 0, lost = 0;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFEXITED(status));
      won += WEXITSTATUS(status) == 0;
      lost += WEXITSTATUS(status) == 1;
    }
    EXPECT_EQ(won, 1);
    EXPECT_EQ(lost, 15);
    EXPECT_EQ(GetString(*store_, key)->rfind("writer ", 0), 0u);
  }
}

TEST_F(LocalStoreTest, ConcurrentIfMatchWritersNeverLoseAnUpdate) {
  ASSERT_OK(PutString(*store_, "counter", "0").status());
  auto bump = [&] {
    for (int done = 0; done < 20;) {
      auto head = store_->Head("counter");
      auto value = GetString(*store_, "counter");
      if (!head.ok() || !value.ok()) continue;
      // A read racing a write can pair an old etag with a new value; the CAS then fails.
      auto r = PutString(*store_, "counter", std::to_string(std::stoi(*value) + 1),
                         PutOptions::IfMatch(head->etag));
      if (r.ok()) ++done;
    }
  };
  std::thread a(bump), b(bump);
  a.join();
  b.join();
  EXPECT_EQ(*GetString(*store_, "counter"), "40");
}

TEST(FaultInjectingStore, FailsChosenCalls) {
  testing::TempDir dir;
  auto inner = OpenStore(dir.path());
  ASSERT_OK(inner.status());
  FaultInjectingStore store(std::move(inner).value());
  store.FailNthCall(2, Status::Transient("injected"));
  ASSERT_OK(PutString(store, "a", "1").status());
  EXPECT_EQ(PutString(store, "b", "2").status().code(), Status::Code::kTransient);
  ASSERT_OK(PutString(store, "b", "2").status());
  store.FailMatching("Get", "secret", Status::PermissionDenied("no"), 1);
  ASSERT_OK(PutString(store, "secret/x", "s").status());
  EXPECT_EQ(GetString(store, "secret/x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(*GetString(store, "secret/x"), "s");
  EXPECT_EQ(store.calls().front(), "Put a");
}

}  // namespace
}  // namespace cairn
