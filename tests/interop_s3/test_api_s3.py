"""cairn server + boto3 + the S3 test server: the SageMaker SDK's way to train (sourcedir.tar.gz
and data in S3, CreateTrainingJob, boto3's training_job_completed_or_stopped waiter, the model
artifact read back from S3 and loaded with torch.load), a built-in image, and a server restart."""
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
ENDPOINT = os.environ["CAIRN_TEST_S3_ENDPOINT"]
BUCKET = os.environ.get("CAIRN_TEST_S3_BUCKET", "cairn-test")
EXAMPLE = os.path.join(ROOT, "examples", "simple")
KEY, SECRET = "cairn-api-key", "cairn-api-secret"


def start(store, work, port):
    env = dict(os.environ, CAIRN_SERVER_ACCESS_KEY=KEY, CAIRN_SERVER_SECRET_KEY=SECRET)
    proc = subprocess.Popen([CAIRN, "server", "--store", store, "--port", str(port), "--work-dir", work],
                            env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("cairn server did not start")


def test_create_training_job_the_sdk_way(tmp_path):
    base = f"train-api-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=ENDPOINT)
    src = io.BytesIO()
    with tarfile.open(fileobj=src, mode="w:gz") as t:
        t.add(os.path.join(EXAMPLE, "train.py"), arcname="train.py")
        t.add(os.path.join(EXAMPLE, "inference.py"), arcname="inference.py")
    s3.put_object(Bucket=BUCKET, Key=f"{base}/source/sourcedir.tar.gz", Body=src.getvalue())
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), tmp_path / "data", "--rows", "300"],
                   check=True, capture_output=True)
    for name in ("train", "validation"):
        s3.upload_file(str(tmp_path / "data" / name / f"{name}.csv"), BUCKET, f"{base}/data/{name}/{name}.csv")
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    port_n = port.getsockname()[1]
    port.close()
    store, work = str(tmp_path / "store"), str(tmp_path / "work")
    server = start(store, work, port_n)
    sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{port_n}", region_name="us-east-1",
                      aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      config=botocore.config.Config(retries={"max_attempts": 1}))
    common = dict(RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
                  ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
                  StoppingCondition={"MaxRuntimeInSeconds": 600},
                  OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{base}/output"})
    try:
        arn = sm.create_training_job(
            TrainingJobName=f"{base}-pytorch",
            AlgorithmSpecification={
                "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:1.13.1-cpu-py39",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"}]},
            HyperParameters={"epochs": "4", "lr": "0.05", "sagemaker_program": json.dumps("train.py"),
                             "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/{base}/source/sourcedir.tar.gz")},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{base}/data/train",
                "S3DataDistributionType": "FullyReplicated"}}}],
            CheckpointConfig={"S3Uri": f"s3://{BUCKET}/{base}/checkpoints"}, **common)["TrainingJobArn"]
        assert arn.endswith(f":training-job/{base}-pytorch")
        with pytest.raises(botocore.exceptions.ClientError) as e:  # names are never reused
            sm.create_training_job(TrainingJobName=f"{base}-pytorch",
                                   AlgorithmSpecification={"TrainingImage": "pytorch-training", "TrainingInputMode": "File"},
                                   HyperParameters={"sagemaker_program": '"train.py"',
                                                    "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/{base}/source/sourcedir.tar.gz")},
                                   **common)
        assert e.value.response["Error"]["Code"] == "ResourceInUse"
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=f"{base}-pytorch", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        d = sm.describe_training_job(TrainingJobName=f"{base}-pytorch")
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        artifact = d["ModelArtifacts"]["S3ModelArtifacts"]
        assert artifact == f"s3://{BUCKET}/{base}/output/{base}-pytorch/output/model.tar.gz"
        assert d["FinalMetricDataList"][0]["MetricName"] == "train:loss"
        obj = s3.get_object(Bucket=BUCKET, Key=artifact.split(BUCKET + "/", 1)[1])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(obj)) as t:
            sd = torch.load(io.BytesIO(t.extractfile("model.pth").read()))
        assert sd["linear.weight"].shape == (1, 10)
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{base}/checkpoints/")
        assert any(o["Key"].endswith("checkpoint-00004.pth") for o in listed.get("Contents", []))
        # Deploy the artifact as the SDK's PyTorchModel(model_data, entry_point="inference.py") does.
        source = f"s3://{BUCKET}/{base}/source/sourcedir.tar.gz"
        sm.create_model(ModelName=f"{base}-model", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                        PrimaryContainer={"Image": "pytorch-inference:1.13-cpu", "ModelDataUrl": artifact,
                                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                          "SAGEMAKER_SUBMIT_DIRECTORY": source}})
        sm.create_endpoint_config(EndpointConfigName=f"{base}-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"{base}-model", "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName=f"{base}-ep", EndpointConfigName=f"{base}-config")
        sm.get_waiter("endpoint_in_service").wait(EndpointName=f"{base}-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        rt = boto3.client("sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{port_n}", region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)
        x = torch.randn(2, 10)
        body = rt.invoke_endpoint(EndpointName=f"{base}-ep", ContentType="application/json",
                                  Body=json.dumps(x.tolist()))["Body"].read()
        want = torch.nn.functional.linear(x, sd["linear.weight"], sd["linear.bias"])
        assert torch.allclose(torch.tensor(json.loads(body)), want, atol=1e-6)
        # A second version, trained the same way; the endpoint moves to it while a loop invokes,
        # then rolls back: no invocation fails.
        job2 = dict(
            AlgorithmSpecification={"TrainingImage": "pytorch-training:1.13.1-cpu-py39", "TrainingInputMode": "File"},
            HyperParameters={"epochs": "8", "lr": "0.05", "sagemaker_program": json.dumps("train.py"),
                             "sagemaker_submit_directory": json.dumps(source)},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{base}/data/train"}}}], **common)
        sm.create_training_job(TrainingJobName=f"{base}-pytorch-2", **job2)
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=f"{base}-pytorch-2", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        artifact2 = sm.describe_training_job(TrainingJobName=f"{base}-pytorch-2")["ModelArtifacts"]["S3ModelArtifacts"]
        sm.create_model(ModelName=f"{base}-model-2", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                        PrimaryContainer={"Image": "pytorch-inference:1.13-cpu", "ModelDataUrl": artifact2,
                                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                          "SAGEMAKER_SUBMIT_DIRECTORY": source}})
        sm.create_endpoint_config(EndpointConfigName=f"{base}-config-2", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"{base}-model-2", "InitialInstanceCount": 1}])
        answers, stop = [], threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    answers.append(json.loads(rt.invoke_endpoint(
                        EndpointName=f"{base}-ep", ContentType="application/json",
                        Body=json.dumps(x.tolist()))["Body"].read()))
                except Exception as e:  # any failure counts
                    answers.append(e)

        t = threading.Thread(target=loop)
        t.start()
        try:
            for config in (f"{base}-config-2", f"{base}-config"):
                sm.update_endpoint(EndpointName=f"{base}-ep", EndpointConfigName=config)
                sm.get_waiter("endpoint_in_service").wait(EndpointName=f"{base}-ep",
                                                          WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        finally:
            stop.set()
            t.join(timeout=60)
        assert not [a for a in answers if isinstance(a, Exception)]
        assert len({json.dumps(a) for a in answers}) == 2  # both versions answered
        # Register the artifact in a model package group and approve it.
        sm.create_model_package_group(ModelPackageGroupName=f"{base}-group")
        pkg = sm.create_model_package(ModelPackageGroupName=f"{base}-group", InferenceSpecification={
            "Containers": [{"Image": "pytorch-inference:1.13-cpu", "ModelDataUrl": artifact}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]})
        sm.update_model_package(ModelPackageArn=pkg["ModelPackageArn"], ModelApprovalStatus="Approved")
        assert sm.describe_model_package(ModelPackageName=pkg["ModelPackageArn"])["ModelApprovalStatus"] == "Approved"
        # A built-in image: the linear learner.
        sm.create_training_job(
            TrainingJobName=f"{base}-ll",
            AlgorithmSpecification={"TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
                                    "TrainingInputMode": "File"},
            HyperParameters={"epochs": "3", "learning_rate": "0.1", "mini_batch_size": "50",
                             "predictor_type": "regressor"},
            InputDataConfig=[{"ChannelName": c, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{base}/data/{c}"}}} for c in ("train", "validation")],
            **common)
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=f"{base}-ll", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        d = sm.describe_training_job(TrainingJobName=f"{base}-ll")
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        assert {m["MetricName"] for m in d["FinalMetricDataList"]} == {"train_loss", "validation_loss"}
        # An image cairn has no runtime for is refused, and nothing runs.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_training_job(TrainingJobName=f"{base}-x", AlgorithmSpecification={
                "TrainingImage": "xgboost:1", "TrainingInputMode": "File"}, **common)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # After a restart the server knows the jobs.
    server = start(store, work, port_n)
    try:
        names = [s["TrainingJobName"] for s in sm.list_training_jobs(SortBy="Name")["TrainingJobSummaries"]]
        assert names == [f"{base}-ll", f"{base}-pytorch", f"{base}-pytorch-2"]
        sm.get_waiter("endpoint_in_service").wait(EndpointName=f"{base}-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        body = rt.invoke_endpoint(EndpointName=f"{base}-ep", ContentType="application/json",
                                  Body=json.dumps(x.tolist()))["Body"].read()
        assert torch.allclose(torch.tensor(json.loads(body)), want, atol=1e-6)
        assert sm.list_model_packages(ModelPackageGroupName=f"{base}-group")["ModelPackageSummaryList"][0][
            "ModelApprovalStatus"] == "Approved"
    finally:
        server.terminate()
        server.wait(timeout=30)
