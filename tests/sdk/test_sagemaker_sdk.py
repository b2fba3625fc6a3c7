"""The real SageMaker Python SDK (v2.230.0, from ../shared/sagemaker-sdk), unmodified, runs the
seed's workflow against cairn server and the S3 test server; only the session line differs:

    session = cairn_sagemaker.session(...)        # instead of sagemaker.Session()
    role = sagemaker.get_execution_role(session)  # STS GetCallerIdentity, IAM GetRole
    estimator = PyTorch(entry_point="train.py", ...); estimator.fit(...)   # logs=True: Logs API
    estimator.model_data                          # <output_path>/<job>/output/model.tar.gz
    PyTorchModel(model_data, entry_point="inference.py", ...).deploy(...)  # repacked archive
    predictor.predict(...)"""
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SDK = os.path.join(os.path.dirname(ROOT), "shared", "sagemaker-sdk")
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
EXAMPLE = os.path.join(ROOT, "examples", "simple")
# One identity for cairn server and the S3 server, as one AWS account has for every service.
KEY = os.environ.get("AWS_ACCESS_KEY_ID", "cairn-sdk-key")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "cairn-sdk-secret")

if not os.path.isdir(os.path.join(SDK, "sagemaker")):
    pytest.skip(f"the SageMaker SDK is not at {SDK} (a checkout without ../shared)",
                allow_module_level=True)
sys.path.insert(0, SDK)
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ["AWS_DATA_PATH"] = os.path.join(SDK, "botocore-data")

import boto3  # noqa: E402
import torch  # noqa: E402
import cairn_sagemaker  # noqa: E402
import sagemaker  # noqa: E402
from sagemaker.pytorch import PyTorch, PyTorchModel  # noqa: E402

sys.path.insert(0, EXAMPLE)
from inference import SimpleModel  # noqa: E402

S3 = os.environ.get("CAIRN_TEST_S3_ENDPOINT")
BUCKET = os.environ.get("CAIRN_TEST_S3_BUCKET", "cairn-test")
KMS_KEY = os.environ.get("CAIRN_TEST_S3_KMS_KEY_ID")


@pytest.fixture
def server(tmp_path):
    if not S3:
        pytest.skip("needs the S3 test server (CAIRN_TEST_S3_ENDPOINT; ctest starts it)")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, CAIRN_SERVER_ACCESS_KEY=KEY, CAIRN_SERVER_SECRET_KEY=SECRET)
    proc = subprocess.Popen([CAIRN, "server", "--store", str(tmp_path / "store"), "--port", str(port),
                             "--work-dir", str(tmp_path / "work"),
                             "--role-arn", "arn:aws:iam::000000000000:role/SageMakerRole"], env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=120)


def make_session(url):
    # The one line a SageMaker user changes.
    return cairn_sagemaker.session(url, s3_endpoint=S3, bucket=BUCKET, aws_access_key_id=KEY,
                                   aws_secret_access_key=SECRET, s3_kms_key_id=KMS_KEY)


def upload_data(tmp_path, prefix):
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), tmp_path / "data", "--rows", "300"],
                   check=True, capture_output=True)
    s3 = boto3.client("s3", endpoint_url=S3)
    s3.upload_file(str(tmp_path / "data" / "train" / "train.csv"), BUCKET, f"{prefix}/train/train.csv")
    return f"s3://{BUCKET}/{prefix}/train"


def trained_estimator(server, tmp_path, **kwargs):
    """The SDK session, its role, an S3 prefix with the example's data, and an unfitted PyTorch
    estimator for examples/simple/train.py (2 epochs unless `hyperparameters` says otherwise)."""
    session = make_session(server)
    role = sagemaker.get_execution_role(session)
    prefix = f"sdk-{uuid.uuid4().hex[:8]}"
    train = upload_data(tmp_path, prefix)
    kwargs.setdefault("hyperparameters", {"epochs": 2})
    estimator = PyTorch(entry_point="train.py", source_dir=EXAMPLE, role=role, instance_count=1,
                        instance_type="ml.m5.large", framework_version="1.13.1", py_version="py39",
                        output_path=f"s3://{BUCKET}/{prefix}/jobs", sagemaker_session=session,
                        **kwargs)
    return session, role, prefix, train, estimator


