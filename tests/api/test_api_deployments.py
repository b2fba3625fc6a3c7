"""Safe deployments through boto3: UpdateEndpoint with a DeploymentConfig. A canary to a good
version completes in its steps with no failed request; a canary to a version whose handler fails
half its requests trips a 5XX alarm and rolls back by itself (no request fails after the
rollback; the time from alarm to rollback is printed); a LINEAR update moves traffic in its
steps (sampled from DescribeEndpoint while it runs); a server killed mid-deployment comes back
rolled back, never half-way."""
import json
import os
import subprocess
import threading
import time

import torch

from test_api import CAIRN, EXAMPLE, KEY, SECRET, server  # noqa: F401  (the fixture)
from test_api_endpoints import model_tgz

FAILS_HALF = '''
import itertools
import torch
from inference import model_fn  # noqa: F401  (the example's loader)

_calls = itertools.count()


def predict_fn(data, model):
    if next(_calls) % 2:
        raise RuntimeError("this version fails half of its requests")
    with torch.no_grad():
        return model(data.float())
'''


def make_model(sm, tmp, name, seed, handler=None):
    tgz, m = model_tgz(tmp, seed)
    program = "inference.py"
    if handler:
        d = tmp / f"h{seed}"
        (d / "code").mkdir(parents=True)
        subprocess.run(["tar", "xzf", tgz, "-C", d], check=True)
        (d / "code" / "fails_half.py").write_text(handler)
        subprocess.run(["tar", "czf", tgz, "-C", d, "model.pth", "code"], check=True)
        program = "fails_half.py"
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz),
                                      "Environment": {"SAGEMAKER_PROGRAM": program,
                                                      "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    return m


class Load:
    """Invokes the endpoint in a loop on 2 threads; each result is (time, model version or the
    exception)."""

    def __init__(self, client, body):
        self.results, self.stop, self.lock = [], threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(client, body)) for _ in range(2)]
        for t in self.threads:
            t.start()

    def loop(self, client, body):
        rt = client(service="sagemaker-runtime")
        while not self.stop.is_set():
            try:
                r = rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", Body=body)
                r["Body"].read()
                out = r["ResponseMetadata"]["HTTPHeaders"].get("x-cairn-model-version")
            except Exception as e:  # any failure counts
                out = e
            with self.lock:
                self.results.append((time.time(), out))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        return self.results


