// The version index: a listing answers from index pages, stays right when a page is damaged,
// and equals the one-at-a-time listing.
#include <cstdlib>
#include <filesystem>

#include "cairn/core/file.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "test_util.h"

namespace cairn {
namespace {

std::string Summary(const std::vector<VersionInfo>& vs) {
  std::string s;
  for (const auto& v : vs) {
    s += v.ref() + " " + std::string(ApprovalName(v.approval)) + " [";
    for (const auto& a : v.aliases) s += a + ",";
    s += "] " + v.description + " " + std::to_string(v.files.size()) + "\n";
  }
  return s;
}

TEST(RegistryListing, IndexPagesAnswerAndADamagedPageCostsOnlyReads) {
  testing::TempDir dir;
  auto store = OpenStore(dir.File("store"));
  ASSERT_TRUE(store.ok());
  Registry registry(std::move(store).value());
  const std::string model = dir.File("model");
  std::filesystem::create_directories(model);
  ASSERT_TRUE(WriteFileAtomically(model + "/weights.bin", "same bytes each time").ok());
  const int64_t n = 2 * layout::kIndexPageSize + 7;
  for (int64_t i = 1; i <= n; ++i) {
    PublishOptions o;
    o.description = "v" + std::to_string(i);
    ASSERT_TRUE(registry.Publish("g", model, o).ok());
  }
  // The publishers of versions 100 and 200 wrote their pages.
  EXPECT_TRUE(registry.store().Head(layout::IndexPageKey("g", 0)).ok());
  EXPECT_TRUE(registry.store().Head(layout::IndexPageKey("g", 1)).ok());
  // A lister writes a page nobody wrote (here: one deleted).
  ASSERT_TRUE(registry.store().Delete(layout::IndexPageKey("g", 1)).ok());
  ASSERT_TRUE(registry.SetAlias("g", "prod", 5).ok());
  ASSERT_TRUE(registry.SetAlias("g", "prod", 150).ok());
  ASSERT_TRUE(registry.SetAlias("g", "canary", 207).ok());
  ASSERT_TRUE(registry.Rollback("g", "prod").ok());  // back to 5
  ASSERT_TRUE(registry.SetApproval("g:150", Approval::kApproved).ok());
  ASSERT_TRUE(registry.SetApproval("g:150", Approval::kRejected).ok());
  ASSERT_TRUE(registry.SetApproval("g:3", Approval::kApproved).ok());

  ::setenv("CAIRN_REGISTRY_INDEX", "off", 1);
  auto one_by_one = registry.ListVersions("g");
  ::unsetenv("CAIRN_REGISTRY_INDEX");
  ASSERT_TRUE(one_by_one.ok());
  auto first = registry.ListVersions("g");  // writes pages 0 and 1 (versions 1..200)
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Summary(*first), Summary(*one_by_one));
  ASSERT_EQ(first->size(), static_cast<size_t>(n));
  EXPECT_EQ((*first)[4].aliases, std::vector<std::string>{"prod"});
  EXPECT_EQ((*first)[206].aliases, std::vector<std::string>{"canary"});
  EXPECT_EQ((*first)[149].approval, Approval::kRejected);
  EXPECT_EQ((*first)[2].approval, Approval::kApproved);
  EXPECT_TRUE(registry.store().Head(layout::IndexPageKey("g", 0)).ok());
  EXPECT_TRUE(registry.store().Head(layout::IndexPageKey("g", 1)).ok());
  EXPECT_FALSE(registry.store().Head(layout::IndexPageKey("g", 2)).ok());  // 201..207 only

  auto second = registry.ListVersions("g");  // from the pages
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Summary(*second), Summary(*one_by_one));
  // A damaged page is read around, not believed.
  ASSERT_TRUE(PutString(registry.store(), layout::IndexPageKey("g", 1), "[\"junk\"]").ok());
  auto third = registry.ListVersions("g");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(Summary(*third), Summary(*one_by_one));
  // A page of the right shape whose manifests are another page's: each is checked, none taken.
  auto page0 = GetString(registry.store(), layout::IndexPageKey("g", 0));
  ASSERT_TRUE(page0.ok());
  ASSERT_TRUE(PutString(registry.store(), layout::IndexPageKey("g", 1), *page0).ok());
  auto fourth = registry.ListVersions("g");
  ASSERT_TRUE(fourth.ok()) << fourth.status().ToString();
  EXPECT_EQ(Summary(*fourth), Summary(*one_by_one));
}

}  // namespace
}  // namespace cairn
