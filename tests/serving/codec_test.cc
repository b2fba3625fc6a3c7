// Request bodies to arrays and back: JSON, CSV and NPY, and the bodies that must be refused.
#include "serving/codec.h"

#include <cstring>

#include "test_util.h"

namespace cairn::serving {
namespace {

TEST(Codec, JsonNestedListsAndRefusals) {
  auto a = DecodeBody("[[1, 2.5], [3, 4]]", "application/json");
  ASSERT_OK(a.status());
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->values, (std::vector<float>{1, 2.5, 3, 4}));
  EXPECT_EQ(DecodeBody("[[1, 2], [3]]", "application/json").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeBody("[[1, 2], 3]", "application/json").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeBody("{\"a\": 1}", "").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeBody("[1,", "application/json").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(DecodeBody("1", "image/png").status().code(), Status::Code::kUnsupported);
  std::string type;
  auto out = EncodeBody(*a, "text/html, application/json;q=0.9", &type);
  ASSERT_OK(out.status());
  EXPECT_EQ(type, "application/json");
  EXPECT_EQ(*out, "[[1.0,2.5],[3.0,4.0]]");
  EXPECT_EQ(EncodeBody(*a, "image/png", &type).status().code(), Status::Code::kUnsupported);
}

TEST(Codec, CsvRows) {
  auto a = DecodeBody("1,2,3\n4,5,6\n", "text/csv");
  ASSERT_OK(a.status());
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  auto one = DecodeBody("1, 2, 3", "text/csv");
  ASSERT_OK(one.status());
  EXPECT_EQ(one->shape, (std::vector<int64_t>{3}));
  EXPECT_FALSE(DecodeBody("1,2\n3\n", "text/csv").ok());
  EXPECT_FALSE(DecodeBody("1,x", "text/csv").ok());
  EXPECT_FALSE(DecodeBody("", "text/csv").ok());
  std::string type;
  EXPECT_EQ(*EncodeBody(*a, "text/csv", &type), "1,2,3\n4,5,6\n");
  // A 1-D answer is a column, one value a line, as numpy.savetxt (the toolkit's) writes it.
  EXPECT_EQ(*EncodeBody(*one, "text/csv", &type), "1\n2\n3\n");
  Array cube{{2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}};
  EXPECT_EQ(*EncodeBody(cube, "text/csv", &type), "1,2,3,4\n5,6,7,8\n");
}

TEST(Codec, NpyRoundTripAndHostileHeaders) {
  Array a{{2, 3}, {1, 2, 3, 4, 5, 6}};
  std::string type;
  auto npy = EncodeBody(a, "application/x-npy", &type);
  ASSERT_OK(npy.status());
  EXPECT_EQ((npy->size() - 6 * 4) % 64, 0u);  // header padded to 64 bytes, as numpy does
  auto back = DecodeBody(*npy, "application/x-npy");
  ASSERT_OK(back.status());
  EXPECT_EQ(back->shape, a.shape);
  EXPECT_EQ(back->values, a.values);
  std::string truncated = npy->substr(0, npy->size() - 1);
  EXPECT_FALSE(DecodeBody(truncated, "application/x-npy").ok());
  std::string pickled = *npy;
  pickled.replace(pickled.find("<f4"), 3, "|O8");
  EXPECT_FALSE(DecodeBody(pickled, "application/x-npy").ok());  // object arrays: never
  std::string huge = *npy;
  huge.replace(huge.find("(2, 3)"), 6, "(9999999999, 9)");
  EXPECT_FALSE(DecodeBody(huge, "application/x-npy").ok());
  huge = *npy;
  huge.replace(huge.find("(2, 3)"), 6, "(4294967296, 4294967296)");  // 2^64 wraps to 0 elements
  EXPECT_FALSE(DecodeBody(huge, "application/x-npy").ok());
  EXPECT_FALSE(DecodeBody("\x93NUMPY", "application/x-npy").ok());
  // Found by codec_fuzz: a ')' before the '(' and empty or non-numeric dimensions.
  for (const char* shape : {"'shape'2: ) (3,, }", "'shape': (3, x)", "'shape': (3, 1e3)"}) {
    std::string bad = *npy;
    const size_t at = bad.find("'shape': (2, 3)");
    bad.replace(at, std::strlen("'shape': (2, 3)"), shape);
    EXPECT_FALSE(DecodeBody(bad, "application/x-npy").ok()) << shape;
  }
  // Found by the fuzz corpus replay under UBSan: an empty array whose other dimensions multiply
  // past int64 (the CSV encoder's row length overflowed).
  auto empty = DecodeBody(*npy, "application/x-npy");
  ASSERT_TRUE(empty.ok());
  empty->shape = {0, 421115202777024, 149999999999};
  empty->values.clear();
  type.clear();
  auto csv = EncodeBody(*empty, "text/csv", &type);
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv, "");
}

}  // namespace
}  // namespace cairn::serving
