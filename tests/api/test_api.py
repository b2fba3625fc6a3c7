"""cairn server driven by Debian's boto3, unmodified: SigV4 authentication, SageMaker's errors,
the model registry operations over cairn's versions, and training jobs recorded by cairn train."""
import json
import os
import socket
import subprocess
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
EXAMPLE = os.path.join(ROOT, "examples", "simple")
KEY, SECRET = "cairn-api-test", "cairn-api-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    store = str(tmp_path / "store")
    port = free_port()
    env = dict(os.environ, CAIRN_SERVER_ACCESS_KEY=KEY, CAIRN_SERVER_SECRET_KEY=SECRET)
    procs = []

    def start():
        procs.append(subprocess.Popen([CAIRN, "server", "--store", store, "--port", str(port),
                                       "--work-dir", str(tmp_path / "server")], env=env))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)

    def client(secret=SECRET, service="sagemaker"):
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id=KEY, aws_secret_access_key=secret,
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    def restart(kill=False):
        if kill:
            procs[-1].kill()
            procs[-1].wait(timeout=60)
        else:
            procs[-1].terminate()
            assert procs[-1].wait(timeout=180) == 0
        start()

    start()
    client.restart = restart
    client.pid = lambda: procs[-1].pid
    yield store, client, tmp_path
    procs[-1].terminate()
    assert procs[-1].wait(timeout=60) == 0


def cairn(*args):
    p = subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_authentication_and_errors(server):
    _, client, _ = server
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client(secret="wrong").list_model_package_groups()
    assert error_code(e) == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sm = client()
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_model_package_group(ModelPackageGroupName="nope")
    assert error_code(e) == "ResourceNotFound"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_training_job(TrainingJobName="nope")
    assert error_code(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.list_compilation_jobs()
    assert error_code(e) == "UnknownOperationException" and "ListCompilationJobs" in str(e.value)
    # Not signed at all, and a malformed body (signed): SageMaker's errors, nothing happens.
    import urllib.request
    url = sm.meta.endpoint_url + "/"
    req = urllib.request.Request(url, data=b"{}", headers={"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                           "Content-Type": "application/x-amz-json-1.1"})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("an unsigned request was answered")
    except urllib.error.HTTPError as err:
        assert err.code == 403 and "MissingAuthenticationToken" in err.read().decode()
    # Signed properly, but the body is not JSON.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    aws = AWSRequest(method="POST", url=url, data=b"not json",
                     headers={"X-Amz-Target": "SageMaker.ListTrainingJobs",
                              "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(aws)
    req = urllib.request.Request(url, data=b"not json", headers=dict(aws.headers.items()))
    try:
        urllib.request.urlopen(req)
        raise AssertionError("a malformed request was answered")
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
        assert err.code == 400 and body["__type"].endswith("#SerializationException")


def test_model_registry_through_boto3(server):
    store, client, tmp = server
    sm = client()
    d = tmp / "model"
    (d / "code").mkdir(parents=True)
    torch.manual_seed(0)
    sd = {"linear.weight": torch.randn(1, 10), "linear.bias": torch.randn(1)}
    torch.save(sd, d / "model.pth")
    (d / "code" / "inference.py").write_text(open(os.path.join(EXAMPLE, "inference.py")).read())
    tgz = tmp / "model.tar.gz"
    subprocess.run(["tar", "czf", tgz, "-C", d, "model.pth", "code"], check=True)
    arn = sm.create_model_package_group(ModelPackageGroupName="simple",
                                        ModelPackageGroupDescription="the seed's model")["ModelPackageGroupArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/simple"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_model_package_group(ModelPackageGroupName="simple")
    assert error_code(e) == "ValidationException"
    spec = {"Containers": [{"Image": "pytorch-inference:1.13", "ModelDataUrl": str(tgz)}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]}
    for _ in range(2):
        p = sm.create_model_package(ModelPackageGroupName="simple", InferenceSpecification=spec,
                                    ModelApprovalStatus="PendingManualApproval")
    assert p["ModelPackageArn"].endswith(":model-package/simple/2")
    listed = sm.list_model_packages(ModelPackageGroupName="simple", SortOrder="Ascending")
    assert [x["ModelPackageVersion"] for x in listed["ModelPackageSummaryList"]] == [1, 2]
    sm.update_model_package(ModelPackageArn=p["ModelPackageArn"], ModelApprovalStatus="Approved")
    desc = sm.describe_model_package(ModelPackageName="simple/2")
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["InferenceSpecification"]["Containers"][0]["Image"] == "pytorch-inference:1.13"
    approved = sm.list_model_packages(ModelPackageGroupName="simple", ModelApprovalStatus="Approved")
    assert [x["ModelPackageVersion"] for x in approved["ModelPackageSummaryList"]] == [2]
    # The same versions as `cairn models`, byte for byte.
    versions = json.loads(cairn("models", "--store", store, "versions", "simple", "--json"))
    assert [(v["version"], v["approval"]) for v in versions] == [(1, "PendingManualApproval"), (2, "Approved")]
    cairn("models", "--store", store, "restore", "simple:2", tmp / "restored")
    assert torch.equal(torch.load(tmp / "restored" / "model.pth")["linear.weight"], sd["linear.weight"])
    groups = sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in groups] == ["simple"]


def test_training_jobs_recorded_by_cairn_train(server):
    store, client, tmp = server
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), tmp / "data", "--rows", "200"],
                   check=True, capture_output=True)
    names = []
    for i in range(3):
        out = json.loads(cairn("train", os.path.join(EXAMPLE, "train.py"), "--store", store, "--work-dir",
                               tmp / "work", "-c", f"train={tmp}/data/train", "-p", "epochs=2",
                               "--job-name", f"job-{i}", "--output-path", tmp / "out",
                               "--metric-definition", "train_loss=train_loss=([0-9.]+)", "--json"))
        names.append(out["name"])
    sm = client()
    d = sm.describe_training_job(TrainingJobName="job-1")
    assert d["TrainingJobStatus"] == "Completed" and d["SecondaryStatus"] == "Completed"
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == f"{tmp}/out/job-1/output/model.tar.gz"
    assert d["HyperParameters"] == {"epochs": "2"}
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]][-1] == "Completed"
    assert d["FinalMetricDataList"][0]["MetricName"] == "train_loss"
    assert d["CreationTime"].year >= 2026  # epoch seconds, parsed by botocore
    page1 = sm.list_training_jobs(MaxResults=2, SortBy="Name", SortOrder="Descending")
    assert [s["TrainingJobName"] for s in page1["TrainingJobSummaries"]] == ["job-2", "job-1"]
    page2 = sm.list_training_jobs(MaxResults=2, SortBy="Name", SortOrder="Descending",
                                  NextToken=page1["NextToken"])
    assert [s["TrainingJobName"] for s in page2["TrainingJobSummaries"]] == ["job-0"]
    assert "NextToken" not in page2
    assert len(sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]) == 0
    assert len(sm.list_training_jobs(NameContains="job-1")["TrainingJobSummaries"]) == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.stop_training_job(TrainingJobName="job-0")
    assert error_code(e) == "ValidationException"  # it already ended