def test_the_seeds_workflow_with_the_real_sdk(server, tmp_path, capfd):
    session = make_session(server)
    role = sagemaker.get_execution_role(session)
    assert role == "arn:aws:iam::000000000000:role/SageMakerRole"
    assert session.default_bucket() == BUCKET
    prefix = f"sdk-{uuid.uuid4().hex[:8]}"
    train = upload_data(tmp_path, prefix)
    estimator = PyTorch(entry_point="train.py", source_dir=EXAMPLE, role=role, instance_count=1,
                        instance_type="ml.m5.large", framework_version="1.13.1", py_version="py39",
                        hyperparameters={"epochs": 3}, output_path=f"s3://{BUCKET}/{prefix}/jobs",
                        metric_definitions=[{"Name": "train:loss", "Regex": "train_loss=([0-9.]+)"}],
                        sagemaker_session=session)
    estimator.fit({"train": train})  # logs=True, wait=True: the defaults
    out = capfd.readouterr().out
    assert "epoch" in out.lower(), out  # the job's own lines, read through CloudWatch Logs
    job = estimator.latest_training_job.name
    assert estimator.model_data == f"s3://{BUCKET}/{prefix}/jobs/{job}/output/model.tar.gz"
    # The metric series, through CloudWatch's GetMetricStatistics, as a pandas frame.
    frame = estimator.training_job_analytics.dataframe()
    assert list(frame["metric_name"].unique()) == ["train:loss"] and len(frame) >= 1, frame
    assert (frame["value"] > 0).all()

    model = PyTorchModel(model_data=estimator.model_data, role=role, entry_point="inference.py",
                         source_dir=EXAMPLE, framework_version="1.13.1", py_version="py39",
                         sagemaker_session=session)
    predictor = model.deploy(instance_type="ml.m5.large", initial_instance_count=1)
    try:
        predictor.serializer = sagemaker.serializers.JSONSerializer()
        predictor.deserializer = sagemaker.deserializers.JSONDeserializer()
        x = torch.randn(4, 10)
        got = torch.tensor(predictor.predict(x.tolist()))
        # The same weights, loaded with PyTorch from the artifact, answer the same.
        local = tmp_path / "artifact"
        local.mkdir()
        sagemaker.s3.S3Downloader.download(estimator.model_data, str(local), sagemaker_session=session)
        subprocess.run(["tar", "xzf", local / "model.tar.gz", "-C", local], check=True)
        m = SimpleModel()
        m.load_state_dict(torch.load(local / "model.pth"))
        m.eval()
        assert torch.allclose(got, m(x).detach(), atol=1e-5)
        # NPY both ways, as sagemaker.serializers.NumpySerializer sends it.
        predictor.serializer = sagemaker.serializers.NumpySerializer()
        predictor.deserializer = sagemaker.deserializers.NumpyDeserializer()
        got_npy = predictor.predict(x.numpy())
        assert got_npy.shape == (4, 1)
        assert torch.allclose(torch.from_numpy(got_npy).float(), m(x).detach(), atol=1e-5)
    finally:
        predictor.delete_endpoint()


def test_attach_deploy_from_the_estimator_and_clean_up(server, tmp_path):
    session, role, prefix, train, estimator = trained_estimator(
        server, tmp_path, tags=[{"Key": "team", "Value": "a"}])
    estimator.fit({"train": train}, wait=False)
    job = estimator.latest_training_job.name
    # attach gives back the estimator that trained, once the job is done.
    attached = PyTorch.attach(job, sagemaker_session=session)
    assert attached.framework_version == "1.13.1" and attached.py_version == "py39"
    assert attached.instance_type == "ml.m5.large" and attached.instance_count == 1
    assert attached.role == role
    assert attached.hyperparameters()["epochs"] == "2"
    assert attached.output_path == f"s3://{BUCKET}/{prefix}/jobs"
    assert attached.model_data == estimator.model_data
    tags = session.sagemaker_client.list_tags(ResourceArn=attached.latest_training_job.describe()["TrainingJobArn"])
    assert {"Key": "team", "Value": "a"} in tags["Tags"]
    # estimator.deploy(): the model straight from the training job, its inference.py alongside.
    predictor = attached.deploy(instance_type="ml.m5.large", initial_instance_count=1,
                                entry_point="inference.py", source_dir=EXAMPLE)
    predictor.serializer = sagemaker.serializers.CSVSerializer()
    predictor.deserializer = sagemaker.deserializers.CSVDeserializer()
    rows = predictor.predict([[0.5] * 10, [1.0] * 10])
    assert len(rows) == 2 and all(len(r) == 1 for r in rows), rows
    # update_endpoint copies the configuration (and its tags, with ListTags) and moves to it.
    before = session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)
    predictor.update_endpoint(initial_instance_count=1, instance_type="ml.m5.large")
    after = session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    assert predictor.predict([[0.5] * 10]) == rows[:1]
    predictor.delete_model()
    predictor.delete_endpoint()
    names = [e["EndpointName"] for e in session.sagemaker_client.list_endpoints()["Endpoints"]]
    assert predictor.endpoint_name not in names


