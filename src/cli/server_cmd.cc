// cairn server: SageMaker's API (boto3 with endpoint_url) over the store.
#include <cstdlib>
#include <fstream>

#include "cairn/api/server.h"
#include "commands.h"

namespace cairn::cli {
namespace {

// --credentials FILE ('ACCESS_KEY SECRET_KEY' lines) and $CAIRN_SERVER_ACCESS_KEY /
// $CAIRN_SERVER_SECRET_KEY, into `out`. kNotFound for an unreadable file, kInvalidArgument for
// none.
Status ReadCredentials(const std::string& file, std::map<std::string, std::string>& out) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::NotFound("cannot read " + file);
    std::string a, b;
    while (in >> a >> b) out[a] = b;
  }
  const char* ak = std::getenv("CAIRN_SERVER_ACCESS_KEY");
  const char* sk = std::getenv("CAIRN_SERVER_SECRET_KEY");
  if (ak && *ak && sk && *sk) out[ak] = sk;
  if (out.empty())
    return Status::InvalidArgument(
        "give --credentials FILE or CAIRN_SERVER_ACCESS_KEY and CAIRN_SERVER_SECRET_KEY: every "
        "request must be signed, and the dashboard's login checks them");
  return Status::OK();
}

void AddUiCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<ApiServerOptions>();
  auto file = std::make_shared<std::string>();
  o->port = 8771;
  auto* u = app.add_subcommand(
      "ui", "Serve the web dashboard alone, read-only, over a store (cairn server has it at /ui)");
  u->add_option("--store", o->store, "store URI (default $CAIRN_STORE)");
  u->add_option("--host", o->host, "address (default 127.0.0.1)");
  u->add_option("--port", o->port, "port (default 8771)");
  u->add_option("--credentials", *file,
                "file of 'ACCESS_KEY SECRET_KEY' lines to log in with; or "
                "$CAIRN_SERVER_ACCESS_KEY / $CAIRN_SERVER_SECRET_KEY");
  u->callback([=] {
    *action = [=] {
      ApiServerOptions opts = *o;
      opts.store = StoreUri(opts.store);
      if (Status st = ReadCredentials(*file, opts.credentials); !st.ok()) return Fail(st);
      Status st = RunUiServer(opts);
      return st.ok() ? kExitOk : Fail(st);
    };
  });
}

}  // namespace

void AddServerCommands(CLI::App& app, Action* action) {
  auto o = std::make_shared<ApiServerOptions>();
  auto keys = std::make_shared<std::pair<std::string, std::string>>();
  auto file = std::make_shared<std::string>();
  auto images = std::make_shared<std::vector<std::string>>();
  auto* s = app.add_subcommand(
      "server", "Serve SageMaker's API (for boto3 with endpoint_url) over the store");
  s->add_option("--host", o->host, "address (default 127.0.0.1)");
  s->add_option("--port", o->port, "port (default 8770)");
  s->add_option("--store", o->store, "store URI (default $CAIRN_STORE)");
  s->add_option("--region", o->region, "region in ARNs and signatures (default us-east-1)");
  s->add_option("--work-dir", o->work_root,
                "training workspaces (default ~/.local/share/cairn/server)");
  s->add_option("--account", o->account,
                "account id in ARNs and STS answers (default 000000000000)");
  s->add_option("--role-arn", o->role_arn,
                "the IAM role STS GetCallerIdentity names (sagemaker.get_execution_role); default "
                "arn:aws:iam::<account>:role/cairn");
  s->add_option("--image", *images,
                "SUBSTRING=RUNTIME: a TrainingImage containing SUBSTRING runs as RUNTIME ('script' "
                "or a built-in algorithm); defaults pytorch=script, linear-learner=linear-learner");
  s->add_option("--credentials", *file,
                "file of 'ACCESS_KEY SECRET_KEY' lines; or $CAIRN_SERVER_ACCESS_KEY / "
                "$CAIRN_SERVER_SECRET_KEY");
  s->add_option("--scheduler", o->scheduler,
                "where training jobs run: local (default) or slurm (docs/cluster.md)");
  s->add_option("--partition", o->slurm_partition, "Slurm partition (default: the cluster's)");
  s->add_option("--node-work-dir", o->node_work_root,
                "workspaces on the Slurm nodes (default /tmp/cairn-nodes)");
  s->add_option("--load-balancer", o->load_balancer,
                "haproxy: each production variant's instances behind an haproxy of its own "
                "(docs/cluster.md); default none");
  s->add_option("--lb-bind", o->lb_bind_address,
                "address the load balancers listen on (default 127.0.0.1)");
  s->add_option("--server-id", o->server_id,
                "this server's id among those sharing the store (default <hostname>:<port>)");
  s->add_option("--advertise-url", o->advertise_url,
                "URL the other servers reach this one at (default http://<host>:<port>)");
  s->add_option("--lease-seconds", o->lease_seconds,
                "how long a dead server's jobs and endpoints wait before another server takes "
                "them over (default 15)");
  s->add_option("--haproxy", o->haproxy_program, "the haproxy program (default /usr/sbin/haproxy)");
  s->callback([=] {
    *action = [=] {
      ApiServerOptions opts = *o;
      auto mapping = KeyValues(*images, "--image");
      if (!mapping.ok()) return Fail(mapping.status());
      for (const auto& [k, v] : *mapping) opts.images[k] = v;
      opts.store = StoreUri(opts.store);
      if (opts.work_root.empty()) opts.work_root = DataDir("server");
      opts.builtin_program = SiblingProgram("cairn-algorithm");
      opts.serve_program = SiblingProgram("cairn-serve");
      opts.cairn_program = SiblingProgram("cairn");
      if (opts.node_work_root.empty()) opts.node_work_root = "/tmp/cairn-nodes";
      if (opts.scheduler != "local" && opts.scheduler != "slurm")
        return Fail(Status::InvalidArgument("--scheduler is local or slurm"));
      if (Status st = ReadCredentials(*file, opts.credentials); !st.ok()) return Fail(st);
      Status st = RunApiServer(opts);
      return st.ok() ? kExitOk : Fail(st);
    };
  });
  AddUiCommand(app, action);
}

}  // namespace cairn::cli
