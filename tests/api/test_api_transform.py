"""Batch transform through boto3: a 100,000-line CSV through the example's Python handler with
MultiRecord batching gives PyTorch's answers line for line; a manifest of JSON objects with
SplitType None; a stopped job stops; the job's instance output is in CloudWatch Logs; bad
requests are refused."""
import hashlib
import json
import os
import subprocess
import time

import botocore.exceptions
import numpy as np
import pytest
import torch

from test_api import server  # noqa: F401  (the fixture)
from test_api_endpoints import model_tgz


def wait_done(sm, name, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.5)
    raise AssertionError(f"{name} did not end: {d}")


def test_batch_transform(server):  # noqa: F811
    store, client, tmp = server
    sm = client()
    tgz, model = model_tgz(tmp, 7)
    sm.create_model(ModelName="simple", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz),
                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                      "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    (tmp / "in" / "part").mkdir(parents=True)
    x = np.random.default_rng(0).standard_normal((100_000, 10)).astype(np.float32)
    np.savetxt(tmp / "in" / "part" / "big.csv", x, delimiter=",", fmt="%.6f")
    x = np.loadtxt(tmp / "in" / "part" / "big.csv", delimiter=",", dtype=np.float32)  # as written

    def create(name, **kw):
        request = dict(TransformJobName=name, ModelName="simple", BatchStrategy="MultiRecord", MaxPayloadInMB=1,
                       MaxConcurrentTransforms=2,
                       TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                       "S3Uri": str(tmp / "in")}},
                                       "ContentType": "text/csv", "SplitType": "Line"},
                       TransformOutput={"S3OutputPath": str(tmp / "out"), "Accept": "text/csv",
                                        "AssembleWith": "Line"},
                       TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
        request.update(kw)
        return sm.create_transform_job(**request)

    started = time.time()
    create("big")
    d = wait_done(sm, "big")
    assert d["TransformJobStatus"] == "Completed", d
    elapsed = d["TransformEndTime"].timestamp() - d["TransformStartTime"].timestamp()
    lines = (tmp / "out" / "part" / "big.csv.out").read_text().splitlines()
    assert len(lines) == 100_000
    got = torch.tensor([float(v) for v in lines])
    with torch.no_grad():
        want = model(torch.from_numpy(x))[:, 0]
    assert torch.allclose(got, want, atol=1e-5), (got[:3], want[:3])
    print(f"transform of 100,000 lines: {elapsed:.2f} s in the job ({100_000 / elapsed:.0f} records/s), "
          f"{time.time() - started:.2f} s from create")
    assert [j["TransformJobName"] for j in sm.list_transform_jobs()["TransformJobSummaries"]] == ["big"]

    # Its instance's output, in CloudWatch Logs.
    logs = client(service="logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs",
                                        logStreamNamePrefix="big/")["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith("big/i-"), streams

    # SingleRecord over 100,000 lines takes a while: stopped, it stops.
    create("slow", BatchStrategy="SingleRecord", MaxConcurrentTransforms=1,
           TransformOutput={"S3OutputPath": str(tmp / "out-slow"), "AssembleWith": "Line"})
    time.sleep(3)  # its instance up and into its batches
    sm.stop_transform_job(TransformJobName="slow")
    assert sm.describe_transform_job(TransformJobName="slow")["TransformJobStatus"] in ("Stopping", "Stopped")
    d = wait_done(sm, "slow", timeout=60)
    assert d["TransformJobStatus"] == "Stopped", d
    assert not (tmp / "out-slow" / "part" / "big.csv.out").exists()
    # A job that ended cannot be stopped, and its record stays as it ended.
    for name, status in (("slow", "Stopped"), ("big", "Completed")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.stop_transform_job(TransformJobName=name)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == status

    # A manifest of two JSON objects, each one request (SplitType None), outputs joined as they are.
    (tmp / "json").mkdir()
    rows = {}
    for i in range(2):
        rows[f"r{i}.json"] = np.random.default_rng(i + 1).standard_normal((3, 10)).astype(np.float32)
        (tmp / "json" / f"r{i}.json").write_text(json.dumps(rows[f"r{i}.json"].tolist()))
    (tmp / "manifest.json").write_text(json.dumps([{"prefix": str(tmp / "json")}, "r0.json", "r1.json"]))
    create("manifest", BatchStrategy="SingleRecord",
           TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                           "S3Uri": str(tmp / "manifest.json")}},
                           "ContentType": "application/json", "SplitType": "None"},
           TransformOutput={"S3OutputPath": str(tmp / "out-json"), "Accept": "application/json"})
    assert wait_done(sm, "manifest")["TransformJobStatus"] == "Completed"
    for name, r in rows.items():
        out = torch.tensor(json.loads((tmp / "out-json" / f"{name}.out").read_text()))
        assert torch.allclose(out, model(torch.from_numpy(r)).detach(), atol=1e-5)

    # Refused: an unknown model, a split type cairn does not have, a name used before.
    for bad in (dict(ModelName="nope"),
                dict(TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "x"}},
                                     "SplitType": "RecordIO"})):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create("bad", **bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError):
        create("big")
    # A model that fails: the job fails and says which batch.
    create("fails", TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                    "S3Uri": str(tmp / "json")}},
                                    "ContentType": "text/csv", "SplitType": "Line"})
    d = wait_done(sm, "fails")
    assert d["TransformJobStatus"] == "Failed" and "batch 1" in d["FailureReason"], d


