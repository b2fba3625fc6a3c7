#include "cairn/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "formats/test_values.h"
#include "test_util.h"

namespace cairn {
namespace {

TEST(Safetensors, RoundTripAlignsEveryTensor) {
  testing::TempDir dir;
  const std::string path = dir.File("m.safetensors");
  Tensor f = testing::FloatTensor({2, 3});
  auto byte = Tensor::FromBytes(DType::kU8, {3}, {1, 2, 3});
  auto i64 = Tensor::FromBytes(DType::kI64, {1}, std::vector<uint8_t>(8, 0xff));
  ASSERT_OK(byte.status());
  ASSERT_OK(i64.status());
  std::vector<NamedTensor> in = {
      {"byte", std::make_shared<Tensor>(*byte)},
      {"f_t", std::make_shared<Tensor>(testing::View(f, {3, 2}, {1, 3}, 0))},
      {"i64", std::make_shared<Tensor>(*i64)},
      {"empty", std::make_shared<Tensor>(testing::FloatTensor({0}))},
  };
  ASSERT_OK(WriteSafetensors(path, in, {{"format", "pt"}, {"note", "héllo"}}));
  auto back = ReadSafetensors(path);
  ASSERT_OK(back.status());
  ASSERT_EQ(back->tensors.size(), 4u);
  EXPECT_EQ(back->metadata, (std::vector<std::pair<std::string, std::string>>{{"format", "pt"},
                                                                              {"note", "héllo"}}));
  auto file = MappedFile::Open(path);
  const uint8_t* base = (*file)->data();
  for (const auto& nt : back->tensors) {
    auto src = std::find_if(in.begin(), in.end(), [&](auto& x) { return x.name == nt.name; });
    ASSERT_NE(src, in.end());
    EXPECT_EQ(nt.tensor->shape, src->tensor->shape);
    EXPECT_EQ(nt.tensor->Sha256(), src->tensor->Sha256()) << nt.name;
    EXPECT_TRUE(nt.tensor->is_contiguous());
    // The read is zero-copy and naturally aligned in the file.
    size_t off = nt.tensor->storage->data - base;
    EXPECT_EQ(off % DTypeSize(nt.tensor->dtype), 0u) << nt.name;
  }
  EXPECT_EQ(back->tensors[0].name, "i64");  // widest dtype first
}

TEST(Safetensors, WriterRefusesDuplicateNames) {
  testing::TempDir dir;
  auto t = std::make_shared<Tensor>(testing::FloatTensor({1}));
  auto st = WriteSafetensors(dir.File("d.safetensors"), {{"a", t}, {"a", t}}, {});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.File("d.safetensors")));
}

TEST(Safetensors, ReaderChecksTheHeader) {
  testing::TempDir dir;
  auto write = [&](const std::string& header, const std::string& buffer) {
    std::string f(8, '\0');
    uint64_t n = header.size();
    std::memcpy(f.data(), &n, 8);
    EXPECT_OK(WriteFileAtomically(dir.File("x.safetensors"), f + header + buffer));
    return ReadSafetensors(dir.File("x.safetensors")).status();
  };
  EXPECT_OK(write(R"({"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                  std::string("\x01\x00", 2)));
  EXPECT_OK(write("{}", ""));
  EXPECT_FALSE(write("{not json", "").ok());
  EXPECT_FALSE(write("[]", "").ok());
  EXPECT_FALSE(write(R"({"a":{"dtype":"F32","shape":[2]}})", "").ok());
  EXPECT_FALSE(write(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "abcd").ok());
  EXPECT_FALSE(write(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "abcd").ok());
}

}  // namespace
}  // namespace cairn
