#include "cairn/formats/weights.h"

#include <cmath>

#include "formats/test_values.h"
#include "test_util.h"

namespace cairn {
namespace {

TEST(Weights, SafetensorsKeepsTheWholeCheckpoint) {
  testing::TempDir dir;
  Value root = testing::SampleCheckpoint();
  root.dict().Set(Value::String("nan"), Value::Float(NAN));
  ASSERT_OK(SaveWeights(dir.File("c.safetensors"), root, {{"owner", "team-a"}}));
  auto back = LoadWeights(dir.File("c.safetensors"));
  ASSERT_OK(back.status());
  EXPECT_EQ(back->format, WeightsFormat::kSafetensors);
  EXPECT_TRUE(DeepEqual(root, back->root));
  EXPECT_EQ(back->metadata, (std::vector<std::pair<std::string, std::string>>{
                                {"format", "pt"}, {"owner", "team-a"}}));
  // And on to PyTorch and back.
  ASSERT_OK(SaveWeights(dir.File("c.pth"), back->root));
  auto pt = LoadWeights(dir.File("c.pth"));
  ASSERT_OK(pt.status());
  EXPECT_EQ(pt->format, WeightsFormat::kPyTorch);
  EXPECT_TRUE(DeepEqual(root, pt->root));
}

TEST(Weights, FormatFromExtension) {
  EXPECT_EQ(*FormatForPath("a/model.safetensors"), WeightsFormat::kSafetensors);
  EXPECT_EQ(*FormatForPath("model.pth"), WeightsFormat::kPyTorch);
  EXPECT_EQ(*FormatForPath("pytorch_model.bin"), WeightsFormat::kPyTorch);
  EXPECT_FALSE(FormatForPath("model.onnx").ok());
  EXPECT_FALSE(FormatForPath(".pth").ok());
}

TEST(Weights, DiffFindsAddedRemovedAndChanged) {
  Value a = Value::Dict(true), b = Value::Dict(true);
  a.dict().Set(Value::String("same"), Value::FromTensor(testing::FloatTensor({3})));
  b.dict().Set(Value::String("same"), Value::FromTensor(testing::FloatTensor({3})));
  a.dict().Set(Value::String("moved"), Value::FromTensor(testing::FloatTensor({3})));
  b.dict().Set(Value::String("moved"), Value::FromTensor(testing::FloatTensor({3}, 0.25f)));
  a.dict().Set(Value::String("gone"), Value::FromTensor(testing::FloatTensor({1})));
  b.dict().Set(Value::String("new"), Value::FromTensor(testing::FloatTensor({1})));
  b.dict().Set(Value::String("reshaped"), Value::FromTensor(testing::FloatTensor({2})));
  a.dict().Set(Value::String("reshaped"), Value::FromTensor(testing::FloatTensor({1, 2})));
  auto d = DiffTensors(a, b);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].name, "moved");
  EXPECT_EQ(d[0].max_abs_diff, 0.25);
  // FloatTensor({3}) is 0, 1, 2 and the moved one 0.25, 1.25, 2.25: ||b-a|| / ||a|| =
  // sqrt(3 * 0.0625) / sqrt(5).
  EXPECT_NEAR(d[0].rel_l2, std::sqrt(3 * 0.0625) / std::sqrt(5.0), 1e-12);
  EXPECT_EQ(d[1].kind, TensorDiff::Kind::kRemoved);
  EXPECT_EQ(d[2].detail, "shape [1, 2] -> [2]");
  EXPECT_EQ(d[3].kind, TensorDiff::Kind::kAdded);
  EXPECT_TRUE(DiffTensors(a, a).empty());
}

}  // namespace
}  // namespace cairn
