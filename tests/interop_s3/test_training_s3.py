"""cairn train against the S3 test server: the store, a channel, checkpoints and the output path
all in S3, checked with Debian's awscli; a restarted job finds its checkpoints there."""
import json
import os
import subprocess
import tarfile
import uuid

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
ENDPOINT = os.environ["CAIRN_TEST_S3_ENDPOINT"]
BUCKET = os.environ.get("CAIRN_TEST_S3_BUCKET", "cairn-test")
EXAMPLE = os.path.join(ROOT, "examples", "simple")


def run(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, (args, p.stdout[-3000:], p.stderr[-3000:])
    return p


def aws(*args):
    quiet = ["--only-show-errors"] if args[1] == "cp" else []
    return run("/usr/bin/aws", "--endpoint-url", ENDPOINT, *args, *quiet)


def test_training_with_everything_in_s3(tmp_path):
    base = f"s3://{BUCKET}/train-{uuid.uuid4().hex[:8]}"
    store = f"{base}/store"
    data = tmp_path / "data"
    run("/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), data, "--rows", "300")
    aws("s3", "cp", "--recursive", data / "train", f"{base}/data/train")
    # A sibling prefix that must not be taken for checkpoints (SageMaker's prefix gotcha).
    aws("s3", "cp", data / "train" / "train.csv", f"{base}/ckpt-10/not-mine.pth")
    cmd = [CAIRN, "train", os.path.join(EXAMPLE, "train.py"), "--store", store,
           "--work-dir", tmp_path / "work", "--tick", "0.2", "-c", f"train={base}/data/train",
           "-p", "epochs=3", "--checkpoint-uri", f"{base}/ckpt-1", "--output-path", f"{base}/out",
           "--json"]
    job = json.loads(run(*cmd).stdout)
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["model_data"] == f"{base}/out/{job['name']}/output/model.tar.gz"
    aws("s3", "cp", job["model_data"], tmp_path / "model.tar.gz")
    with tarfile.open(tmp_path / "model.tar.gz") as t:
        t.extractall(tmp_path / "x")
    sd = torch.load(tmp_path / "x" / "model.pth")
    listing = aws("s3", "ls", f"{base}/ckpt-1/").stdout
    assert "checkpoint-00003.pth" in listing and "checkpoint-00001.pth" not in listing
    assert ".checkpoint.tmp" not in listing
    # The version in the S3 store restores to the same bytes.
    run(CAIRN, "models", "--store", store, "restore", job["model_version"], tmp_path / "r")
    assert (tmp_path / "r" / "model.pth").read_bytes() == (tmp_path / "x" / "model.pth").read_bytes()
    assert torch.equal(torch.load(tmp_path / "r" / "model.pth")["linear.weight"], sd["linear.weight"])
    # A second job with the same checkpoint URI resumes from S3, and ignores ckpt-10/.
    cmd[cmd.index("epochs=3")] = "epochs=5"
    job2 = json.loads(run(*cmd).stdout)
    log = run(CAIRN, "jobs", "--store", store, "logs", job2["name"]).stdout
    assert "resumed from checkpoint-00003.pth at epoch 3" in log and "epoch=1 " not in log
    ws = tmp_path / "work" / job2["name"] / "algo-1" / "checkpoints"
    assert "not-mine.pth" not in os.listdir(ws)
    listed = json.loads(run(CAIRN, "jobs", "--store", store, "list", "--json").stdout)
    assert {j["name"] for j in listed} == {job["name"], job2["name"]}
