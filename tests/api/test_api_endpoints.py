"""Models and endpoints through boto3: create_model from a model.tar.gz with inference.py,
endpoint config, endpoint (boto3's endpoint_in_service waiter), invoke_endpoint through the
sagemaker-runtime client compared with PyTorch, update_endpoint to a second model while invoking
in a loop (no failure), roll back, a model error as ModelError, and a server restart."""
import json
import os
import subprocess
import sys
import threading
import time

import botocore.exceptions
import pytest
import torch

from test_api import EXAMPLE, server  # noqa: F401  (the fixture)

sys.path.insert(0, EXAMPLE)
from inference import SimpleModel  # noqa: E402


def model_tgz(tmp, seed):
    d = tmp / f"m{seed}"
    (d / "code").mkdir(parents=True)
    torch.manual_seed(seed)
    m = SimpleModel()
    torch.save(m.state_dict(), d / "model.pth")
    (d / "code" / "inference.py").write_text(open(os.path.join(EXAMPLE, "inference.py")).read())
    tgz = tmp / f"model-{seed}.tar.gz"
    subprocess.run(["tar", "czf", tgz, "-C", d, "model.pth", "code"], check=True)
    return tgz, m


def test_endpoint_lifecycle_through_boto3(server):  # noqa: F811
    store, client, tmp = server
    sm, rt = client(), client(service="sagemaker-runtime")
    x = torch.randn(3, 10)
    models = {}
    for seed in (1, 2):
        tgz, m = model_tgz(tmp, seed)
        models[seed] = m
        sm.create_model(ModelName=f"simple-{seed}", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                        PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz),
                                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                          "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        sm.create_endpoint_config(EndpointConfigName=f"config-{seed}", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"simple-{seed}", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="config-1")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    def invoke():
        r = rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", Accept="application/json",
                               Body=json.dumps(x.tolist()))
        return torch.tensor(json.loads(r["Body"].read())), r["InvokedProductionVariant"]

    got, variant = invoke()
    assert variant == "AllTraffic"
    assert torch.allclose(got, models[1](x).detach(), atol=1e-6)
    # A body the model cannot decode: SageMaker's ModelError (424) with the original status.
    try:
        rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", Body="not json")
        raise AssertionError("a bad body was answered")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ModelError"
        assert e.response["OriginalStatusCode"] == 400
    try:
        rt.invoke_endpoint(EndpointName="nope", Body="[]")
        raise AssertionError("an unknown endpoint answered")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationError"
    # Update to the second model, then back, while a loop keeps invoking.
    results, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                results.append(invoke()[0])
            except Exception as e:  # any failure counts
                results.append(e)

    t = threading.Thread(target=loop)
    t.start()
    try:
        for config in ("config-2", "config-1"):
            sm.update_endpoint(EndpointName="ep", EndpointConfigName=config)
            sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == config
    finally:
        stop.set()
        t.join(timeout=60)
    failures = [r for r in results if isinstance(r, Exception)]
    assert not failures, failures[:3]
    want = {seed: m(x).detach() for seed, m in models.items()}
    seen = {seed for r in results for seed, w in want.items() if torch.allclose(r, w, atol=1e-6)}
    assert seen == {1, 2} and len(results) > 10
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["ep"]
    assert sm.describe_model(ModelName="simple-2")["ModelName"] == "simple-2"
    # After a restart the server knows its models, configs and endpoints, and serves again.
    client.restart()
    sm, rt = client(), client(service="sagemaker-runtime")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "config-1"
    r = rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", Body=json.dumps(x.tolist()))
    assert torch.allclose(torch.tensor(json.loads(r["Body"].read())), want[1], atol=1e-6)
    sm.delete_endpoint(EndpointName="ep")
    assert sm.list_endpoints()["Endpoints"] == []


def test_racing_creates_give_one_success_and_resource_in_use(server):  # noqa: F811
    """16 boto3 clients create one endpoint configuration at once: the record is written with a
    create-if-absent put, so exactly one wins and the others get ResourceInUse."""
    store, client, tmp = server
    sm = client()
    tgz, _ = model_tgz(tmp, 3)
    sm.create_model(ModelName="race-model", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz)})
    clients = [client() for _ in range(16)]
    barrier, outcomes = threading.Barrier(16), []

    def create(c):
        barrier.wait()
        try:
            c.create_endpoint_config(EndpointConfigName="race-config", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "race-model", "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large"}])
            outcomes.append("ok")
        except botocore.exceptions.ClientError as e:
            outcomes.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ResourceInUse"] * 15 + ["ok"], outcomes
    assert sm.describe_endpoint_config(EndpointConfigName="race-config")["ProductionVariants"][0][
        "ModelName"] == "race-model"


