#include "cairn/storage/sigv4.h"

#include "cairn/core/sha256.h"
#include "test_util.h"

namespace cairn::sigv4 {
namespace {

constexpr std::time_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z
const Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             ""};
const std::string kEmptySha = Sha256Hex("");

// AWS's S3 documentation, "Example: GET Object" (sig-v4-header-based-auth).
TEST(SigV4, S3GetObjectExample) {
  Request r{"GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            {},
            {{"Range", "bytes=0-9"}, {"x-amz-content-sha256", kEmptySha}},
            kEmptySha};
  Signature s = Sign(r, kS3Example, "us-east-1", "s3", k20130524);
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                kEmptySha +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmptySha);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// The same page's "GET Bucket Lifecycle" and "Get Bucket (List Objects)" examples.
TEST(SigV4, S3QueryExamples) {
  Request lifecycle{"GET",
                    "examplebucket.s3.amazonaws.com",
                    "/",
                    {{"lifecycle", ""}},
                    {{"x-amz-content-sha256", kEmptySha}},
                    kEmptySha};
  EXPECT_EQ(Sign(lifecycle, kS3Example, "us-east-1", "s3", k20130524).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  Request list{"GET",
               "examplebucket.s3.amazonaws.com",
               "/",
               {{"prefix", "J"}, {"max-keys", "2"}},
               {{"x-amz-content-sha256", kEmptySha}},
               kEmptySha};
  EXPECT_EQ(Sign(list, kS3Example, "us-east-1", "s3", k20130524).signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// AWS's Signature Version 4 test suite, "get-vanilla".
TEST(SigV4, TestSuiteGetVanilla) {
  Credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  Request r{"GET", "example.amazonaws.com", "/", {}, {}, kEmptySha};
  Signature s = Sign(r, c, "us-east-1", "service", 1440938160);  // 2015-08-30T12:36:00Z
  EXPECT_EQ(s.amz_date, "20150830T123600Z");
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, UriEncoding) {
  EXPECT_EQ(UriEncode("/a b/c~d.e_f-g/日", true), "/a%20b/c~d.e_f-g/%E6%97%A5");
  EXPECT_EQ(UriEncode("a/b+c=d", false), "a%2Fb%2Bc%3Dd");
}

TEST(SigV4, SessionTokenIsSigned) {
  Credentials c = kS3Example;
  c.session_token = "token";
  Request r{"GET", "h", "/", {}, {}, "UNSIGNED-PAYLOAD"};
  Signature s = Sign(r, c, "us-east-1", "s3", k20130524);
  EXPECT_NE(s.canonical_request.find("x-amz-security-token:token\n"), std::string::npos);
  EXPECT_NE(s.authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::sigv4
