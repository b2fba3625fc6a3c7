// cairn server: SageMaker's control-plane API (JSON 1.1: POST / with X-Amz-Target:
// SageMaker.<Operation>) over cairn's store, so that boto3 pointed at it with endpoint_url works.
// Every request must carry a valid AWS Signature V4 for one of the configured access keys.
#pragma once

#include <map>
#include <string>

#include "cairn/core/status.h"

namespace cairn {

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 8770;
  std::string store;                               // store URI
  std::map<std::string, std::string> credentials;  // access key -> secret key
  std::string region = "us-east-1";
  std::string account = "000000000000";  // in ARNs, and STS GetCallerIdentity's Account
  // The IAM role STS GetCallerIdentity names as the caller (what sagemaker.get_execution_role()
  // returns); empty: arn:aws:iam::<account>:role/cairn.
  std::string role_arn;
  std::string work_root;        // training workspaces and code (default: a temp folder)
  std::string builtin_program;  // cairn-algorithm, for built-in training images
  std::string serve_program;    // cairn-serve, which runs each endpoint
  // TrainingImage -> runtime: an image whose name contains a key runs that way ("script": the
  // sagemaker_program of the submitted source; anything else: that built-in algorithm).
  std::map<std::string, std::string> images = {{"pytorch", "script"},
                                               {"linear-learner", "linear-learner"}};
  // Where CreateTrainingJob runs the hosts: "local" (processes of this server) or "slurm" (one
  // Slurm job of InstanceCount nodes; docs/cluster.md).
  std::string scheduler = "local";
  std::string slurm_partition;  // "" = the cluster's default
  std::string node_work_root;   // workspaces on the Slurm nodes
  std::string cairn_program;    // the cairn command, as the nodes run it
  // Endpoint instances: with scheduler "slurm", each is a Slurm job step (srun) on a node Slurm
  // picks, else a process of this server. load_balancer "haproxy" puts each production variant's
  // instances behind an haproxy of its own (listening on lb_bind_address), "" routes requests
  // to the instances from this server directly.
  std::string load_balancer;
  std::string haproxy_program = "/usr/sbin/haproxy";
  std::string lb_bind_address = "127.0.0.1";
  // Several servers on one store (docs/cluster.md): this one's id (default <hostname>:<port>;
  // a restart under the same id takes its leases back at once), the URL the others forward its
  // endpoints' requests to (default http://<host>:<port>), and how long a lease lasts unrenewed
  // (a dead server's jobs and endpoints are taken over this long after its last renewal).
  std::string server_id;
  std::string advertise_url;
  int lease_seconds = 15;
};

// Serves until SIGTERM / SIGINT. The web dashboard is at /ui (docs/dashboard.md).
Status RunApiServer(const ApiServerOptions& options);

// `cairn ui`: only the dashboard, read-only, over options.store, on options.host:port; login with
// one of options.credentials. Serves until SIGTERM / SIGINT. Errors: the store's, and the port's.
Status RunUiServer(const ApiServerOptions& options);

}  // namespace cairn
