// The S3 store against a real S3 server: the test RGW that ctest starts (scripts/s3-server.sh),
// or any endpoint named by CAIRN_TEST_S3_ENDPOINT with AWS_* credentials and CAIRN_TEST_S3_BUCKET.
#include "cairn/storage/s3_store.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "cairn/core/file.h"
#include "cairn/core/sha256.h"
#include "cairn/registry/registry.h"

#include <filesystem>
#include "test_util.h"

namespace cairn {
namespace {

std::string Bucket() {
  const char* b = std::getenv("CAIRN_TEST_S3_BUCKET");
  return b ? b : "cairn-test";
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("CAIRN_TEST_S3_ENDPOINT") == nullptr) {
      GTEST_SKIP() << "CAIRN_TEST_S3_ENDPOINT is not set (ctest starts a test S3 server)";
    }
    auto o = S3OptionsFromEnvironment();
    ASSERT_OK(o.status());
    options_ = *o;
    options_.part_size = 5u << 20;
    // Each test works under its own prefix.
    prefix_ = "t-" + std::to_string(std::random_device{}()) + "/" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto s = OpenS3Store(Bucket(), prefix_, options_);
    ASSERT_OK(s.status());
    store_ = std::move(s).value();
  }
  S3Options options_;
  std::string prefix_;
  std::unique_ptr<ObjectStore> store_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class BrokenSource : public ByteSource {
 public:
  explicit BrokenSource(size_t good) : good_(good) {}
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    if (sent_ >= good_) return Status::IOError("source broke");
    size_t n = std::min(size, good_ - sent_);
    std::memset(buf, 'z', n);
    sent_ += n;
    return n;
  }

 private:
  size_t good_, sent_ = 0;
};

// A positional source (as a file is) of `size` bytes whose reads past `good` fail.
class BrokenPositionalSource : public ByteSource {
 public:
  BrokenPositionalSource(size_t size, size_t good) : size_(size), good_(good) {}
  Result<size_t> Read(uint8_t*, size_t) override { return Status::IOError("not used"); }
  std::optional<uint64_t> size() const override { return size_; }
  bool positional() const override { return true; }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buf, size_t size) const override {
    if (offset + size > good_) return Status::IOError("disk read error");
    std::memset(buf, 'p', size);
    return size;
  }

 private:
  size_t size_, good_;
};