ECHO_HANDLER = '''
def model_fn(model_dir):
    return None


def input_fn(body, content_type):
    return body


def predict_fn(data, model):
    return data


def output_fn(prediction, accept):
    return prediction
'''


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_large_input_streams_through_in_bounded_memory(server):  # noqa: F811
    """96 lines of 1 MB through an echo handler: the output is the input, and the server's peak
    memory grows by far less than the input (it once held the input, its batches, the answers
    and the output whole: four copies). The model's code comes from a folder of its own
    (SAGEMAKER_SUBMIT_DIRECTORY), copied per instance and removed with the instance."""
    store, client, tmp = server
    sm = client()
    (tmp / "echo").mkdir()
    torch.save({"unused": torch.zeros(1)}, tmp / "echo" / "model.pth")
    (tmp / "echo-code").mkdir()
    (tmp / "echo-code" / "echo.py").write_text(ECHO_HANDLER)
    subprocess.run(["tar", "czf", tmp / "echo.tar.gz", "-C", tmp / "echo", "model.pth"], check=True)
    sm.create_model(ModelName="echo", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tmp / "echo.tar.gz"),
                                      "Environment": {"SAGEMAKER_PROGRAM": "echo.py",
                                                      "SAGEMAKER_SUBMIT_DIRECTORY": str(tmp / "echo-code")}})
    (tmp / "big-in").mkdir()
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    digest = hashlib.sha256()
    with open(tmp / "big-in" / "lines.txt", "wb") as f:
        for _ in range(96):
            line = letters[rng.integers(0, 26, 1_000_000)].tobytes() + b"\n"
            digest.update(line)
            f.write(line)
    before = peak_rss_mb(client.pid())
    sm.create_transform_job(
        TransformJobName="echo-big", ModelName="echo", BatchStrategy="MultiRecord", MaxPayloadInMB=2,
        MaxConcurrentTransforms=2,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(tmp / "big-in")}},
                        "ContentType": "text/plain", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": str(tmp / "big-out"), "Accept": "text/plain", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    d = wait_done(sm, "echo-big", timeout=180)
    assert d["TransformJobStatus"] == "Completed", d
    grown = peak_rss_mb(client.pid()) - before
    out = (tmp / "big-out" / "lines.txt.out").read_bytes()
    assert len(out) == 96 * 1_000_001 and hashlib.sha256(out).hexdigest() == digest.hexdigest()
    print(f"96 MB through the transform: the server's peak RSS grew {grown:.0f} MB")
    # Under AddressSanitizer freed memory waits in its quarantine (256 MB by default) first.
    bound = 64 + (256 if "ASAN_OPTIONS" in os.environ else 0)
    assert grown < bound, f"the server's peak memory grew {grown:.0f} MB for a 96 MB input"
    # The instance is gone, and its copy of the code with it.
    code = tmp / "server" / "serving-code"
    assert not code.exists() or not any(code.iterdir()), list(code.iterdir())
    assert not any((tmp / "server" / "transform-output").iterdir())  # no spool left
