// Helpers shared by the C++ tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cairn/core/status.h"

#define ASSERT_OK(expr)                      \
  do {                                       \
    const ::cairn::Status _st = (expr);      \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                      \
  do {                                       \
    const ::cairn::Status _st = (expr);      \
    EXPECT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)

namespace cairn::testing {

// A fresh directory under $TMPDIR, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace cairn::testing