HANDLER_WITH_CONTEXT = '''
import os
import numpy as np
import torch
from inference import SimpleModel


def model_fn(model_dir, context):  # the toolkit passes a context to a handler that takes one
    assert context.system_properties["model_dir"] == model_dir
    print("handler: loading", os.environ["WEIGHTS_FILE"], flush=True)  # to the endpoint's logs
    m = SimpleModel()
    m.load_state_dict(torch.load(os.path.join(model_dir, os.environ["WEIGHTS_FILE"])))
    return m.eval()


def input_fn(body, content_type, context):
    import json
    return torch.tensor(json.loads(body), dtype=torch.float32)


def predict_fn(data, model, context):
    with torch.no_grad():
        y = model(data)
    if context.get_request_header(0, "accept") == "application/json":
        return {"y": y, "n": np.int64(len(y)), "first": y[0, 0], "a": np.arange(2)}
    return y[:, 0]  # shape (rows,): CSV writes one line per value
'''


def test_model_environment_and_the_toolkits_handler_conventions(server):  # noqa: F811
    """CreateModel's Environment is the serving process's environment (WEIGHTS_FILE for the
    handler, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT for the answer type); handlers that take a
    context get one; the default JSON encoder takes nested tensors and numpy scalars; a CSV answer
    has one line per row."""
    store, client, tmp = server
    sm, rt = client(), client(service="sagemaker-runtime")
    d = tmp / "envmodel"
    (d / "code").mkdir(parents=True)
    torch.manual_seed(5)
    m = SimpleModel()
    torch.save(m.state_dict(), d / "weights.pth")
    (d / "code" / "handler.py").write_text(HANDLER_WITH_CONTEXT)
    (d / "code" / "inference.py").write_text(open(os.path.join(EXAMPLE, "inference.py")).read())
    subprocess.run(["tar", "czf", tmp / "envmodel.tar.gz", "-C", d, "weights.pth", "code"], check=True)
    sm.create_model(ModelName="env-model", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                    PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tmp / "envmodel.tar.gz"),
                                      "Environment": {"SAGEMAKER_PROGRAM": "handler.py",
                                                      "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                                                      "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                                                      "WEIGHTS_FILE": "weights.pth"}})
    sm.create_endpoint_config(EndpointConfigName="env-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "env-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="env-ep", EndpointConfigName="env-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="env-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    x = torch.randn(3, 10)
    want = m(x).detach()
    r = rt.invoke_endpoint(EndpointName="env-ep", ContentType="application/json", Body=json.dumps(x.tolist()))
    assert r["ContentType"] == "text/csv"  # no Accept: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
    lines = r["Body"].read().decode().strip().split("\n")
    assert len(lines) == 3, lines
    assert torch.allclose(torch.tensor([float(v) for v in lines]), want[:, 0], atol=1e-5)
    r = rt.invoke_endpoint(EndpointName="env-ep", ContentType="application/json", Accept="application/json",
                           Body=json.dumps(x.tolist()))
    got = json.loads(r["Body"].read())
    assert got["n"] == 3 and got["a"] == [0, 1]
    assert torch.allclose(torch.tensor(got["y"]), want, atol=1e-5)
    assert abs(got["first"] - float(want[0, 0])) < 1e-5
    # What the handler printed is in CloudWatch Logs, as SageMaker keeps an endpoint's output:
    # group /aws/sagemaker/Endpoints/<name>, stream <variant>/<instance>.
    logs = client(service="logs")
    group = "/aws/sagemaker/Endpoints/env-ep"
    deadline = time.time() + 30
    while True:
        found = logs.filter_log_events(logGroupName=group, filterPattern='"handler: loading"')["events"]
        if found or time.time() > deadline:
            break
        time.sleep(0.5)
    assert [e["message"] for e in found] == ["handler: loading weights.pth"], found
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [found[0]["logStreamName"]]
    assert streams[0]["logStreamName"].startswith("AllTraffic/i-")
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                 startFromHead=True)["events"]
    assert "handler: loading weights.pth" in [e["message"] for e in events]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.get_log_events(logGroupName="/aws/sagemaker/Endpoints/nope", logStreamName="AllTraffic/i-1")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    sm.delete_endpoint(EndpointName="env-ep")
