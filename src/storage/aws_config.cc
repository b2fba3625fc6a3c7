// AWS settings from the environment and the shared config files.
#include <cstdlib>
#include <fstream>
#include <map>

#include "cairn/storage/s3_store.h"

namespace cairn {
namespace {

using Section = std::map<std::string, std::string>;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Reads one section of an INI file ("[name]"); empty if the file or section is missing.
Section ReadSection(const std::string& path, const std::string& name) {
  Section out;
  std::ifstream in(path);
  std::string line, current;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      current = Trim(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (current == name && eq != std::string::npos) {
      out[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
    }
  }
  return out;
}

}  // namespace

Result<S3Options> S3OptionsFromEnvironment() {
  S3Options o;
  const std::string home = Env("HOME");
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::string cred_file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (cred_file.empty()) cred_file = home + "/.aws/credentials";
  std::string config_file = Env("AWS_CONFIG_FILE");
  if (config_file.empty()) config_file = home + "/.aws/config";
  Section creds = ReadSection(cred_file, profile);
  Section config =
      ReadSection(config_file, profile == "default" ? "default" : "profile " + profile);

  o.credentials.access_key = Env("AWS_ACCESS_KEY_ID");
  o.credentials.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  o.credentials.session_token = Env("AWS_SESSION_TOKEN");
  if (o.credentials.access_key.empty()) {
    o.credentials.access_key = creds["aws_access_key_id"];
    o.credentials.secret_key = creds["aws_secret_access_key"];
    o.credentials.session_token = creds["aws_session_token"];
  }
  if (o.credentials.access_key.empty() || o.credentials.secret_key.empty()) {
    return Status::PermissionDenied(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in " +
        cred_file + " (AWS_PROFILE=" + profile + ")");
  }
  for (const std::string& r : {Env("AWS_REGION"), Env("AWS_DEFAULT_REGION"), config["region"]}) {
    if (!r.empty()) {
      o.region = r;
      break;
    }
  }
  for (const std::string& e :
       {Env("AWS_ENDPOINT_URL_S3"), Env("AWS_ENDPOINT_URL"), config["endpoint_url"]}) {
    if (!e.empty()) {
      o.endpoint = e;
      break;
    }
  }
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  // cairn's own tuning knobs.
  if (std::string v = Env("CAIRN_S3_PART_MIB"); !v.empty()) {
    long mib = std::strtol(v.c_str(), nullptr, 10);
    if (mib < 5 || mib > 5120) return Status::InvalidArgument("CAIRN_S3_PART_MIB must be 5..5120");
    o.part_size = static_cast<uint64_t>(mib) << 20;
  }
  if (std::string v = Env("CAIRN_S3_CONCURRENCY"); !v.empty()) {
    long n = std::strtol(v.c_str(), nullptr, 10);
    if (n < 1 || n > 256) return Status::InvalidArgument("CAIRN_S3_CONCURRENCY must be 1..256");
    o.concurrency = static_cast<int>(n);
  }
  // Server-side encryption: the environment, else the profile's cairn_s3_sse and
  // cairn_s3_sse_kms_key_id (AWS's config has no such key; other tools ignore unknown ones).
  o.sse = Env("CAIRN_S3_SSE");
  o.sse_kms_key_id = Env("CAIRN_S3_SSE_KMS_KEY_ID");
  if (o.sse.empty() && o.sse_kms_key_id.empty()) {
    o.sse = config["cairn_s3_sse"];
    o.sse_kms_key_id = config["cairn_s3_sse_kms_key_id"];
  }
  CAIRN_RETURN_IF_ERROR(
      SseHeaders(o).status().WithContext("server-side encryption (CAIRN_S3_SSE, "
                                         "or the profile's cairn_s3_sse)"));
  return o;
}

Result<std::vector<std::pair<std::string, std::string>>> SseHeaders(const S3Options& o) {
  std::vector<std::pair<std::string, std::string>> h;
  if (o.sse.empty() && o.sse_kms_key_id.empty()) return h;
  if (o.sse != "AES256" && o.sse != "aws:kms")
    return Status::InvalidArgument("server-side encryption is AES256 or aws:kms, not '" + o.sse +
                                   "'");
  if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms")
    return Status::InvalidArgument("a KMS key id needs aws:kms encryption");
  h.emplace_back("x-amz-server-side-encryption", o.sse);
  if (!o.sse_kms_key_id.empty())
    h.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", o.sse_kms_key_id);
  return h;
}

}  // namespace cairn
