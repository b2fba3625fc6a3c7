"""The seed's three examples (../shared/seed), run with the real SageMaker SDK against cairn
server and the S3 test server. The seed's code is kept as written; what differs:
  - one line first, cairn_sagemaker.install(...), which makes cairn the default for every session
    and client the code makes by itself (sagemaker.get_execution_role(), PyTorch(...) without a
    session, boto3.client('s3'));
  - the scripts' "..." are filled in: train.py defines SimpleModel, trains a few steps, and takes
    --model-dir from SM_MODEL_DIR by default (SageMaker passes only hyperparameters as
    arguments, and the seed gives none); inference.py is a handler (model_fn), as SageMaker's
    PyTorch serving imports it; the seed's argparse inference script cannot be served anywhere;
  - example 3's fit({'model_dir': prefix}) is refused by the SDK itself, before any call (a
    channel must be an s3:// or file:// URI), and its model_data points at a bare model.pth,
    which the SDK cannot repack (it must be a model.tar.gz). Both are asserted as the SDK's own
    errors; the example's intent, a versioned prefix per training run, is then run as SageMaker
    expresses it: output_path under the prefix, model_data the model.tar.gz beneath it."""
import os
import time

import boto3
import numpy as np
import pytest
import torch

from test_sagemaker_sdk import KEY, KMS_KEY, S3, SECRET, server  # noqa: F401  (the fixture)

import cairn_sagemaker  # noqa: E402  (test_sagemaker_sdk put python/ and the SDK on the path)

TRAIN_PY = '''
import os
import torch
import torch.nn as nn
import torch.optim as optim
import argparse


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


parser = argparse.ArgumentParser()
parser.add_argument('--model-dir', type=str, default=os.environ['SM_MODEL_DIR'])
args = parser.parse_args()

model = SimpleModel()
optimizer = optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(64, 10)
y = x.sum(1, keepdim=True)
for step in range(20):
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    print(f"step={step} loss={loss.item():.4f}")

torch.save(model.state_dict(), args.model_dir + '/model.pth')
'''

INFERENCE_PY = '''
import torch
import torch.nn as nn


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


def model_fn(model_dir):
    model = SimpleModel()
    model.load_state_dict(torch.load(model_dir + '/model.pth'))
    model.eval()
    return model
'''


def local_model(model_data, tmp):
    """The weights in a model.tar.gz on S3, loaded with PyTorch."""
    import sagemaker
    import subprocess
    d = tmp / f"dl-{time.monotonic_ns()}"
    d.mkdir()
    sagemaker.s3.S3Downloader.download(model_data, str(d))
    subprocess.run(["tar", "xzf", d / "model.tar.gz", "-C", d], check=True)
    sd = torch.load(d / "model.pth")
    m = torch.nn.Linear(10, 1)
    m.load_state_dict({k.removeprefix("linear."): v for k, v in sd.items()})
    return m.eval()


def test_the_seeds_three_examples(server, tmp_path, monkeypatch):  # noqa: F811
    if not KMS_KEY:
        pytest.skip("the S3 test server has no KMS key (CAIRN_TEST_S3_KMS_KEY_ID)")
    monkeypatch.chdir(tmp_path)  # the seed's entry_point='train.py', source_dir='.'
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # install() sets it; undone after
    (tmp_path / "train.py").write_text(TRAIN_PY)
    (tmp_path / "inference.py").write_text(INFERENCE_PY)
    x = np.random.randn(4, 10).astype(np.float32)

    # The one line the seed's code gains.
    cairn_sagemaker.install(server, s3_endpoint=S3, aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET, s3_kms_key_id=KMS_KEY)

    # Example 1, as written.
    import sagemaker
    from sagemaker.pytorch import PyTorch

    role = sagemaker.get_execution_role()
    estimator = PyTorch(entry_point='train.py', role=role, instance_count=1, instance_type='ml.m5.large', framework_version='1.13.1', py_version='py39')  # noqa: E501
    estimator.fit({})

    model_data = estimator.model_data
    print(f"Model data location: {model_data}")
    account_bucket = "sagemaker-us-east-1-000000000000"  # the SDK's default_bucket(), as on AWS
    assert model_data.startswith(f"s3://{account_bucket}/") and model_data.endswith("/output/model.tar.gz")

    # Example 2, as written.
    from sagemaker.pytorch import PyTorchModel
    from sagemaker.predictor import Predictor  # noqa: F401

    model = PyTorchModel(model_data=estimator.model_data, role=role, entry_point='inference.py', source_dir='.', framework_version='1.13.1', py_version='py39')  # noqa: E501
    predictor = model.deploy(instance_type='ml.m5.large', initial_instance_count=1)
    try:
        got = predictor.predict(x)  # PyTorchPredictor: NPY both ways
        want = local_model(model_data, tmp_path)(torch.from_numpy(x)).detach().numpy()
        assert np.allclose(got, want, atol=1e-5), (got, want)

        # Example 3, as written: the SDK refuses the channel before it calls anything.
        s3 = boto3.client('s3')
        bucket = account_bucket  # 'your-s3-bucket': "Replace with your S3 bucket name"
        prefix = f'models/model-{time.strftime("%Y%m%d%H%M%S")}'
        with pytest.raises(ValueError, match="must be a valid S3 or FILE URI"):
            estimator.fit({'model_dir': prefix})
        # Its intent, a versioned prefix per run: the next run's output goes under the prefix.
        versioned = PyTorch(entry_point='train.py', role=role, instance_count=1, instance_type='ml.m5.large', framework_version='1.13.1', py_version='py39',  # noqa: E501
                            output_path=f"s3://{bucket}/{prefix}")
        versioned.fit({})
        assert versioned.model_data.startswith(f"s3://{bucket}/{prefix}/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
        assert any(k.endswith("/output/model.tar.gz") for k in keys), keys
        # The seed's model_data=".../model.pth" is not an archive; the SDK's repack cannot read it.
        import tarfile
        with pytest.raises(tarfile.ReadError):
            s3.put_object(Bucket=bucket, Key=f"{prefix}/model.pth", Body=b"PK\x03\x04 not a tar")
            PyTorchModel(model_data=f"s3://{bucket}/{prefix}/model.pth", role=role, entry_point='inference.py', source_dir='.', framework_version='1.13.1', py_version='py39').deploy(instance_type='ml.m5.large', initial_instance_count=1)  # noqa: E501
        v2 = PyTorchModel(model_data=versioned.model_data, role=role, entry_point='inference.py', source_dir='.', framework_version='1.13.1', py_version='py39')  # noqa: E501
        predictor2 = v2.deploy(instance_type='ml.m5.large', initial_instance_count=1)
        try:
            want2 = local_model(versioned.model_data, tmp_path)(torch.from_numpy(x)).detach().numpy()
            assert np.allclose(predictor2.predict(x), want2, atol=1e-5)
            # Both versions stay: the first endpoint still answers with the first run's weights.
            assert np.allclose(predictor.predict(x), want, atol=1e-5)
            assert not np.allclose(want, want2, atol=1e-5)
        finally:
            predictor2.delete_endpoint()
    finally:
        predictor.delete_endpoint()
