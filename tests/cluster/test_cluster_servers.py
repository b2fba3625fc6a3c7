"""Two cairn servers on one S3 store (issue 13): either answers any call; the one that runs an
endpoint or a job holds its lease; killed mid-job, its training job (still running on Slurm) and
its endpoint are taken over by the other within the lease time."""
import json
import os
import signal
import subprocess
import tarfile
import time

import boto3

from conftest import CAIRN

from test_cluster_endpoints import publish, start_server

HERE = os.path.dirname(__file__)
LEASE = 6


def lease(cluster, kind, name):
    out = subprocess.run([CAIRN, "cat", f"{cluster['store']}/api/leases/{kind}/{name}.json"],
                         env=cluster["env"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_the_other_server_takes_a_dead_servers_job_and_endpoint_over(cluster, tmp_path):
    a, client_a, _ = start_server(cluster, tmp_path, "server-a", LEASE)
    b, client_b, _ = start_server(cluster, tmp_path, "server-b", LEASE)
    try:
        sm_a, sm_b, rt_b = client_a(), client_b(), client_b("sagemaker-runtime")
        # The code, as the SageMaker SDK uploads it.
        with tarfile.open(tmp_path / "sourcedir.tar.gz", "w:gz") as t:
            t.add(os.path.join(HERE, "scripts", "dist_train.py"), arcname="dist_train.py")
        s3 = boto3.client("s3", endpoint_url=cluster["env"]["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=cluster["env"]["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=cluster["env"]["AWS_SECRET_ACCESS_KEY"])
        s3.upload_file(str(tmp_path / "sourcedir.tar.gz"), "cairn", "code/sourcedir.tar.gz")
        sm_a.create_training_job(
            TrainingJobName="takeover-1", RoleArn="arn:aws:iam::000000000000:role/R",
            AlgorithmSpecification={"TrainingImage": "pytorch-training:1.13", "TrainingInputMode": "File"},
            HyperParameters={"sagemaker_program": '"dist_train.py"',
                             "sagemaker_submit_directory": '"s3://cairn/code/sourcedir.tar.gz"',
                             "epochs": "70", "sleep": "0.4"},
            ResourceConfig={"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
            OutputDataConfig={"S3OutputPath": "s3://cairn/output"},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
        ref, _ = publish(cluster, tmp_path, 7)
        subprocess.run([CAIRN, "models", "alias", "simple", "prod", ref.split(":")[1], "--store", cluster["store"]],
                       env=cluster["env"], check=True, capture_output=True)
        sm_a.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                          PrimaryContainer={"Image": "pytorch-inference:1.13", "ModelDataUrl": "cairn://simple@prod",
                                            "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        sm_a.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        sm_a.create_endpoint(EndpointName="shared", EndpointConfigName="c")
        # Server B answers for what A runs: describe, and requests passed on to A's instances.
        sm_b.get_waiter("endpoint_in_service").wait(EndpointName="shared", WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        body = json.dumps([[0.5] * 10])
        r = rt_b.invoke_endpoint(EndpointName="shared", ContentType="application/json", Body=body)
        expected = r["Body"].read()
        assert lease(cluster, "endpoint", "shared")["owner"] == "server-a"
        assert lease(cluster, "training-job", "takeover-1")["owner"] == "server-a"
        for _ in range(120):
            if sm_b.describe_training_job(TrainingJobName="takeover-1")["SecondaryStatus"] == "Training":
                break
            time.sleep(0.5)
        time.sleep(3)

        killed = time.time()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        # B takes both over within the lease time (and one renewal period).
        took = {}
        deadline = time.time() + 60
        while time.time() < deadline and len(took) < 2:
            for kind, name in (("endpoint", "shared"), ("training-job", "takeover-1")):
                l = lease(cluster, kind, name)
                if kind not in took and l and l["owner"] == "server-b":
                    took[kind] = time.time() - killed
            time.sleep(0.2)
        print(f"server B took over: {took} (lease {LEASE} s)")
        assert set(took) == {"endpoint", "training-job"}, took
        assert max(took.values()) <= LEASE + LEASE / 3 + 3, took
        sm_b.get_waiter("endpoint_in_service").wait(EndpointName="shared", WaiterConfig={"Delay": 1, "MaxAttempts": 180})
        r = rt_b.invoke_endpoint(EndpointName="shared", ContentType="application/json", Body=body)
        assert r["Body"].read() == expected
        for _ in range(240):
            job = sm_b.describe_training_job(TrainingJobName="takeover-1")
            if job["TrainingJobStatus"] != "InProgress":
                break
            time.sleep(0.5)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        jobs = subprocess.run([CAIRN, "jobs", "--store", cluster["store"], "describe", "takeover-1", "--json"],
                              env=cluster["env"], capture_output=True, text=True)
        record = json.loads(jobs.stdout)
        assert record["runner"].endswith("server-server-b"), record["runner"]
        assert record["model_version"]
        # One version from the job, not two.
        versions = json.loads(subprocess.run([CAIRN, "models", "--store", cluster["store"], "versions", "dist_train",
                                              "--json"], env=cluster["env"], capture_output=True, text=True).stdout)
        assert len([v for v in versions if "takeover-1" in json.dumps(v)]) == 1, versions
        sm_b.delete_endpoint(EndpointName="shared")
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=200)
