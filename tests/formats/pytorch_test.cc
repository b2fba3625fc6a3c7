#include "cairn/formats/pytorch.h"

#include <random>

#include "formats/test_values.h"
#include "formats/zip.h"
#include "test_util.h"

namespace cairn {
namespace {

TEST(PyTorch, WriteThenReadGivesTheSameCheckpoint) {
  testing::TempDir dir;
  const std::string path = dir.File("model.pth");
  Value root = testing::SampleCheckpoint();
  ASSERT_OK(WritePyTorch(path, root));
  auto back = ReadPyTorch(path);
  ASSERT_OK(back.status());
  EXPECT_TRUE(DeepEqual(root, *back));
  // Views keep sharing one storage, which is borrowed from the mapped file (no copy).
  const DictData& model = back->dict().Find(Value::String("model"))->dict();
  auto storage = model.items[0].second.tensor().storage;
  EXPECT_EQ(storage, model.items[1].second.tensor().storage);
  auto file = MappedFile::Open(path);
  ASSERT_OK(file.status());
  EXPECT_NE(storage->owner, nullptr);
  // Every record's payload starts on a 64-byte boundary, under the file's base name.
  auto entries = zip::ReadDirectory(**file);
  ASSERT_OK(entries.status());
  ASSERT_EQ(entries->size(), 5u);  // data.pkl, 3 storages, version
  EXPECT_EQ((*entries)[0].name, "model/data.pkl");
  EXPECT_EQ(entries->back().name, "model/version");
  for (const auto& e : *entries) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
}

TEST(PyTorch, CorruptedFilesNeverCrash) {
  testing::TempDir dir;
  const std::string path = dir.File("model.pth");
  ASSERT_OK(WritePyTorch(path, testing::SampleCheckpoint()));
  std::string good = *ReadFileToString(path);
  std::mt19937 rng(42);
  const std::string bad = dir.File("bad.pth");
  int failures = 0;
  for (int i = 0; i < 400; ++i) {
    std::string b = good;
    if (i % 2) {
      b.resize(rng() % b.size());
    } else {
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    }
    ASSERT_OK(WriteFileAtomically(bad, b));
    auto r = ReadPyTorch(bad);
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    } else {
      for (const auto& nt : FlattenTensors(*r)) (void)nt.tensor->Sha256();  // touch every byte
    }
  }
  EXPECT_GT(failures, 200);
}

TEST(PyTorch, RefusesWhatItCannotRead) {
  testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("text.pth"), "hello, not a checkpoint"));
  EXPECT_EQ(ReadPyTorch(dir.File("text.pth")).status().code(), Status::Code::kCorrupt);
  EXPECT_EQ(ReadPyTorch(dir.File("missing.pth")).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace cairn
