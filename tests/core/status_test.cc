#include "cairn/core/status.h"

#include <cerrno>

#include "test_util.h"

namespace cairn {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  CAIRN_ASSIGN_OR_RETURN(int h, Half(x));
  CAIRN_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  CAIRN_RETURN_IF_ERROR(Half(x).status());
  return Status::OK();
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status::OK().ToString(), "OK");
  Status s = Status::NotFound("model.pth");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.ToString(), "not found: model.pth");
  EXPECT_EQ(s.WithContext("load").message(), "load: model.pth");
  EXPECT_EQ(s.WithContext("load").code(), Status::Code::kNotFound);
}

TEST(Status, FromErrnoMapsCodes) {
  EXPECT_EQ(Status::FromErrno("f", ENOENT).code(), Status::Code::kNotFound);
  EXPECT_EQ(Status::FromErrno("f", EACCES).code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(Status::FromErrno("f", EEXIST).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(Status::FromErrno("f", EIO).code(), Status::Code::kIOError);
  EXPECT_EQ(Status::FromErrno("f", ENOENT).message(), "f: No such file or directory");
}

TEST(Result, ValueOrStatusAndMacros) {
  auto q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
