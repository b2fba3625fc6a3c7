#include <chrono>
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

// Found by the pickle_fuzz campaign (fuzz/findings/pickle-hashkey-timeout, > 10 s): a dict key
// made of memo-shared tuples, each level (t, t) of the one before, is 2^depth leaves as a tree.
// Hashing it must cost the number of distinct tuples, not the size of the tree.
TEST(Unpickle, MemoSharedNestedTuplesAreCheckedInLinearTime) {
  auto nested = [](int depth) {
    std::string p = "\x80\x02}K\x01\x85q\x00"s;  // PROTO 2, EMPTY_DICT, t0 = (1,), memo[0]
    for (int i = 0; i < depth; ++i) p += "h\x00\x86q\x00"s;  // memo[0] = (memo[0], memo[0])
    return p + "Ns."s;                                       // d[t_depth] = None
  };
  // 21 levels: 6 million values expanded, accepted; 23 (25 million) and 200 refused at once.
  // Every walk of the reader visits each distinct container once, so all three take
  // milliseconds (a walk of the expanded tree took 9 s for 20 levels under ASan).
  const auto started = std::chrono::steady_clock::now();
  auto accepted = Load(nested(21));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  for (int depth : {23, 200}) {
    auto huge = Load(nested(depth));
    EXPECT_EQ(huge.status().code(), Status::Code::kUnsupported) << depth;
    EXPECT_NE(huge.status().message().find("expanded"), std::string::npos)
        << huge.status().ToString();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  // The dict key is hashed once per distinct tuple (HashKey caches it).
  auto r = Load(nested(20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->dict().items.size(), 1u);
  // Equal tuples built apart share a key; a different leaf changes it.
  auto chain = [](int64_t leaf, int depth) {
    Value t = Value::Tuple({Value::Int(leaf)});
    for (int i = 0; i < depth; ++i) t = Value::Tuple({t, t});
    return t;
  };
  EXPECT_EQ(r->dict().items[0].first.HashKey(), chain(1, 20).HashKey());
  EXPECT_NE(chain(1, 200).HashKey(), "");  // 2^200 leaves as a tree: hashed per distinct tuple
  EXPECT_NE(chain(1, 200).HashKey(), chain(2, 200).HashKey());
  EXPECT_NE(chain(1, 3).HashKey(), chain(1, 4).HashKey());
  EXPECT_NE(Value::Tuple({Value::String("ab")}).HashKey(),
            Value::Tuple({Value::String("a"), Value::String("b")}).HashKey());
  EXPECT_EQ(Value::Tuple({Value::List({})}).HashKey(), "");  // a list inside: unhashable
}

// Found by the pickle_fuzz campaign of 2026-11-30 (a stack overflow in HashKey): a dict key of
// 100,000 nested TUPLE1s. Refused with an error, before ValidateTree's depth rule.
TEST(Unpickle, DeeplyNestedTupleKeyIsAnErrorNotAStackOverflow) {
  std::string p = "\x80\x02}K\x01"s + std::string(100'000, '\x85') + "Ns."s;
  auto r = Load(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unhashable dict key"), std::string::npos)
      << r.status().ToString();
  auto ok = Load("\x80\x02}K\x01"s + std::string(100, '\x85') + "Ns."s);  // 100: fine
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

}  // namespace
}  // namespace cairn
