#include "cairn/formats/tensor.h"

#include <cmath>

#include "formats/test_values.h"
#include "test_util.h"

namespace cairn {
namespace {

using testing::FloatTensor;
using testing::View;

std::vector<float> Floats(const Tensor& t) {
  auto b = t.ContiguousBytes();
  std::vector<float> out(b.size() / 4);
  std::memcpy(out.data(), b.data(), b.size());
  return out;
}

TEST(Tensor, ContiguousStridesAndViews) {
  Tensor t = FloatTensor({2, 3});
  EXPECT_EQ(t.strides, (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(t.is_contiguous());
  Tensor tr = View(t, {3, 2}, {1, 3}, 0);
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(Floats(tr), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor col = View(t, {2}, {3}, 1);
  EXPECT_EQ(Floats(col), (std::vector<float>{1, 4}));
  Tensor bcast = View(t, {2, 3}, {0, 1}, 3);  // stride 0: a row repeated
  EXPECT_EQ(Floats(bcast), (std::vector<float>{3, 4, 5, 3, 4, 5}));
  EXPECT_EQ(Tensor::ContiguousStrides({2, 0, 3}), (std::vector<int64_t>{3, 3, 1}));
}

TEST(Tensor, ShaOfViewEqualsShaOfItsContiguousCopy) {
  Tensor t = FloatTensor({4, 5});
  Tensor tr = View(t, {5, 4}, {1, 5}, 0);
  auto copy = Tensor::FromBytes(DType::kF32, {5, 4}, tr.ContiguousBytes());
  ASSERT_OK(copy.status());
  EXPECT_EQ(tr.Sha256(), copy->Sha256());
  EXPECT_NE(tr.Sha256(), t.Sha256());
}

TEST(Tensor, ValidateRejectsViewsOutsideTheStorage) {
  Tensor t = FloatTensor({6});
  EXPECT_OK(View(t, {2, 3}, {3, 1}, 0).Validate());
  EXPECT_FALSE(View(t, {2, 3}, {3, 1}, 1).Validate().ok());
  EXPECT_FALSE(View(t, {7}, {1}, 0).Validate().ok());
  EXPECT_FALSE(View(t, {-1}, {1}, 0).Validate().ok());
  EXPECT_FALSE(View(t, {2}, {1}, -1).Validate().ok());
  EXPECT_FALSE(View(t, {int64_t{1} << 62, 4}, {1, 1}, 0).Validate().ok());
  EXPECT_FALSE(View(t, {2, 2}, {int64_t{1} << 62, 1}, 0).Validate().ok());
  EXPECT_OK(View(t, {0, 100}, {100, 1}, 6).Validate());  // empty views touch nothing
  EXPECT_OK(View(t, {}, {}, 5).Validate());              // a 0-dim view of the last element
  EXPECT_FALSE(View(t, {}, {}, 6).Validate().ok());
}

TEST(Tensor, HalfAndBFloat16) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xc0a0), -5.0f);
}

}  // namespace
}  // namespace cairn
