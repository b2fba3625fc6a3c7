"""HAProxy in front of endpoint instances (issue 13), in one run: requests/s and p99 of wrk at 64
connections on POST /invocations of the seed's SimpleModel (native LibTorch, JSON in and out)
  - straight to one cairn-serve instance,
  - through the variant's HAProxy with that one instance (HAProxy's own overhead),
  - through the same HAProxy once the variant has two instances.
The endpoint is cairn server's (--load-balancer haproxy): the instances and the HAProxy are the
ones it starts and drives. Usage: bench/lb_bench.py CAIRN [--seconds N] [--connections N]"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore.config
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "simple"))
from inference import SimpleModel  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--seconds", type=int, default=10)
p.add_argument("--connections", type=int, default=64)
args = p.parse_args()
work = tempfile.mkdtemp(prefix="cairn-lb-bench-")
store = os.path.join(work, "store")
KEY, SECRET = "bench", "bench-secret"


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


torch.manual_seed(0)
d = os.path.join(work, "native")
os.makedirs(d)
torch.save(SimpleModel().state_dict(), os.path.join(d, "model.pth"))
with open(os.path.join(d, "cairn-model.json"), "w") as f:
    json.dump({"architecture": "linear", "weights": "model.pth", "in_features": 10, "out_features": 1,
               "output": "identity"}, f)
run(args.cairn, "models", "--store", store, "publish", "native", d)
body = json.dumps([[0.5] * 10] * 4)
lua = os.path.join(work, "post.lua")
with open(lua, "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n")

api_port = port()
env = dict(os.environ, CAIRN_SERVER_ACCESS_KEY=KEY, CAIRN_SERVER_SECRET_KEY=SECRET)
server = subprocess.Popen([args.cairn, "server", "--store", store, "--port", str(api_port), "--work-dir",
                           os.path.join(work, "server"), "--load-balancer", "haproxy"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "server.log"), "w"))


def describe():
    cli = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    return json.loads(run(args.cairn, "endpoints", "--server", f"http://127.0.0.1:{api_port}", "describe", "ep",
                          "--json", env=cli).stdout)


def wrk(url, seconds):
    out = run("wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--latency", "-s", lua,
              url + "/invocations").stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return rps, p99_ms, (errors.group(1) if errors else "0"), (sock.group(1) if sock else "none")


def measure(name, url):
    wrk(url, 2)  # warm-up: connections, pages, the model's first passes
    rps, p99, non2xx, sock = wrk(url, args.seconds)
    print(f"  {name:44s} {rps:9.0f} req/s   p99 {p99:7.2f} ms   non-2xx {non2xx}   socket errors {sock}",
          flush=True)
    return rps, p99


try:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", api_port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{api_port}", region_name="us-east-1",
                      aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      config=botocore.config.Config(retries={"max_attempts": 1}))
    sm.create_model(ModelName="native", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": "cairn://native:1"})
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "native", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    waiter = sm.get_waiter("endpoint_in_service")
    waiter.wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    v = describe()["ProductionVariants"][0]
    direct, lb = v["Instances"][0]["Address"], v["LoadBalancerUrl"]
    print(f"wrk -c{args.connections} -d{args.seconds}s (after 2 s of warm-up each), POST /invocations, "
          f"4 rows of SimpleModel (native); {os.cpu_count()} CPUs shared by wrk, haproxy and the instances")
    r_direct = measure("one instance, direct", direct)
    r_lb1 = measure("one instance behind HAProxy", lb)
    sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 2}])
    time.sleep(1)
    waiter.wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert len(describe()["ProductionVariants"][0]["Instances"]) == 2
    r_lb2 = measure("two instances behind HAProxy", lb)
    print(f"HAProxy's overhead: {r_lb1[0] / r_direct[0]:.2f}x the direct requests/s, "
          f"p99 {r_lb1[1] - r_direct[1]:+.2f} ms")
    print(f"two instances against one (both behind HAProxy): {r_lb2[0] / r_lb1[0]:.2f}x the requests/s, "
          f"p99 {r_lb2[1]:.2f} ms against {r_lb1[1]:.2f} ms")
finally:
    server.terminate()
    server.wait(timeout=120)
    shutil.rmtree(work, ignore_errors=True)