def wait_status(sm, want, sample=None, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sm.describe_endpoint(EndpointName="ep")
        if sample:
            sample(d)
        if d["EndpointStatus"] == want:
            return d
        time.sleep(0.2)
    raise AssertionError(f"endpoint not {want}: {d}")


def canary(alarms, size=25, wait=3, termination=1):
    config = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": wait,
                                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": size}},
        "TerminationWaitInSeconds": termination}}
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def test_canary_linear_rollback_and_restart(server):  # noqa: F811
    store, client, tmp = server
    sm, cw = client(), client(service="cloudwatch")
    body = json.dumps(torch.randn(2, 10).tolist())
    make_model(sm, tmp, "good1", 1)
    make_model(sm, tmp, "good2", 2)
    make_model(sm, tmp, "bad3", 3, handler=FAILS_HALF)
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="good1-config")
    wait_status(sm, "InService")
    cw.put_metric_alarm(AlarmName="ep-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                        Dimensions=[{"Name": "EndpointName", "Value": "ep"}], Statistic="Sum", Period=10,
                        EvaluationPeriods=1, Threshold=2, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")

    # 1. A canary to a good version: its steps, then done; no request fails.
    load = Load(client, body)
    steps = []

    def sample(d):
        p = d.get("PendingDeploymentSummary")
        if p:
            steps.append(round(p["ProductionVariants"][0]["CurrentWeight"], 2))
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="good2-config", DeploymentConfig=canary(["ep-5xx"]))
    d = wait_status(sm, "InService", sample)
    results = load.finish()
    assert d["EndpointConfigName"] == "good2-config" and "FailureReason" not in d, d
    assert d["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    failed = [r for _, r in results if isinstance(r, Exception)]
    assert not failed, failed[:3]
    assert 0.25 in steps, steps  # the canary's step was seen while it baked
    versions = [r for _, r in results]
    assert versions[-1] == "good2:1" and "good1:1" in versions, set(versions)
    print(f"canary to a good version: {len(results)} requests, 0 failed, steps seen {sorted(set(steps))}")

    # 2. A canary to a version failing half its requests: the alarm fires, it rolls back itself.
    load = Load(client, body)
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="bad3-config",
                       DeploymentConfig=canary(["ep-5xx"], size=50, wait=60, termination=0))
    d = wait_status(sm, "InService", timeout=120)
    rolled_back_at = time.time()
    time.sleep(2)  # requests after the rollback
    results = load.finish()
    assert d["EndpointConfigName"] == "good2-config", d
    assert "Rolled back to good2-config" in d["FailureReason"] and "ep-5xx" in d["FailureReason"], d
    failures = [t for t, r in results if isinstance(r, Exception)]
    assert failures, "the bad version failed no request"
    last_failure = max(failures)
    assert last_failure <= rolled_back_at, (last_failure, rolled_back_at)
    assert all(r == "good2:1" for t, r in results if t > rolled_back_at), "requests after the rollback"
    print(f"canary to a failing version: {len(failures)} of {len(results)} requests failed, all before the "
          f"rollback, within {last_failure - min(failures):.2f} s of the first; {d['FailureReason']}")
    assert last_failure - min(failures) < 10
    # The next update's outcome is its own: a failure of an earlier one is no longer reported.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep", DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 1}])
    assert "FailureReason" not in sm.describe_endpoint(EndpointName="ep")
    time.sleep(11)  # the alarm's period passes without errors

    # 3. LINEAR: 34% more of the requests every 2 s, sampled while it runs.
    steps = []
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="good1-config", DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "LINEAR", "WaitIntervalInSeconds": 2, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 34}}}})
    d = wait_status(sm, "InService", sample)
    assert d["EndpointConfigName"] == "good1-config" and "FailureReason" not in d, d
    assert {0.34, 0.68} <= set(steps), steps
    print(f"linear: green weights seen {sorted(set(steps))}")

    # 4. Killed mid-deployment: back rolled back, serving the old version.
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="good2-config", DeploymentConfig=canary([], wait=600))
    wait_status(sm, "Updating", lambda d: None)
    deadline = time.time() + 120
    while "PendingDeploymentSummary" not in sm.describe_endpoint(EndpointName="ep"):
        assert time.time() < deadline
        time.sleep(0.2)
    client.restart(kill=True)
    sm = client()
    d = wait_status(sm, "InService")
    assert d["EndpointConfigName"] == "good1-config", d
    assert "restarted while updating to good2-config" in d["FailureReason"], d
    r = client(service="sagemaker-runtime").invoke_endpoint(EndpointName="ep", ContentType="application/json",
                                                            Body=body)
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-cairn-model-version"] == "good1:1"

    # 5. The same from the command line, for users without boto3.
    env = dict(os.environ, CAIRN_SERVER_URL=sm.meta.endpoint_url, AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET)

    def cli(*args, ok=True):
        p = subprocess.run([CAIRN, "endpoints", *args], capture_output=True, text=True, env=env, timeout=300)
        assert (p.returncode == 0) == ok, (args, p.stdout, p.stderr)
        return p
    assert "good1-config" in cli("describe", "ep").stdout
    listed = json.loads(cli("list", "--json").stdout)
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("ep", "InService")]
    p = cli("update", "ep", "--config", "good2-config", "--canary", "25", "--wait-interval", "1", "--wait")
    assert "step 1 of 2 (CANARY): 25% of requests" in p.stderr, p.stderr
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "good2-config"
    p = cli("rollback", "ep", "--wait")
    assert "rolling ep back from good2-config to good1-config" in p.stderr
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "good1-config"
    cli("weights", "ep", "AllTraffic=2", "--instances", "AllTraffic=2", "--wait")
    v = sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert v["CurrentWeight"] == 2.0 and v["CurrentInstanceCount"] == 2, v
    p = cli("update", "ep", "--config", "no-such-config", ok=False)
    assert "Could not find endpoint configuration" in p.stderr, p.stderr
    sm.delete_endpoint(EndpointName="ep")
