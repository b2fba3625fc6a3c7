"""Crash consistency of cairn server: seeded trials, each killing the server (kill -9) at a random
moment during CreateTrainingJob, CreateEndpoint, UpdateEndpoint or DeleteEndpoint, then starting
it again. After each restart:
  - every record reads back, and no call answers 500;
  - no training job is InProgress (the server that ran it is gone: Failed, with the reason);
  - every endpoint leaves Creating/Updating; an InService one answers, with the model its
    configuration names (never half-way between two configurations);
  - no process of the killed server is left: every process running on this store descends from
    the new server;
  - the operation, retried, does what it was asked.
CAIRN_CRASH_TRIALS sets the number of trials (ctest runs a few; scripts/crash-trials.sh 200).
CAIRN_CRASH_SEED offsets the seeds."""
import json
import os
import random
import subprocess
import time

import botocore.exceptions
import torch

from test_api import EXAMPLE, server  # noqa: F401  (the fixture)

TRIALS = int(os.environ.get("CAIRN_CRASH_TRIALS", "6"))
SEED = int(os.environ.get("CAIRN_CRASH_SEED", "0"))


def native_model(sm, tmp, name, seed):
    """A TorchScript model (served natively: quick to load) and its endpoint configuration."""
    d = tmp / f"native-{name}"
    d.mkdir()
    torch.manual_seed(seed)
    torch.jit.script(torch.nn.Linear(10, 1)).save(str(d / "model.pt"))
    subprocess.run(["tar", "czf", tmp / f"{name}.tar.gz", "-C", d, "model.pt"], check=True)
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tmp / f"{name}.tar.gz")})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])


def settle(sm, timeout=120):
    """Waits until no endpoint is Creating or Updating; their descriptions."""
    deadline = time.time() + timeout
    while True:
        ds = [sm.describe_endpoint(EndpointName=e["EndpointName"]) for e in sm.list_endpoints()["Endpoints"]]
        if all(d["EndpointStatus"] not in ("Creating", "Updating", "RollingBack") for d in ds):
            return {d["EndpointName"]: d for d in ds}
        assert time.time() < deadline, ds
        time.sleep(0.2)


def descendants_ok(store, server_pid):
    """Every process whose command line names the store descends from the server."""
    strays = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == server_pid:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if store not in cmd:
            continue
        p = int(pid)
        while p > 1 and p != server_pid:
            try:
                with open(f"/proc/{p}/stat") as f:
                    p = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                break
        if p != server_pid:
            strays.append((pid, cmd[:200]))
    return strays


def test_kill_9_at_random_moments(server):  # noqa: F811
    store, client, tmp = server
    sm, rt = client(), client(service="sagemaker-runtime")
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), tmp / "data", "--rows", "50"],
                   check=True, capture_output=True)
    for i in (1, 2):
        native_model(sm, tmp, f"m{i}", i)
    refs = {f"m{i}-config": sm.describe_model(ModelName=f"m{i}")["PrimaryContainer"]["ModelDataUrl"][len("cairn://"):]
            for i in (1, 2)}
    body = json.dumps([[0.5] * 10])
    jobs = 0
    summary = []

    def ensure_endpoint():
        ds = settle(sm)
        if "ep" not in ds or ds["ep"]["EndpointStatus"] == "Failed":
            if "ep" in ds:
                sm.delete_endpoint(EndpointName="ep")
            sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-config")
            ds = settle(sm)
        assert ds["ep"]["EndpointStatus"] == "InService", ds
        return ds["ep"]["EndpointConfigName"]

    def create_job():
        nonlocal jobs
        jobs += 1
        name = f"job-{jobs}"
        sm.create_training_job(
            TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/R",
            AlgorithmSpecification={"TrainingImage": "pytorch-training:1.13", "TrainingInputMode": "File"},
            HyperParameters={"epochs": "2", "sagemaker_program": '"train.py"',
                             "sagemaker_submit_directory": json.dumps(EXAMPLE)},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(tmp / "data" / "train")}}}],
            OutputDataConfig={"S3OutputPath": str(tmp / "out")},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
        return name

    for trial in range(TRIALS):
        rng = random.Random(SEED + trial)
        op = rng.choice(["create_training_job", "create_endpoint", "update_endpoint", "delete_endpoint"])
        delay = rng.uniform(0, 1.5)
        target = None
        if op == "create_endpoint":
            if "ep" in settle(sm):
                sm.delete_endpoint(EndpointName="ep")
                settle(sm)
        elif op in ("update_endpoint", "delete_endpoint"):
            current = ensure_endpoint()
            target = "m2-config" if current == "m1-config" else "m1-config"

        def do():
            if op == "create_training_job":
                return create_job()
            if op == "create_endpoint":
                sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-config")
            elif op == "update_endpoint":
                sm.update_endpoint(EndpointName="ep", EndpointConfigName=target)
            else:
                sm.delete_endpoint(EndpointName="ep")
        job = do()
        time.sleep(delay)
        client.restart(kill=True)
        sm, rt = client(), client(service="sagemaker-runtime")
        server_pid = client.pid()

        # Every record reads back; nothing is InProgress; no endpoint is half-way.
        for s in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]:
            d = sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
            assert d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"), (trial, op, d["TrainingJobStatus"])
            if d["TrainingJobStatus"] == "Failed":
                assert d["FailureReason"], d
        endpoints = settle(sm)
        for name, d in endpoints.items():
            if d["EndpointStatus"] != "InService":
                continue
            r = rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
            served = r["ResponseMetadata"]["HTTPHeaders"]["x-cairn-model-version"]
            assert served == refs[d["EndpointConfigName"]], (trial, op, d["EndpointConfigName"], served)
        deadline = time.time() + 30  # the killed server's children end on their death signal
        while (strays := descendants_ok(store, server_pid)) and time.time() < deadline:
            time.sleep(0.2)
        assert not strays, (trial, op, strays)

        # The operation, retried, does what it was asked.
        if op == "create_training_job":
            d = sm.describe_training_job(TrainingJobName=job)
            if d["TrainingJobStatus"] != "Completed":
                job = create_job()  # names are never reused: a new one
                sm.get_waiter("training_job_completed_or_stopped").wait(
                    TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Completed"
        elif op == "create_endpoint":
            try:
                sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-config")
            except botocore.exceptions.ClientError as e:
                assert "already existing" in str(e), e
            if settle(sm)["ep"]["EndpointStatus"] == "Failed":  # killed while it deployed
                sm.delete_endpoint(EndpointName="ep")
                sm.create_endpoint(EndpointName="ep", EndpointConfigName="m1-config")
            assert settle(sm)["ep"]["EndpointStatus"] == "InService"
        elif op == "update_endpoint":
            if settle(sm)["ep"]["EndpointConfigName"] != target:
                sm.update_endpoint(EndpointName="ep", EndpointConfigName=target)
            d = settle(sm)["ep"]
            assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == target, d
        else:
            if "ep" in settle(sm):
                sm.delete_endpoint(EndpointName="ep")
            assert "ep" not in settle(sm)
        summary.append(f"{op}@{delay:.2f}s")
    print(f"{TRIALS} kill -9 trials (seeds {SEED}..{SEED + TRIALS - 1}), all consistent: {', '.join(summary)}")
