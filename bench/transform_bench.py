"""Batch transform throughput (records/s) on a 100,000-line CSV of 10 features through the
seed's SimpleModel, side by side in one run:
  - a plain Python loop over the same model and file (parse a line, forward, write a line),
    under torch.no_grad: the baseline;
  - a cairn transform job on the native path (the same weights as TorchScript, no handler);
  - a cairn transform job through the example's Python handler (inference.py).
Both jobs: SplitType Line, MultiRecord, MaxPayloadInMB 6, MaxConcurrentTransforms 2, one
instance. A job's time is from CreateTransformJob to the Completed status (the model server's
start included), as a user waits for it; its steady rate is records / (end - the moment its
model server answered /ping), read from the job's record in the store. Targets: native >= 5x,
Python handler >= 1.5x.
Usage: python3 bench/transform_bench.py CAIRN_BINARY [--rows 100000] [--reps 3]"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "simple"))
from inference import SimpleModel  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--rows", type=int, default=100_000)
p.add_argument("--reps", type=int, default=3)
args = p.parse_args()

work = tempfile.mkdtemp(prefix="cairn-transform-bench-")
torch.manual_seed(0)
model = SimpleModel().eval()
data = os.path.join(work, "in", "features.csv")
os.makedirs(os.path.dirname(data))
np.savetxt(data, np.random.default_rng(0).standard_normal((args.rows, 10)), delimiter=",", fmt="%.6f")

# Model archives: the Python handler's (model.pth + code/inference.py) and the native one
# (model.pt, TorchScript of the same weights).
for kind in ("python", "native"):
    d = os.path.join(work, kind)
    os.makedirs(os.path.join(d, "code"))
    if kind == "python":
        torch.save(model.state_dict(), os.path.join(d, "model.pth"))
        shutil.copy(os.path.join(ROOT, "examples", "simple", "inference.py"), os.path.join(d, "code"))
        members = ["model.pth", "code"]
    else:
        torch.jit.script(model).save(os.path.join(d, "model.pt"))
        members = ["model.pt"]
    subprocess.run(["tar", "czf", os.path.join(work, f"{kind}.tar.gz"), "-C", d, *members], check=True)


def python_loop():
    out_path = os.path.join(work, "loop.out")
    t = time.perf_counter()
    m = SimpleModel()
    m.load_state_dict(torch.load(os.path.join(work, "python", "model.pth")))
    m.eval()
    with open(data) as f, open(out_path, "w") as out, torch.no_grad():
        for line in f:
            x = torch.tensor([float(v) for v in line.split(",")])
            out.write(f"{m(x).item()}\n")
    return time.perf_counter() - t


with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(os.environ, CAIRN_SERVER_ACCESS_KEY="bench", CAIRN_SERVER_SECRET_KEY="bench-secret")
server = subprocess.Popen([args.cairn, "server", "--store", os.path.join(work, "store"), "--port", str(port),
                           "--work-dir", os.path.join(work, "server")], env=env, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="bench", aws_secret_access_key="bench-secret",
                  config=botocore.config.Config(retries={"max_attempts": 1}))
sm.create_model(ModelName="python", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": os.path.join(work, "python.tar.gz"),
                                  "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                  "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
sm.create_model(ModelName="native", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": os.path.join(work, "native.tar.gz")})
jobs = 0
steady = {"native": [], "python": []}


def transform(model_name):
    global jobs
    jobs += 1
    name = f"{model_name}-{jobs}"
    t = time.perf_counter()
    sm.create_transform_job(
        TransformJobName=name, ModelName=model_name, BatchStrategy="MultiRecord", MaxPayloadInMB=6,
        MaxConcurrentTransforms=2,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": os.path.dirname(data)}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": os.path.join(work, "out", name), "Accept": "text/csv", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    while True:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] != "InProgress":
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    assert d["TransformJobStatus"] == "Completed", d
    with open(os.path.join(work, "store", "api", "transform-jobs", f"{name}.json")) as f:
        record = json.load(f)
    steady[model_name].append((record["ended_ms"] - record["ready_ms"]) / 1000)
    got = np.loadtxt(os.path.join(work, "out", name, "features.csv.out"))
    want = np.loadtxt(os.path.join(work, "loop.out"))
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5), name
    return elapsed


try:
    times = {"loop": [], "native": [], "python": []}
    python_loop()  # warm-up: page cache, torch's first call
    for _ in range(args.reps):  # interleaved, so that all see the same machine
        times["loop"].append(python_loop())
        times["native"].append(transform("native"))
        times["python"].append(transform("python"))
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: args.rows / v for k, v in med.items()}
    print(f"{args.rows} records, median of {args.reps}:")
    for k, label in (("loop", "plain Python loop"), ("native", "cairn transform, native"),
                     ("python", "cairn transform, Python handler")):
        print(f"  {label:34s} {med[k]:7.2f} s  {rate[k]:9.0f} records/s")
    print(f"native / loop: {rate['native'] / rate['loop']:.1f}x (target >= 5)")
    print(f"Python handler / loop: {rate['python'] / rate['loop']:.1f}x (target >= 1.5)")
    for k in ("native", "python"):
        s = statistics.median(steady[k])
        print(f"  steady {k:6s}: {s:6.2f} s after the model server was up, {args.rows / s:9.0f} records/s, "
              f"{args.rows / s / rate['loop']:.1f}x the loop (start-up {med[k] - s:.2f} s)")
finally:
    server.terminate()
    server.wait(timeout=120)
    shutil.rmtree(work, ignore_errors=True)