// Hands out `data` through Read only (a pipe, say): the multipart upload reads part by part.
class StreamSource : public ByteSource {
 public:
  explicit StreamSource(const std::string& data) : data_(data) {}
  Result<size_t> Read(uint8_t* buf, size_t size) override {
    size_t n = std::min(size, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

TEST_F(S3StoreTest, PutGetHeadListDelete) {
  auto put = PutString(*store_, "a/1.json", "{\"v\": 1}");
  ASSERT_OK(put.status());
  ASSERT_OK(PutString(*store_, "a/2.json", "two").status());
  ASSERT_OK(PutString(*store_, "ab", "x").status());
  ASSERT_OK(PutString(*store_, "sp ace/ü+=&.txt", "odd name").status());
  EXPECT_EQ(*GetString(*store_, "a/1.json"), "{\"v\": 1}");
  EXPECT_EQ(*GetString(*store_, "sp ace/ü+=&.txt"), "odd name");
  auto head = store_->Head("a/1.json");
  ASSERT_OK(head.status());
  EXPECT_EQ(head->size, 8u);
  EXPECT_EQ(head->etag, put->etag);
  EXPECT_GT(head->mtime_ms, 1700000000000LL);
  auto list = store_->List("a");
  ASSERT_OK(list.status());
  std::vector<std::string> keys;
  for (auto& o : *list) keys.push_back(o.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/1.json", "a/2.json", "ab"}));
  EXPECT_EQ((*list)[0].etag, put->etag);
  ASSERT_OK(store_->Delete("a/1.json"));
  ASSERT_OK(store_->Delete("a/1.json"));
  EXPECT_EQ(store_->Head("a/1.json").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(GetString(*store_, "a/1.json").status().code(), Status::Code::kNotFound);
}

TEST_F(S3StoreTest, ListsEveryPage) {
  // More keys than one ListObjectsV2 page (1000).
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next++) < 1005;) {
        char key[32];
        std::snprintf(key, sizeof(key), "k/%04d", i);
        EXPECT_OK(PutString(*store_, key, "v").status());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto list = store_->List("k/");
  ASSERT_OK(list.status());
  ASSERT_EQ(list->size(), 1005u);
  EXPECT_EQ(list->back().key, "k/1004");
}

TEST_F(S3StoreTest, RangedReads) {
  ASSERT_OK(PutString(*store_, "r", "0123456789").status());
  EXPECT_EQ(*GetString(*store_, "r", {3, 4}), "3456");
  EXPECT_EQ(*GetString(*store_, "r", {7, std::nullopt}), "789");
  EXPECT_EQ(GetString(*store_, "r", {20, 1}).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(S3StoreTest, MultipartUploadOf40MiB) {
  const std::string data = RandomBytes((40u << 20) + 12345, 7);
  BufferSource src(data);
  auto put = store_->Put("big.bin", src);
  ASSERT_OK(put.status());
  EXPECT_EQ(put->size, data.size());
  EXPECT_NE(put->etag.find('-'), std::string::npos) << put->etag;  // a multipart ETag
  EXPECT_EQ(store_->Head("big.bin")->etag, put->etag);
  auto back = GetString(*store_, "big.bin");
  ASSERT_OK(back.status());
  EXPECT_EQ(Sha256Hex(*back), Sha256Hex(data));
  EXPECT_EQ(*GetString(*store_, "big.bin", {(20u << 20) - 3, 6}), data.substr((20u << 20) - 3, 6));
  // Parallel ranged download into a file.
  testing::TempDir dir;
  auto info = store_->Download("big.bin", dir.File("big.bin"));
  ASSERT_OK(info.status());
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(Sha256Hex(*ReadFileToString(dir.File("big.bin"))), Sha256Hex(data));
  EXPECT_EQ(store_->Download("missing", dir.File("m")).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.File("m")));
}

TEST_F(S3StoreTest, MultipartUploadFromAFileAndFromAStream) {
  const std::string data = RandomBytes((17u << 20) + 999, 11);
  testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("f.bin"), data));
  auto file = FileSource::Open(dir.File("f.bin"));  // positional: parts read as they are sent
  ASSERT_OK(file.status());
  ASSERT_OK(store_->Put("from-file.bin", **file).status());
  EXPECT_EQ(Sha256Hex(*GetString(*store_, "from-file.bin")), Sha256Hex(data));
  StreamSource stream(data);  // not positional: parts read into memory one after another
  auto put = store_->Put("from-stream.bin", stream);
  ASSERT_OK(put.status());
  EXPECT_NE(put->etag.find('-'), std::string::npos) << put->etag;
  EXPECT_EQ(Sha256Hex(*GetString(*store_, "from-stream.bin")), Sha256Hex(data));
}

TEST_F(S3StoreTest, AFailedUploadLeavesNoObject) {
  BrokenPositionalSource positional(16u << 20, 7u << 20);  // fails in the second part
  auto failed = store_->Put("broken-positional", positional).status();
  EXPECT_EQ(failed.code(), Status::Code::kIOError) << failed.ToString();
  EXPECT_NE(failed.message().find("disk read error"), std::string::npos) << failed.ToString();
  EXPECT_EQ(store_->Head("broken-positional").status().code(), Status::Code::kNotFound);
  BrokenSource small(1000);
  EXPECT_EQ(store_->Put("broken-small", small).status().code(), Status::Code::kIOError);
  BrokenSource big(12u << 20);  // fails in the third part of a multipart upload
  auto st = store_->Put("broken-big", big).status();
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
  EXPECT_EQ(store_->Head("broken-small").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Head("broken-big").status().code(), Status::Code::kNotFound);
}

TEST_F(S3StoreTest, ConditionalPuts) {
  auto first = PutString(*store_, "v/1", "first", PutOptions::IfAbsent());
  ASSERT_OK(first.status());
  EXPECT_EQ(PutString(*store_, "v/1", "second", PutOptions::IfAbsent()).status().code(),
            Status::Code::kPreconditionFailed);
  EXPECT_EQ(*GetString(*store_, "v/1"), "first");
  EXPECT_EQ(PutString(*store_, "v/1", "x", PutOptions::IfMatch("0123")).status().code(),
            Status::Code::kPreconditionFailed);
  ASSERT_OK(PutString(*store_, "v/1", "third", PutOptions::IfMatch(first->etag)).status());
  EXPECT_EQ(*GetString(*store_, "v/1"), "third");
}

TEST_F(S3StoreTest, SixteenConcurrentCreatorsExactlyOneWins) {
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> won{0}, lost{0}, other{0};
    std::vector<std::thread> threads;
    const std::string key = "race/" + std::to_string(round);
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&, i] {
        auto r = PutString(*store_, key, "writer " + std::to_string(i), PutOptions::IfAbsent());
        if (r.ok()) {
          ++won;
        } else if (r.status().code() == Status::Code::kPreconditionFailed) {
          ++lost;
        } else {
          ++other;
          ADD_FAILURE() << r.status().ToString();
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won, 1);
    EXPECT_EQ(lost, 15);
  }
}

// The same rules on a bucket with versioning enabled, where Ceph RGW ignores If-None-Match and
// If-Match: cairn settles each conditional write by the key's object versions (the oldest wins).
TEST_F(S3StoreTest, ConditionalWritesHoldOnAVersionedBucket) {
  const std::string bucket = "cairn-vt-" + std::to_string(std::random_device{}() % 1000000);
  const std::string aws = std::string("/usr/bin/aws --endpoint-url ") +
                          std::getenv("CAIRN_TEST_S3_ENDPOINT") + " s3api ";
  ASSERT_EQ(std::system((aws + "create-bucket --bucket " + bucket + " >/dev/null").c_str()), 0);
  ASSERT_EQ(std::system((aws + "put-bucket-versioning --bucket " + bucket +
                         " --versioning-configuration Status=Enabled")
                            .c_str()),
            0);
  auto opened = OpenS3Store(bucket, "p", options_);
  ASSERT_OK(opened.status());
  ObjectStore& store = **opened;

  // Create-if-absent: one of 16 wins, every round; the losers' versions are gone.
  for (int round = 0; round < 2; ++round) {
    const std::string key = "race/" + std::to_string(round);
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&, i] {
        auto r = PutString(store, key, "writer " + std::to_string(i), PutOptions::IfAbsent());
        if (r.ok()) {
          ++won;
        } else {
          EXPECT_EQ(r.status().code(), Status::Code::kPreconditionFailed) << r.status().ToString();
          ++lost;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won, 1);
    EXPECT_EQ(lost, 15);
  }
  // Replace-if-unchanged: 8 threads add 5 to a counter each, by If-Match with retries; none of
  // the 40 increments is lost.
  ASSERT_OK(PutString(store, "counter", "0", PutOptions::IfAbsent()).status());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 5;) {
        auto head = store.Head("counter");
        auto value = GetString(store, "counter");
        if (!head.ok() || !value.ok()) continue;
        auto put = PutString(store, "counter", std::to_string(std::stoi(*value) + 1),
                             PutOptions::IfMatch(head->etag));
        if (put.ok()) {
          ++n;
        } else if (put.status().code() != Status::Code::kPreconditionFailed &&
                   put.status().code() != Status::Code::kTransient) {
          ADD_FAILURE() << put.status().ToString();
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*GetString(store, "counter"), "40");
  // If-Match on a key that does not exist fails; a delete removes the key, versions included,
  // and it can be created again.
  EXPECT_EQ(PutString(store, "none", "x", PutOptions::IfMatch("abc")).status().code(),
            Status::Code::kPreconditionFailed);
  EXPECT_EQ(store.Head("none").status().code(), Status::Code::kNotFound);
  auto last = store.Head("counter");
  ASSERT_OK(last.status());
  ASSERT_OK(store.Delete("counter"));
  EXPECT_EQ(store.Head("counter").status().code(), Status::Code::kNotFound);
  // A replace that comes after the delete (a late lease renewal, say) finds the key gone.
  EXPECT_EQ(PutString(store, "counter", "late", PutOptions::IfMatch(last->etag)).status().code(),
            Status::Code::kPreconditionFailed);
  EXPECT_EQ(store.Head("counter").status().code(), Status::Code::kNotFound);
  ASSERT_OK(PutString(store, "counter", "again", PutOptions::IfAbsent()).status());
  EXPECT_EQ(*GetString(store, "counter"), "again");
}

TEST_F(S3StoreTest, WrongSecretIsAccessDenied) {
  S3Options bad = options_;
  bad.credentials.secret_key = "not-the-secret";
  auto store = OpenS3Store(Bucket(), prefix_, bad);
  ASSERT_OK(store.status());
  auto st = PutString(**store, "x", "y").status();
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(st.message().find("SignatureDoesNotMatch"), std::string::npos) << st.message();
  EXPECT_EQ(store_->Head("x").status().code(), Status::Code::kNotFound);
}

TEST_F(S3StoreTest, UnreachableServerIsAClearTransientError) {
  S3Options gone = options_;
  gone.endpoint = "http://127.0.0.1:1";  // nothing listens there
  gone.max_attempts = 2;
  auto store = OpenS3Store(Bucket(), prefix_, gone);
  ASSERT_OK(store.status());
  auto st = store->get()->Head("x").status();
  EXPECT_EQ(st.code(), Status::Code::kTransient) << st.ToString();
}

TEST_F(S3StoreTest, RegistryOnS3) {
  testing::TempDir dir;
  const std::string data = RandomBytes(7u << 20, 11);
  std::filesystem::create_directories(dir.File("m/code"));
  ASSERT_OK(WriteFileAtomically(dir.File("m/model.pth"), data));
  ASSERT_OK(WriteFileAtomically(dir.File("m/code/inference.py"), "x = 1\n"));
  Registry registry(std::move(store_));
  // Eight publishers at once: versions 1..8, none lost, none doubled.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (!registry.Publish("s3-model", dir.File("m")).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  auto versions = registry.ListVersions("s3-model");
  ASSERT_OK(versions.status());
  ASSERT_EQ(versions->size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ((*versions)[i].version, i + 1);
  ASSERT_OK(registry.SetAlias("s3-model", "production", 8));
  ASSERT_OK(registry.SetAlias("s3-model", "production", 3));
  EXPECT_EQ(*registry.Rollback("s3-model", "production"), 8);
  ASSERT_OK(registry.Restore("s3-model@production", dir.File("restored")).status());
  EXPECT_EQ(Sha256Hex(*ReadFileToString(dir.File("restored/model.pth"))), Sha256Hex(data));
  auto in_memory = registry.ReadFile("s3-model:2", "model.pth");
  ASSERT_OK(in_memory.status());
  EXPECT_EQ((*in_memory)->size(), data.size());
}

}  // namespace
}  // namespace cairn
