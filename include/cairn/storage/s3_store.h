// A store in an S3 bucket (AWS S3, Ceph RGW, MinIO, ...), under an optional key prefix.
//
// Requests are signed with SigV4. Objects up to part_size go up in one PUT; larger ones as a
// multipart upload with parts sent in parallel (aborted if anything fails, so nothing is left
// behind). Idempotent requests that fail transiently (5xx, 429, timeouts, reset connections) are
// retried with exponential backoff and full jitter; connections are reused.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cairn/storage/object_store.h"
#include "cairn/storage/sigv4.h"

namespace cairn {

struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:7480"; empty: https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  sigv4::Credentials credentials;
  // Multipart part size (>= 5 MiB), also the single-PUT limit and the download range size, and
  // the number of parts or ranges in flight. Measured on a 2-core machine against Ceph RGW
  // (bench/s3_bench.py, 1 GiB): 64 MiB x 4 uploads at 1.9x awscli, 16 MiB x 8 at 1.2x.
  // Uploads hold up to 2 x concurrency parts in memory (512 MiB here).
  uint64_t part_size = 64u << 20;
  int concurrency = 4;
  int max_attempts = 5;  // per request, for retryable failures
  // Server-side encryption of what cairn uploads, as S3 defines it: "" (the bucket's default),
  // "AES256" (SSE-S3) or "aws:kms" (SSE-KMS, with `sse_kms_key_id`, or the account's default
  // key when empty). Sent as x-amz-server-side-encryption[-aws-kms-key-id] on PUT and on
  // CreateMultipartUpload.
  std::string sse, sse_kms_key_id;
};

// The headers for `options`' server-side encryption; kInvalidArgument for an unknown kind, or a
// KMS key without aws:kms.
Result<std::vector<std::pair<std::string, std::string>>> SseHeaders(const S3Options& options);

// Settings as every AWS tool reads them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN; else the profile (AWS_PROFILE, default "default") of
// ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE); region from AWS_REGION, AWS_DEFAULT_REGION
// or the profile in ~/.aws/config (AWS_CONFIG_FILE); endpoint from AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL or the profile's endpoint_url; CAIRN_S3_PART_MIB and CAIRN_S3_CONCURRENCY
// override the part size and parallelism; CAIRN_S3_SSE and CAIRN_S3_SSE_KMS_KEY_ID the
// server-side encryption of uploads. Fails with a clear message when no credentials are found.
Result<S3Options> S3OptionsFromEnvironment();

// A store for s3://bucket/prefix. Custom endpoints use path-style addressing.
Result<std::unique_ptr<ObjectStore>> OpenS3Store(const std::string& bucket,
                                                 const std::string& prefix, S3Options options);

}  // namespace cairn
