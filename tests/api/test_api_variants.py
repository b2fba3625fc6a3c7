"""Production variants and SageMaker's endpoint metrics through boto3: two variants weighted 3:1
split 4,000 requests 75% +- 5%; TargetVariant is honoured; UpdateEndpointWeightsAndCapacities
changes weights at once and instance counts in the background; CloudWatch GetMetricStatistics
and GetMetricData read Invocations per variant; a metric alarm goes from INSUFFICIENT_DATA to
ALARM; /metrics has the counters for Prometheus."""
import collections
import json
import threading
import time
import urllib.request

import botocore.exceptions
import pytest
import torch

from test_api import server  # noqa: F401  (the fixture)
from test_api_endpoints import model_tgz


def wait_in_service(sm, name):
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180})


def test_variants_weights_metrics_and_alarms(server):  # noqa: F811
    store, client, tmp = server
    sm, rt, cw = client(), client(service="sagemaker-runtime"), client(service="cloudwatch")
    models = {}
    for seed, variant in ((1, "A"), (2, "B")):
        tgz, models[variant] = model_tgz(tmp, seed)
        sm.create_model(ModelName=f"m{seed}", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                        PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz),
                                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                          "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=[
        {"VariantName": "A", "ModelName": "m1", "InitialInstanceCount": 1, "InitialVariantWeight": 3.0,
         "InstanceType": "ml.m5.large"},
        {"VariantName": "B", "ModelName": "m2", "InitialInstanceCount": 1, "InitialVariantWeight": 1.0,
         "InstanceType": "ml.m5.large"}])
    started = time.time()
    sm.create_endpoint(EndpointName="ab-ep", EndpointConfigName="ab")
    wait_in_service(sm, "ab-ep")
    d = sm.describe_endpoint(EndpointName="ab-ep")
    assert {(v["VariantName"], v["CurrentWeight"], v["CurrentInstanceCount"]) for v in d["ProductionVariants"]} == \
        {("A", 3.0, 1), ("B", 1.0, 1)}
    # An alarm on A's invocations, before any: no data yet.
    cw.put_metric_alarm(AlarmName="a-busy", Namespace="AWS/SageMaker", MetricName="Invocations",
                        Dimensions=[{"Name": "EndpointName", "Value": "ab-ep"}, {"Name": "VariantName", "Value": "A"}],
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=100,
                        ComparisonOperator="GreaterThanThreshold")
    assert cw.describe_alarms(AlarmNames=["a-busy"])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"

    x = torch.randn(2, 10)
    body = json.dumps(x.tolist())
    want = {v: m(x).detach() for v, m in models.items()}
    counts, failures, lock = collections.Counter(), [], threading.Lock()

    def loop(n):
        local = client(service="sagemaker-runtime")
        for _ in range(n):
            try:
                r = local.invoke_endpoint(EndpointName="ab-ep", ContentType="application/json", Body=body)
                v = r["InvokedProductionVariant"]
                got = torch.tensor(json.loads(r["Body"].read()))
                assert torch.allclose(got, want[v], atol=1e-5), v  # each variant answers with its model
                with lock:
                    counts[v] += 1
            except Exception as e:  # any failure counts
                with lock:
                    failures.append(e)

    threads = [threading.Thread(target=loop, args=(1000,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    share = counts["A"] / 4000
    print(f"variant A took {share:.3f} of 4000 requests (weights 3:1)")
    assert 0.70 <= share <= 0.80, counts

    # TargetVariant wins over the weights.
    for _ in range(20):
        r = rt.invoke_endpoint(EndpointName="ab-ep", ContentType="application/json", Body=body, TargetVariant="B")
        assert r["InvokedProductionVariant"] == "B"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        rt.invoke_endpoint(EndpointName="ab-ep", ContentType="application/json", Body=body, TargetVariant="C")
    assert e.value.response["Error"]["Code"] == "ValidationError"

    # The metrics, per variant, as CloudWatch answers them.
    end = time.time() + 60
    dims = [{"Name": "EndpointName", "Value": "ab-ep"}, {"Name": "VariantName", "Value": "A"}]
    stats = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dims,
                                     StartTime=started - 60, EndTime=end, Period=3600, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == counts["A"], stats
    data = cw.get_metric_data(StartTime=started - 60, EndTime=end, MetricDataQueries=[
        {"Id": "b", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                                              "Dimensions": [dims[0], {"Name": "VariantName", "Value": "B"}]},
                                   "Period": 60, "Stat": "Sum"}},
        {"Id": "latency", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
                                                    "Dimensions": dims}, "Period": 60, "Stat": "Average"}},
        {"Id": "errors", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors",
                                                   "Dimensions": dims}, "Period": 60, "Stat": "Sum"}}])
    results = {r["Id"]: r for r in data["MetricDataResults"]}
    assert sum(results["b"]["Values"]) == counts["B"] + 20 + 0  # TargetVariant=C never reached a variant
    assert all(0 < v < 10_000_000 for v in results["latency"]["Values"])  # microseconds
    assert sum(results["errors"]["Values"]) == 0
    alarm = cw.describe_alarms(AlarmNames=["a-busy"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM", alarm
    assert "greater than the threshold" in alarm["StateReason"]
    prometheus = urllib.request.urlopen(client().meta.endpoint_url + "/metrics").read().decode()
    assert f'cairn_endpoint_invocations_total{{endpoint="ab-ep",variant="A"}} {counts["A"]}' in prometheus

    # Weights change at once; a capacity change happens in the background.
    sm.update_endpoint_weights_and_capacities(EndpointName="ab-ep", DesiredWeightsAndCapacities=[
        {"VariantName": "B", "DesiredWeight": 0.0}, {"VariantName": "A", "DesiredInstanceCount": 2}])
    for _ in range(40):
        r = rt.invoke_endpoint(EndpointName="ab-ep", ContentType="application/json", Body=body)
        assert r["InvokedProductionVariant"] == "A"
    wait_in_service(sm, "ab-ep")
    d = {v["VariantName"]: v for v in sm.describe_endpoint(EndpointName="ab-ep")["ProductionVariants"]}
    assert d["A"]["CurrentInstanceCount"] == 2 and d["B"]["CurrentWeight"] == 0.0, d
    for _ in range(10):  # both of A's instances answer
        r = rt.invoke_endpoint(EndpointName="ab-ep", ContentType="application/json", Body=body)
        assert torch.allclose(torch.tensor(json.loads(r["Body"].read())), want["A"], atol=1e-5)
    with pytest.raises(botocore.exceptions.ClientError):
        sm.update_endpoint_weights_and_capacities(EndpointName="ab-ep", DesiredWeightsAndCapacities=[
            {"VariantName": "Z", "DesiredWeight": 1.0}])
    cw.delete_alarms(AlarmNames=["a-busy"])
    assert cw.describe_alarms(AlarmNames=["a-busy"])["MetricAlarms"] == []
    sm.delete_endpoint(EndpointName="ab-ep")
