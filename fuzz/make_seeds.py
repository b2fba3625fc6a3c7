"""Writes seed corpora for the fuzz targets with real PyTorch: python3 make_seeds.py OUTDIR"""
import json
import os
import struct
import sys
import zipfile
from collections import OrderedDict

import torch

out = sys.argv[1]
for d in ("pytorch", "safetensors", "pickle"):
    os.makedirs(os.path.join(out, d), exist_ok=True)

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net(torch.randn(4, 3)).sum().backward()
opt.step()
base = torch.arange(12.0).reshape(3, 4)
objects = {
    "state_dict": net.state_dict(),
    "keep_vars": net.state_dict(keep_vars=True),
    "checkpoint": {"epoch": 1, "model": net.state_dict(), "optim": opt.state_dict(), "loss": 0.5},
    "views": OrderedDict(base=base, view=base[1:, 2:], t=base.t(), scalar=torch.tensor(1)),
    "dtypes": {str(dt): torch.ones(2, dtype=dt) for dt in
               (torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.bool)},
    "nested": [1, (2, "x"), {0: None, "b": b"\x01"}, -5, 2**40],
}
for name, obj in objects.items():
    path = os.path.join(out, "pytorch", name + ".pth")
    torch.save(obj, path)
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        with open(os.path.join(out, "pickle", name + ".pkl"), "wb") as f:
            f.write(z.read(pkl))


def safetensors(path, tensors, meta=None):
    header, buf = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dt = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.uint8: "U8"}[t.dtype]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [len(buf), len(buf) + len(raw)]}
        buf += raw
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + buf)


safetensors(os.path.join(out, "safetensors", "a.safetensors"),
            {"w": torch.randn(2, 3), "b": torch.arange(3), "e": torch.empty(0, dtype=torch.uint8)},
            {"format": "pt"})
safetensors(os.path.join(out, "safetensors", "b.safetensors"), {"h": torch.ones(4, dtype=torch.float16)})

# Request bodies for codec_fuzz: the first byte picks the content type (0 JSON, 1 CSV, 2 NPY).
import io  # noqa: E402

import numpy as np  # noqa: E402

os.makedirs(os.path.join(out, "codec"), exist_ok=True)
bodies = {
    "json": b"\x00" + json.dumps([[0.5, -1.0, 2.0], [1e-3, 4, 5]]).encode(),
    "json-vector": b"\x03[1, 2, 3]",
    "csv": b"\x01" + b"1,2,3\n4,5,6\n",
}
for name, arr in {"npy-f4": np.ones((2, 3), np.float32), "npy-f8": np.arange(4.0),
                  "npy-i8": np.arange(6).reshape(3, 2)}.items():
    buf = io.BytesIO()
    np.save(buf, arr)
    bodies[name] = b"\x02" + buf.getvalue()
for name, body in bodies.items():
    with open(os.path.join(out, "codec", name), "wb") as f:
        f.write(body)

# Request heads for http_fuzz.
os.makedirs(os.path.join(out, "http"), exist_ok=True)
heads = {
    "post": b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5\r\n\r\n[1,2]",
    "get10": b"GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "expect": b"POST /invocations HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
}
for name, head in heads.items():
    with open(os.path.join(out, "http", name), "wb") as f:
        f.write(head)

# Signed requests for sigv4_fuzz: as botocore signs them, with the example keys the target knows
# (they verify except for the date, which the target fixes at AWS's example date).
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

os.makedirs(os.path.join(out, "sigv4"), exist_ok=True)
creds = botocore.credentials.Credentials("AKIDEXAMPLE", "secret")
signed = {
    "sagemaker": ("sagemaker", {"X-Amz-Target": "SageMaker.ListEndpoints",
                                "Content-Type": "application/x-amz-json-1.1"}, b"{}"),
    "sts": ("sts", {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=GetCallerIdentity&Version=2011-06-15"),
    "logs": ("logs", {"X-Amz-Target": "Logs_20140328.GetLogEvents",
                      "Content-Type": "application/x-amz-json-1.1"},
             b'{"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j/algo-1-1"}'),
}
for name, (service, headers, body) in signed.items():
    req = botocore.awsrequest.AWSRequest(method="POST", url="http://127.0.0.1:8770/", data=body,
                                         headers=dict(headers))
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:8770\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in req.headers.items()) + f"Content-Length: {len(body)}\r\n\r\n"
    with open(os.path.join(out, "sigv4", name), "wb") as f:
        f.write(head.encode() + body)

# Requests and records for api_json_fuzz.
os.makedirs(os.path.join(out, "api_json"), exist_ok=True)
requests = {
    "variants": {"ProductionVariants": [{"VariantName": "a", "ModelName": "m", "InitialInstanceCount": 2,
                                         "InitialVariantWeight": 3.0}]},
    "canary": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 60, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
        "TerminationWaitInSeconds": 30}, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "x"}]}},
    "rolling": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                                        "WaitIntervalInSeconds": 5}},
    "transform": {"TransformJobName": "t", "ModelName": "m", "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6,
                  "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                                     "ContentType": "text/csv", "SplitType": "Line"},
                  "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "Line"}},
    "endpoint": {"name": "e", "config": "c", "status": "InService", "desired": {"a": {"weight": 2}},
                 "deployment": {"BlueGreenUpdatePolicy": {}}, "created_ms": 1},
}
for name, body in requests.items():
    with open(os.path.join(out, "api_json", name), "w") as f:
        json.dump(body, f)
with open(os.path.join(out, "api_json", "alarm-form"), "w") as f:
    f.write("Action=PutMetricAlarm&AlarmName=a&Namespace=AWS%2FSageMaker&MetricName=Invocations"
            "&Statistic=Sum&Period=60&EvaluationPeriods=2&Threshold=5"
            "&ComparisonOperator=GreaterThanThreshold&Dimensions.member.1.Name=EndpointName"
            "&Dimensions.member.1.Value=e")

# Archives for tar_fuzz: the SDK's repack (a root "/" entry), tar's "./" names, gzip and plain.
import tarfile  # noqa: E402

os.makedirs(os.path.join(out, "tar"), exist_ok=True)
src = os.path.join(out, "tar-src")
os.makedirs(os.path.join(src, "code"), exist_ok=True)
with open(os.path.join(src, "model.pth"), "wb") as f:
    f.write(b"weights" * 10)
with open(os.path.join(src, "code", "inference.py"), "w") as f:
    f.write("def model_fn(d):\n    pass\n")
with tarfile.open(os.path.join(out, "tar", "repack.tar.gz"), "w:gz") as t:
    t.add(src, arcname=os.path.sep)
with tarfile.open(os.path.join(out, "tar", "dot.tar"), "w") as t:
    t.add(src, arcname=".")
with tarfile.open(os.path.join(out, "tar", "link.tar"), "w") as t:
    t.add(os.path.join(src, "model.pth"), arcname="model.pth")
    info = tarfile.TarInfo("l")
    info.type = tarfile.SYMTYPE
    info.linkname = "model.pth"
    t.addfile(info)
