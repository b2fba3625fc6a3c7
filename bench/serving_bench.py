"""The endpoint benchmark: wrk at 64 connections on /invocations of the seed's SimpleModel (JSON in,
JSON out), in one run: cairn native (LibTorch), cairn with the Python handler (examples/simple/
inference.py), gunicorn (2 workers) + Flask + torch, and nginx returning a static answer of the
same size (the ceiling). Usage: python3 bench/serving_bench.py CAIRN [--seconds 20] [--connections 64]
"""
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

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "simple"))
from inference import SimpleModel  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--seconds", type=int, default=20)
p.add_argument("--connections", type=int, default=64)
args = p.parse_args()
args.cairn = os.path.abspath(args.cairn)
work = tempfile.mkdtemp(prefix="cairn-serving-bench-")
store = os.path.join(work, "store")
body = json.dumps([[0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 0.25, 3.0, -2.0, 1.0]])


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


# Versions: the same weights with the example's inference.py, and with cairn-model.json (native).
torch.manual_seed(0)
model = SimpleModel()
for name, native in (("python", False), ("native", True)):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "code"))
    torch.save(model.state_dict(), os.path.join(d, "model.pth"))
    if native:
        with open(os.path.join(d, "cairn-model.json"), "w") as f:
            json.dump({"architecture": "linear", "weights": "model.pth", "in_features": 10,
                       "out_features": 1, "output": "identity"}, f)
        os.rmdir(os.path.join(d, "code"))
    else:
        shutil.copy(os.path.join(ROOT, "examples", "simple", "inference.py"), os.path.join(d, "code"))
    run(args.cairn, "models", "--store", store, "publish", name, d)
answer = json.dumps(model(torch.tensor(json.loads(body))).tolist())

lua = os.path.join(work, "post.lua")
with open(lua, "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n")


def wait_ready(url, proc):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited")
        try:
            req = urllib.request.Request(url + "/invocations", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
            if urllib.request.urlopen(req, timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def measure(name, cmd, env=None):
    pt = port()
    cmd = [c.replace("PORT", str(pt)) for c in cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=work)
    try:
        url = f"http://127.0.0.1:{pt}"
        wait_ready(url, proc)
        out = run("wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", lua,
                  url + "/invocations").stdout
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    print(f"  {name:34s} {rps:10.0f} req/s   p99 {p99_ms:8.2f} ms"
          + (f"   non-2xx {errors.group(1)}" if errors else "") + (f"   socket errors: {sock.group(1)}" if sock else ""),
          flush=True)
    return rps, p99_ms


nginx_conf = os.path.join(work, "nginx.conf")
with open(nginx_conf, "w") as f:
    f.write(f"daemon off; worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx.err;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; client_body_temp_path {work}/nb; proxy_temp_path {work}/np;\n"
            f"  fastcgi_temp_path {work}/nf; uwsgi_temp_path {work}/nu; scgi_temp_path {work}/ns;\n"
            "  server { listen 127.0.0.1:PORT; location / { default_type application/json;\n"
            f"    return 200 '{answer}'; }} }} }}\n")
print(f"wrk -c{args.connections} -d{args.seconds}s, POST /invocations of SimpleModel, JSON in and out "
      f"({len(answer)}-byte answers); {os.cpu_count()} CPUs shared by wrk and the server")
results = {}
NATIVE_ARGS = os.environ.get("CAIRN_BENCH_NATIVE_ARGS", "").split()
conf = open(nginx_conf).read()


def nginx_cmd():
    return ["/usr/sbin/nginx", "-c", nginx_conf, "-p", work]


# nginx's port is in its config: write it per run.
def measure_nginx():
    pt = port()
    with open(nginx_conf, "w") as f:
        f.write(conf.replace("PORT", str(pt)))
    proc = subprocess.Popen(nginx_cmd(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{pt}", proc)
        out = run("wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", lua,
                  f"http://127.0.0.1:{pt}/invocations").stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    print(f"  {'nginx static answer (ceiling)':34s} {rps:10.0f} req/s   p99 {p99_ms:8.2f} ms", flush=True)
    return rps, p99_ms


results["nginx"] = measure_nginx()
results["native"] = measure("cairn native (LibTorch)", [args.cairn, "serve", "native:1", "--store", store, *NATIVE_ARGS,
                                                         "--port", "PORT"])
results["python"] = measure("cairn Python handler (2 workers)", [args.cairn, "serve", "python:1", "--store",
                                                                  store, "--port", "PORT", "--workers", "2"])
results["flask"] = measure("gunicorn (2 workers) + Flask + torch",
                           ["/usr/bin/gunicorn", "--workers", "2", "--bind", "127.0.0.1:PORT",
                            "--chdir", os.path.join(ROOT, "bench"), "flask_app:app"],
                           env=dict(os.environ, MODEL_DIR=os.path.join(work, "python")))
n, py, fl, ng = results["native"], results["python"], results["flask"], results["nginx"]
print(f"RESULT native_vs_nginx={n[0] / ng[0]:.2f} (target >= 0.5) native_vs_flask={n[0] / fl[0]:.1f} "
      f"(target >= 4) native_p99_ms={n[1]:.2f} (target <= 5) python_vs_flask={py[0] / fl[0]:.2f} "
      f"(target >= 2, issue 16) python_p99_ms={py[1]:.2f} flask_p99_ms={fl[1]:.2f} "
      f"python_p99_vs_flask={py[1] / fl[1]:.2f} (target <= 1, issue 16)")
shutil.rmtree(work, ignore_errors=True)