def test_register_approve_and_deploy_a_model_package(server, tmp_path):
    session, role, prefix, train, estimator = trained_estimator(server, tmp_path)
    estimator.fit({"train": train}, logs=False)
    session.sagemaker_client.create_model_package_group(ModelPackageGroupName="simple-models")
    model = PyTorchModel(model_data=estimator.model_data, role=role, entry_point="inference.py",
                         source_dir=EXAMPLE, framework_version="1.13.1", py_version="py39",
                         sagemaker_session=session)
    package = model.register(content_types=["application/json"], response_types=["application/json"],
                             inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
                             model_package_group_name="simple-models",
                             approval_status="PendingManualApproval")
    arn = package.model_package_arn
    assert session.sagemaker_client.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == \
        "PendingManualApproval"
    session.sagemaker_client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    approved = session.sagemaker_client.list_model_packages(ModelPackageGroupName="simple-models",
                                                           ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [arn]
    predictor = sagemaker.ModelPackage(role=role, model_package_arn=arn, sagemaker_session=session).deploy(
        instance_type="ml.m5.large", initial_instance_count=1)
    try:
        p = sagemaker.predictor.Predictor(predictor.endpoint_name if predictor else
                                          session.sagemaker_client.list_endpoints()["Endpoints"][0]["EndpointName"],
                                          sagemaker_session=session,
                                          serializer=sagemaker.serializers.JSONSerializer(),
                                          deserializer=sagemaker.deserializers.JSONDeserializer())
        got = p.predict([[0.25] * 10])
        assert len(got) == 1 and len(got[0]) == 1, got
    finally:
        for e in session.sagemaker_client.list_endpoints()["Endpoints"]:
            session.sagemaker_client.delete_endpoint(EndpointName=e["EndpointName"])


def test_batch_transform_from_the_estimator_and_a_transformer(server, tmp_path):
    """estimator.transformer(...).transform(...) (wait and logs: the SDK follows the job in
    CloudWatch Logs), then sagemaker.transformer.Transformer on the model it made; each output
    line equals PyTorch's answer for its input line."""
    import numpy as np
    session, role, prefix, train, estimator = trained_estimator(server, tmp_path)
    estimator.fit({"train": train}, logs=False)
    x = np.random.default_rng(3).standard_normal((500, 10)).astype(np.float32)
    np.savetxt(tmp_path / "features.csv", x, delimiter=",", fmt="%.6f")
    x = np.loadtxt(tmp_path / "features.csv", delimiter=",", dtype=np.float32)
    data = sagemaker.s3.S3Uploader.upload(str(tmp_path / "features.csv"), f"s3://{BUCKET}/{prefix}/batch-in",
                                          sagemaker_session=session)
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.large", strategy="MultiRecord",
                                        assemble_with="Line", accept="text/csv", max_payload=1,
                                        output_path=f"s3://{BUCKET}/{prefix}/batch-out",
                                        entry_point=os.path.join(EXAMPLE, "inference.py"))
    transformer.transform(data, content_type="text/csv", split_type="Line")  # wait=True, logs=True
    local = tmp_path / "artifact"
    local.mkdir()
    sagemaker.s3.S3Downloader.download(estimator.model_data, str(local), sagemaker_session=session)
    subprocess.run(["tar", "xzf", local / "model.tar.gz", "-C", local], check=True)
    m = SimpleModel()
    m.load_state_dict(torch.load(local / "model.pth"))
    with torch.no_grad():
        want = m(torch.from_numpy(x))[:, 0]

    def output_of(path):
        text = sagemaker.s3.S3Downloader.read_file(f"{path}/features.csv.out", sagemaker_session=session)
        return torch.tensor([float(v) for v in text.splitlines()])

    got = output_of(transformer.output_path)
    assert len(got) == 500 and torch.allclose(got, want, atol=1e-5)
    # A Transformer for the model the first job made, SingleRecord this time.
    again = sagemaker.transformer.Transformer(model_name=transformer.model_name, instance_count=1,
                                              instance_type="ml.m5.large", strategy="SingleRecord",
                                              assemble_with="Line", accept="text/csv",
                                              output_path=f"s3://{BUCKET}/{prefix}/batch-out-2",
                                              max_concurrent_transforms=4, sagemaker_session=session)
    again.transform(data, content_type="text/csv", split_type="Line", logs=False)
    assert torch.allclose(output_of(again.output_path), want, atol=1e-5)
    job = session.sagemaker_client.describe_transform_job(TransformJobName=again.latest_transform_job.name)
    assert job["TransformJobStatus"] == "Completed" and job["BatchStrategy"] == "SingleRecord"
