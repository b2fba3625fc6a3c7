"""Batch transform through boto3: a 100,000-line CSV through the example's Python handler with
MultiRecord batching gives PyTorch's answers line for line; a manifest of JSON objects with
SplitType None; a stopped job stops; the job's instance output is in CloudWatch Logs; bad
requests are refused."""
import json
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
