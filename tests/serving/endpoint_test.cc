// The endpoint's refresh and swap (src/serving/endpoint.cc) over a real registry: it follows an
// alias, loads the new version beside the old one, swaps atomically, keeps a version alive while
// a request holds it, and keeps serving when a new version fails to load.
#include "cairn/serving/endpoint.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "cairn/core/file.h"
#include "test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

// Answers with the contents of the version's weights.txt; "broken" weights fail to load.
class EchoModel : public LoadedModel {
 public:
  explicit EchoModel(std::string text) : text_(std::move(text)) {}
  InvokeResponse Invoke(const InvokeRequest&) override {
    InvokeResponse r;
    r.body = text_;
    return r;
  }
  std::string kind() const override { return "native"; }

 private:
  std::string text_;
};

Result<std::shared_ptr<LoadedModel>> LoadEcho(const std::string& dir, const ServeOptions&) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/weights.txt"));
  if (text == "broken") return Status::Corrupt("weights.txt: cannot load 'broken'");
  return std::shared_ptr<LoadedModel>(std::make_shared<EchoModel>(text));
}

class EndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore(dir_.File("store"));
    ASSERT_OK(store.status());
    registry_ = std::make_unique<Registry>(std::move(*store));
  }
  int64_t Publish(const std::string& text) {
    const std::string d = dir_.File("model-" + std::to_string(++n_));
    fs::create_directories(d);
    EXPECT_OK(WriteFileAtomically(d + "/weights.txt", text));
    auto v = registry_->Publish("g", d);
    EXPECT_OK(v.status());
    return v.ok() ? v->version : -1;
  }
  static std::string Ask(const Endpoint& e) { return e.current()->model->Invoke({}).body; }

  testing::TempDir dir_;
  std::unique_ptr<Registry> registry_;
  int n_ = 0;
};

TEST_F(EndpointTest, FollowsTheAliasAndSwapsWhileHeldVersionsStayAlive) {
  ASSERT_OK(registry_->SetAlias("g", "production", Publish("one")));
  Endpoint e(*registry_, "g@production", {}, LoadEcho, dir_.File("work"));
  EXPECT_EQ(e.current(), nullptr);
  ASSERT_OK(e.Start());
  EXPECT_EQ(e.current()->ref, "g:1");
  EXPECT_EQ(Ask(e), "one");
  EXPECT_FALSE(e.Refresh());  // nothing moved

  auto held = e.current();  // a request in flight on version 1
  const std::string old_dir = held->dir;
  ASSERT_TRUE(fs::exists(old_dir));
  ASSERT_OK(registry_->SetAlias("g", "production", Publish("two")));
  EXPECT_TRUE(e.Refresh());
  EXPECT_EQ(e.current()->ref, "g:2");
  EXPECT_EQ(Ask(e), "two");
  EXPECT_EQ(held->model->Invoke({}).body, "one");  // still answers on the old version
  EXPECT_TRUE(fs::exists(old_dir));
  held.reset();  // the last request on version 1 is done: its files go
  EXPECT_FALSE(fs::exists(old_dir));
  EXPECT_EQ(e.swaps(), 1u);

  ASSERT_OK(registry_->Rollback("g", "production").status());
  EXPECT_TRUE(e.Refresh());
  EXPECT_EQ(Ask(e), "one");
}

TEST_F(EndpointTest, AVersionThatFailsToLoadLeavesTheOldOneServing) {
  Publish("one");
  Endpoint e(*registry_, "g:latest", {}, LoadEcho, dir_.File("work"));
  ASSERT_OK(e.Start());
  Publish("broken");
  EXPECT_FALSE(e.Refresh());
  EXPECT_EQ(e.current()->ref, "g:1");
  EXPECT_EQ(Ask(e), "one");
  const std::string models = e.ModelsJson();
  EXPECT_NE(models.find("g:2"), std::string::npos) << models;
  EXPECT_NE(models.find("cannot load 'broken'"), std::string::npos) << models;
  EXPECT_FALSE(e.Refresh());  // a failed version is not retried on every poll
  Publish("three");
  EXPECT_TRUE(e.Refresh());
  EXPECT_EQ(Ask(e), "three");
  // An endpoint whose first version cannot load does not start.
  Publish("broken");
  Endpoint bad(*registry_, "g:latest", {}, LoadEcho, dir_.File("work2"));
  EXPECT_EQ(bad.Start().code(), Status::Code::kCorrupt);
  EXPECT_EQ(bad.current(), nullptr);
}

TEST_F(EndpointTest, RequestsDuringSwapsAlwaysFindAVersion) {
  ASSERT_OK(registry_->SetAlias("g", "production", Publish("a")));
  Publish("b");
  Endpoint e(*registry_, "g@production", {}, LoadEcho, dir_.File("work"));
  ASSERT_OK(e.Start());
  std::atomic<bool> done{false};
  std::atomic<int> answers{0}, wrong{0};
  std::thread client([&] {
    while (!done) {
      auto v = e.current();
      const std::string body = v ? v->model->Invoke({}).body : "";
      (body == "a" || body == "b") ? ++answers : ++wrong;
    }
  });
  for (int i = 0; i < 6; ++i) {  // EXPECT, not ASSERT: the client thread must be joined
    EXPECT_OK(registry_->SetAlias("g", "production", i % 2 == 0 ? 2 : 1));
    EXPECT_TRUE(e.Refresh());
  }
  done = true;
  client.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(answers.load(), 0);
  EXPECT_EQ(e.swaps(), 6u);
}

}  // namespace
}  // namespace cairn
