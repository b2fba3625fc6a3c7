#include "cairn/core/file.h"

#include <filesystem>

#include "cairn/core/parallel.h"
#include "test_util.h"

namespace cairn {
namespace {

TEST(AtomicFileWriter, NothingAppearsUntilCommit) {
  testing::TempDir dir;
  const std::string path = dir.File("out.bin");
  {
    auto w = AtomicFileWriter::Create(path);
    ASSERT_OK(w.status());
    ASSERT_OK((*w)->Append("hello"));
    EXPECT_FALSE(std::filesystem::exists(path));
  }  // dropped without Commit: no file, no temporary left behind
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));

  auto w = AtomicFileWriter::Create(path);
  ASSERT_OK(w.status());
  ASSERT_OK((*w)->WriteAt(5, "world", 5));
  ASSERT_OK((*w)->Append("hello"));
  (*w)->Seek(12);  // a tail that is only skipped over still counts
  ASSERT_OK((*w)->Commit());
  auto back = ReadFileToString(path);
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, std::string("helloworld\0\0", 12));
}

TEST(AtomicFileWriter, ReplacesExistingFileWhole) {
  testing::TempDir dir;
  const std::string path = dir.File("f");
  ASSERT_OK(WriteFileAtomically(path, "old contents"));
  ASSERT_OK(WriteFileAtomically(path, "new"));
  EXPECT_EQ(*ReadFileToString(path), "new");
}

TEST(MappedFile, MapsAndReportsErrors) {
  testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("a"), "abc"));
  ASSERT_OK(WriteFileAtomically(dir.File("empty"), ""));
  auto m = MappedFile::Open(dir.File("a"));
  ASSERT_OK(m.status());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*m)->data()), (*m)->size()), "abc");
  auto e = MappedFile::Open(dir.File("empty"));
  ASSERT_OK(e.status());
  EXPECT_EQ((*e)->size(), 0u);
  EXPECT_EQ(MappedFile::Open(dir.File("missing")).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(MappedFile::Open(dir.path()).status().code(), Status::Code::kInvalidArgument);
}

TEST(ParallelFor, RunsEveryIndexAndReportsFirstError) {
  std::vector<int> hits(1000, 0);
  ASSERT_OK(ParallelFor(
      hits.size(),
      [&](size_t i) {
        hits[i]++;
        return Status::OK();
      },
      4));
  for (int h : hits) EXPECT_EQ(h, 1);
  Status st = ParallelFor(
      100,
      [](size_t i) {
        return i >= 10 ? Status::IOError("fail " + std::to_string(i)) : Status::OK();
      },
      1);
  EXPECT_EQ(st.message(), "fail 10");
}

}  // namespace
}  // namespace cairn
