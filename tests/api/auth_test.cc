// cairn server's SigV4 check (src/api/auth.cc) against requests signed with the signer the S3
// client uses, then altered one way at a time.
#include "api/auth.h"

#include "cairn/core/sha256.h"
#include "cairn/storage/sigv4.h"
#include "test_util.h"

namespace cairn::api {
namespace {

constexpr std::time_t kNow = 1764460800;  // 2025-11-30T00:00:00Z
const std::map<std::string, std::string> kKeys = {{"AKID", "secret"}};

// A SageMaker call as boto3 signs it: host, x-amz-date and the JSON headers signed.
net::HttpRequest Make(std::time_t at, const std::string& region = "us-east-1",
                      const std::string& service = "sagemaker",
                      const std::string& secret = "secret") {
  net::HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.body = R"({"ModelName": "m"})";
  sigv4::Request r;
  r.method = req.method;
  r.host = "127.0.0.1:8770";
  r.path = "/";
  r.headers = {{"content-type", "application/x-amz-json-1.1"},
               {"x-amz-target", "SageMaker.DescribeModel"}};
  r.payload_sha256 = Sha256Hex(req.body);
  const sigv4::Signature sig = sigv4::Sign(r, {"AKID", secret, ""}, region, service, at);
  req.headers = {{"host", r.host},
                 {"x-amz-date", sig.amz_date},
                 {"content-type", "application/x-amz-json-1.1"},
                 {"x-amz-target", "SageMaker.DescribeModel"},
                 {"authorization", sig.authorization}};
  return req;
}

AuthError Verify(const net::HttpRequest& req) {
  return VerifySigV4(req, kKeys, "us-east-1", {"sagemaker"}, kNow);
}

void Set(net::HttpRequest& req, const std::string& name, const std::string& value) {
  for (auto& [k, v] : req.headers)
    if (k == name) v = value;
}

TEST(SigV4Check, AnAuthenticRequestPasses) {
  const AuthError e = Verify(Make(kNow));
  EXPECT_EQ(e.code, "") << e.message;
  EXPECT_EQ(Verify(Make(kNow - 14 * 60)).code, "");  // clocks may differ by up to 15 minutes
}

TEST(SigV4Check, ExpiredAndFutureDatesAreRefused) {
  for (std::time_t at : {kNow - 16 * 60, kNow + 16 * 60, kNow - 86400}) {
    const AuthError e = Verify(Make(at));
    EXPECT_EQ(e.code, "InvalidSignatureException") << at;
    EXPECT_EQ(e.http_status, 403);
    EXPECT_NE(e.message.find("Signature expired"), std::string::npos) << e.message;
  }
}

TEST(SigV4Check, AnotherRegionOrServiceIsRefused) {
  AuthError e = Verify(Make(kNow, "eu-west-1"));
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_NE(e.message.find("region"), std::string::npos) << e.message;
  e = Verify(Make(kNow, "us-east-1", "s3"));
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_NE(e.message.find("service"), std::string::npos) << e.message;
}

TEST(SigV4Check, ATamperedSignedHeaderOrBodyIsRefused) {
  net::HttpRequest req = Make(kNow);
  Set(req, "x-amz-target", "SageMaker.DeleteModel");
  EXPECT_EQ(Verify(req).code, "InvalidSignatureException");
  req = Make(kNow);
  req.body = R"({"ModelName": "n"})";
  EXPECT_EQ(Verify(req).code, "InvalidSignatureException");
  req = Make(kNow);
  req.target = "/?x=1";
  EXPECT_EQ(Verify(req).code, "InvalidSignatureException");
  // A body hash sent in the header must match the body.
  req = Make(kNow);
  req.headers.emplace_back("x-amz-content-sha256", Sha256Hex("other"));
  EXPECT_EQ(Verify(req).code, "XAmzContentSHA256Mismatch");
}

TEST(SigV4Check, AMissingSignedHeaderIsRefused) {
  net::HttpRequest req = Make(kNow);
  std::erase_if(req.headers, [](const auto& h) { return h.first == "x-amz-target"; });
  AuthError e = Verify(req);
  EXPECT_EQ(e.code, "IncompleteSignatureException");
  EXPECT_NE(e.message.find("x-amz-target"), std::string::npos) << e.message;
  // Host and the date must be among the signed headers.
  req = Make(kNow);
  for (auto& [k, v] : req.headers)
    if (k == "authorization") {
      const size_t at = v.find("SignedHeaders=");
      v.replace(at, v.find(',', at) - at, "SignedHeaders=content-type;host;x-amz-target");
    }
  EXPECT_EQ(Verify(req).code, "IncompleteSignatureException");
}

TEST(SigV4Check, UnknownKeysWrongSecretsAndMissingHeaders) {
  EXPECT_EQ(VerifySigV4(Make(kNow), {{"OTHER", "secret"}}, "us-east-1", {"sagemaker"}, kNow).code,
            "UnrecognizedClientException");
  EXPECT_EQ(Verify(Make(kNow, "us-east-1", "sagemaker", "wrong")).code,
            "InvalidSignatureException");
  net::HttpRequest req = Make(kNow);
  std::erase_if(req.headers, [](const auto& h) { return h.first == "authorization"; });
  AuthError e = Verify(req);
  EXPECT_EQ(e.code, "MissingAuthenticationTokenException");
  EXPECT_EQ(e.http_status, 403);
  req = Make(kNow);
  Set(req, "authorization", "AWS4-HMAC-SHA256 Credential=AKID/20251130/us-east-1");
  EXPECT_EQ(Verify(req).code, "IncompleteSignatureException");
  req = Make(kNow);
  Set(req, "x-amz-date", "20251129T000000Z");  // not the scope's day
  EXPECT_EQ(Verify(req).code, "IncompleteSignatureException");
}

}  // namespace
}  // namespace cairn::api