def test_server_stops_and_crashes_with_jobs_running(server):
    store, client, tmp = server
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), tmp / "data", "--rows", "100"],
                   check=True, capture_output=True)

    def start_job(name):
        sm = client()
        sm.create_training_job(
            TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/R",
            AlgorithmSpecification={"TrainingImage": "pytorch-training:1.13", "TrainingInputMode": "File"},
            HyperParameters={"epochs": "100", "sleep": "1", "sagemaker_program": '"train.py"',
                             "sagemaker_submit_directory": json.dumps(EXAMPLE)},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(tmp / "data" / "train")}}}],
            OutputDataConfig={"S3OutputPath": str(tmp / "out")},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
        for _ in range(600):  # until the script runs (its log has an epoch in it)
            time.sleep(0.1)
            log = subprocess.run([CAIRN, "jobs", "--store", store, "logs", name], capture_output=True, text=True).stdout
            if "epoch=1 " in log:
                return
        raise AssertionError("the job never started training")

    # A server that is stopped stops its jobs as StopTrainingJob would: the script saves on SIGTERM.
    start_job("stopped-by-shutdown")
    client.restart()
    d = client().describe_training_job(TrainingJobName="stopped-by-shutdown")
    assert d["TrainingJobStatus"] == "Stopped"
    assert d["ModelArtifacts"]["S3ModelArtifacts"].endswith("stopped-by-shutdown/output/model.tar.gz")
    import tarfile
    with tarfile.open(d["ModelArtifacts"]["S3ModelArtifacts"]) as t:  # saved by its SIGTERM handler
        assert t.getnames() == ["model.pth"]
    stopping = [t for t in d["SecondaryStatusTransitions"] if t["Status"] == "Stopping"][0]
    assert (stopping["EndTime"] - stopping["StartTime"]).total_seconds() < 30  # not the 120 s SIGKILL
    # A server that dies (kill -9) finds its job Failed when it starts again.
    start_job("killed-with-server")
    client.restart(kill=True)
    d = client().describe_training_job(TrainingJobName="killed-with-server")
    assert d["TrainingJobStatus"] == "Failed" and "restarted" in d["FailureReason"]
