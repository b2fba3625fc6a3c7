#include <limits>
#include <string>

#include "formats/pickle.h"
#include "formats/test_values.h"
#include "test_util.h"

namespace cairn {
namespace {

using namespace std::string_literals;

Result<Value> Load(const std::string& p) {
  pickle::StorageLoader none = [](DType, const std::string& key, int64_t) {
    return Result<std::shared_ptr<const Storage>>(Status::NotFound("storage " + key));
  };
  return pickle::Unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), none);
}

TEST(Unpickle, RefusesOsSystemWithoutRunningIt) {
  // cposix\nsystem\n (X 'touch x') TUPLE1 REDUCE STOP
  std::string p =
      "\x80\x02"
      "cposix\nsystem\nX\x07\x00\x00\x00touch x\x85R."s;
  auto r = Load(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnsafe);
  EXPECT_NE(r.status().message().find("'posix.system'"), std::string::npos);
}

TEST(Unpickle, RefusesStackGlobalAndInst) {
  auto r = Load(
      "\x80\x04\x8c\x08"
      "builtins\x8c\x04"
      "eval\x93."s);
  EXPECT_EQ(r.status().code(), Status::Code::kUnsafe) << r.status().ToString();
  EXPECT_NE(r.status().message().find("builtins.eval"), std::string::npos);
  auto inst = Load("(ios\nsystem\n.");
  EXPECT_EQ(inst.status().code(), Status::Code::kUnsafe);
  EXPECT_NE(inst.status().message().find("'os.system'"), std::string::npos);
  EXPECT_EQ(Load("\x80\x02\x82\x01."s).status().code(), Status::Code::kUnsafe);  // EXT1
}

TEST(Unpickle, PlainValues) {
  // {'a': [1, -2, 3.5, None, True], 'b': ('x',)} built with protocol-2 opcodes
  std::string p =
      "\x80\x02}(X\x01\x00\x00\x00"
      "a](K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00N\x88"
      "eX\x01\x00\x00\x00"
      "bX\x01\x00\x00\x00x\x85u."s;
  auto r = Load(p);
  ASSERT_OK(r.status());
  const Value& v = *r;
  ASSERT_TRUE(v.is_dict());
  const Value* a = v.dict().Find(Value::String("a"));
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->list().items.size(), 5u);
  EXPECT_EQ(a->list().items[1].as_int(), -2);
  EXPECT_EQ(a->list().items[2].as_float(), 3.5);
  EXPECT_TRUE(a->list().items[3].is_none());
  EXPECT_EQ(v.dict().Find(Value::String("b"))->tuple().items[0].as_string(), "x");
}

TEST(Unpickle, RefusesCycles) {
  // l = []; l.append(l)
  auto r = Load(
      "\x80\x02]q\x00h\x00"
      "a."s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("contains itself"), std::string::npos);
}

TEST(Unpickle, DeepNestingFailsWithoutCrashing) {
  const int n = 200000;
  std::string p = "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  auto r = Load(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested"), std::string::npos);
}

TEST(Unpickle, MemoExpansionIsBounded) {
  // One 1 MiB string memoized, then fetched 100000 times: 100 GB if copied naively.
  std::string p = "\x80\x02(X";
  uint32_t len = 1 << 20;
  p.append(reinterpret_cast<const char*>(&len), 4);
  p.append(len, 's');
  p += std::string("q\x00", 2);
  for (int i = 0; i < 100000; ++i) p += std::string("h\x00", 2);
  p += "l.";
  auto r = Load(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expands"), std::string::npos);
}

TEST(Unpickle, EveryTruncationIsAnError) {
  std::vector<std::shared_ptr<const Storage>> storages;
  auto p = pickle::Pickle(testing::SampleCheckpoint(), &storages);
  ASSERT_OK(p.status());
  for (size_t n = 0; n < p->size(); ++n) {
    EXPECT_FALSE(Load(p->substr(0, n)).ok()) << n;
  }
}

TEST(Pickle, RoundTripKeepsStructureAndSharing) {
  Value root = testing::SampleCheckpoint();
  std::vector<std::shared_ptr<const Storage>> storages;
  auto p = pickle::Pickle(root, &storages);
  ASSERT_OK(p.status());
  EXPECT_EQ(storages.size(), 3u);  // w (shared by 3 views), param, opt state
  pickle::StorageLoader load = [&](DType dt, const std::string& key, int64_t numel) {
    size_t i = std::stoul(key);
    EXPECT_EQ(storages[i]->dtype, dt);
    EXPECT_EQ(static_cast<int64_t>(storages[i]->numel()), numel);
    return Result<std::shared_ptr<const Storage>>(storages[i]);
  };
  auto back = pickle::Unpickle(reinterpret_cast<const uint8_t*>(p->data()), p->size(), load);
  ASSERT_OK(back.status());
  EXPECT_TRUE(DeepEqual(root, *back));
  const DictData& model = back->dict().Find(Value::String("model"))->dict();
  EXPECT_EQ(model.items[0].second.tensor().storage, model.items[1].second.tensor().storage);
  EXPECT_EQ(model.items[1].second.tensor().strides, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(model.items[2].second.tensor().storage_offset, 3);
  EXPECT_TRUE(model.items[3].second.tensor().is_parameter);
  ASSERT_EQ(model.attrs.size(), 1u);
  EXPECT_EQ(model.attrs[0].first, "_metadata");
}

TEST(Pickle, IntegersAtEveryEncodingBoundary) {
  const int64_t values[] = {0,
                            255,
                            256,
                            65535,
                            65536,
                            -1,
                            std::numeric_limits<int32_t>::min(),
                            int64_t{std::numeric_limits<int32_t>::max()} + 1,
                            -(int64_t{1} << 40),
                            std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(),
                            128,
                            -129};
  std::vector<Value> items;
  for (int64_t v : values) items.push_back(Value::Int(v));
  std::vector<std::shared_ptr<const Storage>> storages;
  auto p = pickle::Pickle(Value::List(items), &storages);
  ASSERT_OK(p.status());
  auto back = Load(*p);
  ASSERT_OK(back.status());
  for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(back->list().items[i].as_int(), values[i]);
}

}  // namespace
}  // namespace cairn
