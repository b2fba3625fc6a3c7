// Private to cli: a SigV4-signed client of cairn server's SageMaker API (JSON 1.1, POST / with
// X-Amz-Target: SageMaker.<Operation>), for commands such as `cairn endpoints` that act on a
// running server, as the AWS CLI does on SageMaker.
//   server: --server, else $CAIRN_SERVER_URL, else http://127.0.0.1:8770
//   keys:   $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY, else $CAIRN_SERVER_ACCESS_KEY /
//           $CAIRN_SERVER_SECRET_KEY (what the server itself reads)
//   region: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cairn/core/status.h"
#include "cairn/net/http_client.h"
#include "cairn/storage/sigv4.h"

namespace cairn::cli {

class ApiClient {
 public:
  // kInvalidArgument without keys, or for a server URL that is not http(s)://host[:port].
  static Result<ApiClient> Open(const std::string& server_flag);
  // Calls `operation` of `service` ("sagemaker": X-Amz-Target SageMaker.<op>). The answer's
  // JSON; a SageMaker error as kInvalidArgument (4xx) or kInternal (5xx) with "<Code>: <message>",
  // a server that does not answer as kTransient.
  Result<nlohmann::json> Call(const std::string& operation, const nlohmann::json& request);
  const std::string& url() const { return url_; }

 private:
  std::string url_, host_, region_;
  sigv4::Credentials credentials_;
  std::shared_ptr<net::Client> http_;
};

}  // namespace cairn::cli
