#include <cstdlib>
#include <map>

#include "cairn/core/file.h"
#include "cairn/storage/s3_store.h"
#include "test_util.h"

namespace cairn {
namespace {

// Sets environment variables for one test and restores them afterwards.
using Vars = std::map<std::string, std::string>;

class ScopedEnv {
 public:
  explicit ScopedEnv(Vars vars) {
    for (auto& [k, v] : vars) {
      if (const char* old = std::getenv(k.c_str())) saved_[k] = old;
    }
    for (const char* name :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "CAIRN_S3_PART_MIB",
          "CAIRN_S3_CONCURRENCY", "CAIRN_S3_SSE", "CAIRN_S3_SSE_KMS_KEY_ID"}) {
      if (const char* v = std::getenv(name); v && !saved_.count(name)) saved_[name] = v;
      ::unsetenv(name);
    }
    for (auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
    set_ = std::move(vars);
  }
  ~ScopedEnv() {
    for (auto& [k, v] : set_) ::unsetenv(k.c_str());
    for (auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_, set_;
};

TEST(AwsConfig, EnvironmentWins) {
  ScopedEnv env(Vars{{"AWS_ACCESS_KEY_ID", "AK"},
                     {"AWS_SECRET_ACCESS_KEY", "SK"},
                     {"AWS_SESSION_TOKEN", "T"},
                     {"AWS_DEFAULT_REGION", "eu-west-1"},
                     {"AWS_REGION", "eu-central-1"},
                     {"AWS_ENDPOINT_URL", "http://a:1/"},
                     {"AWS_ENDPOINT_URL_S3", "http://s3:2/"},
                     {"HOME", "/nonexistent"}});
  auto o = S3OptionsFromEnvironment();
  ASSERT_OK(o.status());
  EXPECT_EQ(o->credentials.access_key, "AK");
  EXPECT_EQ(o->credentials.session_token, "T");
  EXPECT_EQ(o->region, "eu-central-1");
  EXPECT_EQ(o->endpoint, "http://s3:2");
}

TEST(AwsConfig, ProfilesFromSharedFiles) {
  testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("credentials"),
                                "[default]\naws_access_key_id = DEF\naws_secret_access_key = DS\n"
                                "[dev]\naws_access_key_id=DEV\naws_secret_access_key=DEVS\n"));
  ASSERT_OK(
      WriteFileAtomically(dir.File("config"),
                          "[default]\nregion = us-west-2\n[profile dev]\nregion = ap-south-1\n"
                          "endpoint_url = http://minio:9000\n"));
  ScopedEnv env(Vars{{"AWS_SHARED_CREDENTIALS_FILE", dir.File("credentials")},
                     {"AWS_CONFIG_FILE", dir.File("config")},
                     {"AWS_PROFILE", "dev"}});
  auto o = S3OptionsFromEnvironment();
  ASSERT_OK(o.status());
  EXPECT_EQ(o->credentials.access_key, "DEV");
  EXPECT_EQ(o->credentials.secret_key, "DEVS");
  EXPECT_EQ(o->region, "ap-south-1");
  EXPECT_EQ(o->endpoint, "http://minio:9000");
  EXPECT_TRUE(o->sse.empty());
}

TEST(AwsConfig, ServerSideEncryptionFromTheProfileUnlessTheEnvironmentSaysOtherwise) {
  testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("credentials"),
                                "[default]\naws_access_key_id = A\naws_secret_access_key = B\n"));
  ASSERT_OK(WriteFileAtomically(dir.File("config"),
                                "[default]\ncairn_s3_sse = aws:kms\n"
                                "cairn_s3_sse_kms_key_id = team-key\n"));
  {
    ScopedEnv env(Vars{{"AWS_SHARED_CREDENTIALS_FILE", dir.File("credentials")},
                       {"AWS_CONFIG_FILE", dir.File("config")}});
    auto o = S3OptionsFromEnvironment();
    ASSERT_OK(o.status());
    EXPECT_EQ(o->sse, "aws:kms");
    EXPECT_EQ(o->sse_kms_key_id, "team-key");
  }
  {
    ScopedEnv env(Vars{{"AWS_SHARED_CREDENTIALS_FILE", dir.File("credentials")},
                       {"AWS_CONFIG_FILE", dir.File("config")},
                       {"CAIRN_S3_SSE", "AES256"}});
    auto o = S3OptionsFromEnvironment();
    ASSERT_OK(o.status());
    EXPECT_EQ(o->sse, "AES256");
    EXPECT_TRUE(o->sse_kms_key_id.empty());
  }
  ASSERT_OK(WriteFileAtomically(dir.File("config"), "[default]\ncairn_s3_sse = rot13\n"));
  ScopedEnv env(Vars{{"AWS_SHARED_CREDENTIALS_FILE", dir.File("credentials")},
                     {"AWS_CONFIG_FILE", dir.File("config")}});
  auto o = S3OptionsFromEnvironment();
  EXPECT_EQ(o.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(o.status().message().find("cairn_s3_sse"), std::string::npos) << o.status().ToString();
}

TEST(AwsConfig, MissingCredentialsAndBadKnobs) {
  ScopedEnv env(Vars{{"HOME", "/nonexistent"}});
  auto o = S3OptionsFromEnvironment();
  EXPECT_EQ(o.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(o.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  ScopedEnv env2(
      {{"AWS_ACCESS_KEY_ID", "a"}, {"AWS_SECRET_ACCESS_KEY", "b"}, {"CAIRN_S3_PART_MIB", "1"}});
  EXPECT_EQ(S3OptionsFromEnvironment().status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
