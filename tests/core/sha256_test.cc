#include "cairn/core/sha256.h"

#include <string>

#include "test_util.h"

namespace cairn {
namespace {

// FIPS 180-2 examples.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(a);
  EXPECT_EQ(ToHex(h.Finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data.push_back(static_cast<char>(i * 7));
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 333) h.Update(data.substr(i, 333));
  EXPECT_EQ(ToHex(h.Finish()), Sha256Hex(data));
}

TEST(Hex, Lowercase) {
  const unsigned char b[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(ToHex(b, 4), "000fa0ff");
}

}  // namespace
}  // namespace cairn
