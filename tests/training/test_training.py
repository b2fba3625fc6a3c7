"""cairn train with real PyTorch: the training contract as SageMaker's toolkit applies it, job
outcomes (Completed, Failed, Stopped, MaxRuntimeExceeded), checkpoints that survive kill -9,
torch.distributed across two hosts, the built-in linear learner, and what a job leaves behind."""
import json
import os
import signal
import subprocess
import tarfile
import time

import torch

from conftest import EXAMPLE, SCRIPTS

TOOLKIT_KEYS = {"sagemaker_program", "sagemaker_submit_directory", "sagemaker_container_log_level",
                "sagemaker_job_name", "sagemaker_region", "sagemaker_s3_output"}


def decode(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def toolkit_args(hps):
    """sagemaker_training.mapping.to_cmd_args over the toolkit's decoded hyperparameters."""
    out = []
    for k in sorted(hps):
        if k in TOOLKIT_KEYS:
            continue
        v = decode(hps[k])
        out.append(("--" if len(k) > 1 else "-") + k)
        if v is None:
            out.append("")
        elif isinstance(v, dict):
            out.append(",".join(f"{a}={b}" for a, b in sorted(v.items())))
        else:
            out.append(str(v))
    return out


def test_example_trains_and_its_version_loads(env):
    job, _ = env.train(os.path.join(EXAMPLE, "train.py"), "-c", f"train={env.data}/train",
                       "-p", "epochs=5", "-p", "lr=0.05",
                       "--metric-definition", r"train_loss=train_loss=([0-9.]+)")
    assert job["status"] == "Completed" and job["secondary_status"] == "Completed"
    assert [t["status"] for t in job["transitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["model_version"] == "train:1" and job["model_data"] == "train:1"
    assert job["final_metrics"]["train_loss"] < 1.0
    assert len([m for m in job["metrics"] if m["name"] == "train_loss"]) == 5
    saved = os.path.join(env.workspace(job), "model", "model.pth")
    out = os.path.join(env.tmp, "restored")
    env.cairn("models", "--store", env.store, "restore", "train:1", out)
    assert open(os.path.join(out, "model.pth"), "rb").read() == open(saved, "rb").read()
    sd = torch.load(os.path.join(out, "model.pth"))
    assert sorted(sd) == ["linear.bias", "linear.weight"] and sd["linear.weight"].shape == (1, 10)
    desc = json.loads(env.cairn("models", "--store", env.store, "describe", "train:1").stdout)
    lineage = desc["lineage"]
    assert lineage["training_job"] == job["name"] and lineage["entry_point"] == "train.py"
    assert json.loads(lineage["hyperparameters"]) == {"epochs": "5", "lr": "0.05"}
    assert len(lineage["code_sha256"]) == 64 and len(lineage["channel.train.sha256"]) == 64
    assert float(desc["metrics"]["train_loss"]) == job["final_metrics"]["train_loss"]
    # The job record and its log are in the store, for any machine that shares it.
    listed = json.loads(env.cairn("jobs", "--store", env.store, "list", "--json").stdout)
    assert [j["name"] for j in listed] == [job["name"]]
    log = env.cairn("jobs", "--store", env.store, "logs", job["name"]).stdout
    assert "epoch=5 train_loss=" in log and "saved" in log


def test_contract_reaches_the_script_as_the_toolkit_passes_it(env):
    hps = {"epochs": "5", "lr": "0.1", "name": '"quoted"', "plain": "not json", "flag": "true",
           "none": "null", "x": "1", "lst": '[1, "a", 2.5]', "cfg": '{"b": 2, "a": "x"}',
           "big": "1e3", "sagemaker_program": "probe.py"}
    args = []
    for k, v in hps.items():
        args += ["-p", f"{k}={v}"]
    job, _ = env.train(os.path.join(SCRIPTS, "probe.py"), *args, "-c", f"train={env.data}/train",
                       "-c", f"validation={env.data}/validation", "-e", "MY_VAR=hello",
                       "--job-name", "probe-job")
    assert job["status"] == "Completed", job["failure_reason"]
    ws = env.workspace(job)
    probe = json.load(open(os.path.join(ws, "model", "probe.json")))
    assert probe["argv"] == toolkit_args(hps)
    e = probe["env"]
    decoded = {k: decode(v) for k, v in hps.items() if k not in TOOLKIT_KEYS}
    assert json.loads(e["SM_HPS"]) == decoded
    for k, v in decoded.items():
        want = v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
        assert e["SM_HP_" + k.upper()] == want, k
    assert e["SM_MODEL_DIR"] == os.path.join(ws, "model")
    assert e["SM_OUTPUT_DATA_DIR"] == os.path.join(ws, "output", "data")
    assert e["SM_INPUT_CONFIG_DIR"] == os.path.join(ws, "input", "config")
    assert json.loads(e["SM_CHANNELS"]) == ["train", "validation"]
    assert e["SM_CHANNEL_TRAIN"] == os.path.join(ws, "input", "data", "train")
    assert probe["channels"] == {"train": ["train.csv"], "validation": ["validation.csv"]}
    assert json.loads(e["SM_HOSTS"]) == ["algo-1"] and e["SM_CURRENT_HOST"] == "algo-1"
    assert e["TRAINING_JOB_NAME"] == "probe-job" and e["MY_VAR"] == "hello"
    assert e["SM_USER_ENTRY_POINT"] == "probe.py" and e["SM_MODULE_NAME"] == "probe"
    assert int(e["SM_NUM_CPUS"]) >= 1 and e["SM_NUM_GPUS"] == "0"
    training_env = json.loads(e["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == decoded and training_env["job_name"] == "probe-job"
    assert probe["cwd"] == os.path.join(ws, "code")
    files = probe["files"]
    assert files["hyperparameters.json"] == hps  # the raw strings, as the API carries them
    assert files["resourceconfig.json"]["current_host"] == "algo-1"
    assert set(files["inputdataconfig.json"]) == {"train", "validation"}
    # A name is never used twice.
    p = subprocess.run(env.args(os.path.join(SCRIPTS, "probe.py"), "--job-name", "probe-job"),
                       capture_output=True, text=True)
    assert p.returncode == 2 and "already used" in p.stderr


def test_failing_script_gives_failed_with_its_reason(env):
    job, _ = env.train(os.path.join(SCRIPTS, "fail.py"), "-p", "reason=the reason I wrote",
                       expect=2)
    assert job["status"] == "Failed" and job["secondary_status"] == "Failed"
    assert job["failure_reason"] == "AlgorithmError: the reason I wrote"
    assert job["model_version"] == ""
    job, _ = env.train(os.path.join(SCRIPTS, "fail.py"), expect=2)
    reason = job["failure_reason"]
    assert "exited with status 3" in reason and "ValueError: the data is bad" in reason
    # Bad input: a channel that does not exist fails before anything runs, and says why.
    job, _ = env.train(os.path.join(SCRIPTS, "probe.py"), "-c", "train=/nonexistent/x", expect=2)
    assert job["status"] == "Failed" and "channel train" in job["failure_reason"]


def test_max_run_stops_and_sigterm_keeps_the_weights(env):
    job, _ = env.train(os.path.join(SCRIPTS, "slow.py"), "--max-run", "2", "--stop-grace", "20")
    assert job["status"] == "Stopped" and job["secondary_status"] == "MaxRuntimeExceeded"
    assert job["model_version"] == "slow:1"
    out = os.path.join(env.tmp, "restored")
    env.cairn("models", "--store", env.store, "restore", "slow:1", out)
    assert torch.equal(torch.load(os.path.join(out, "model.pth"))["w"],
                       torch.arange(6, dtype=torch.float32).reshape(2, 3))


def test_jobs_stop_from_another_process(env):
    p = subprocess.Popen(env.args(os.path.join(SCRIPTS, "slow.py"), "--job-name", "stop-me",
                                  "--stop-grace", "20"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            # Running, with its SIGTERM handler in place: it said so in the log in the store.
            r = env.cairn("jobs", "--store", env.store, "logs", "stop-me", check=False)
            if r.returncode == 0 and "running" in r.stdout:
                break
            time.sleep(0.2)
        follow = subprocess.Popen([env.args()[0], "jobs", "--store", env.store, "logs", "-f",
                                   "stop-me"], stdout=subprocess.PIPE, text=True)
        env.cairn("jobs", "--store", env.store, "stop", "stop-me")
        p.wait(timeout=60)
        followed, _ = follow.communicate(timeout=60)  # ends by itself once the job has ended
    finally:
        p.kill()
    assert followed.startswith("running\n") and "SIGTERM: saved" in followed
    job = json.loads(env.cairn("jobs", "--store", env.store, "describe", "stop-me", "--json").stdout)
    assert job["status"] == "Stopped" and job["secondary_status"] == "Stopped"
    assert job["model_version"] == "slow:1"
    assert "Stopping" in [t["status"] for t in job["transitions"]]
    # Stopping an ended job is refused with a clear message.
    r = env.cairn("jobs", "--store", env.store, "stop", "stop-me", check=False)
    assert r.returncode == 2 and "already ended" in r.stderr


def test_kill_9_then_the_same_command_resumes_from_the_last_checkpoint(env):
    ckpt = os.path.join(env.tmp, "checkpoints")
    cmd = env.args(os.path.join(EXAMPLE, "train.py"), "-c", f"train={env.data}/train",
                   "-p", "epochs=8", "-p", "sleep=0.4", "--checkpoint-uri", ckpt)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(os.path.join(ckpt, "checkpoint-00003.pth")):
            time.sleep(0.05)
        assert os.path.exists(os.path.join(ckpt, "checkpoint-00003.pth"))
        p.send_signal(signal.SIGKILL)  # the runner dies; its script dies with it
        out, _ = p.communicate(timeout=30)
    finally:
        p.kill()
    assert "epoch=8" not in out
    done = max(int(f[11:16]) for f in os.listdir(ckpt) if f.startswith("checkpoint-"))
    assert 3 <= done < 8
    p2 = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p2.returncode == 0, p2.stderr
    assert f"resumed from checkpoint-{done:05d}.pth at epoch {done}" in p2.stdout
    assert "epoch=1 " not in p2.stdout and f"epoch={done + 1} " in p2.stdout
    assert "epoch=8 " in p2.stdout


def test_two_hosts_run_torch_distributed(env):
    job, err = env.train(os.path.join(SCRIPTS, "dist.py"), "--instance-count", "2", timeout=300)
    assert job["status"] == "Completed", job["failure_reason"]
    out = os.path.join(env.tmp, "restored")
    env.cairn("models", "--store", env.store, "restore", job["model_version"], out)
    sd = torch.load(os.path.join(out, "model.pth"))
    assert sd["sum"].item() == 3.0 and sd["world"].item() == 2
    log = env.cairn("jobs", "--store", env.store, "logs", job["name"]).stdout
    assert "[algo-1] rank 0 of 2 on algo-1: sum 3.0" in log
    assert "[algo-2] rank 1 of 2 on algo-2: sum 3.0" in log
    assert json.load(open(os.path.join(env.workspace(job, "algo-2"), "input", "config",
                                       "resourceconfig.json")))["current_host"] == "algo-2"


def test_linear_learner_trains_checkpoints_and_resumes(env):
    ckpt = os.path.join(env.tmp, "ll-checkpoints")
    common = ["--algorithm", "linear-learner", "-c", f"train={env.data}/train",
              "-c", f"validation={env.data}/validation", "-p", "learning_rate=0.1",
              "-p", "mini_batch_size=50", "--checkpoint-uri", ckpt]
    job, err = env.train(*common, "-p", "epochs=3")
    assert job["status"] == "Completed", job["failure_reason"]
    assert set(job["final_metrics"]) == {"train_loss", "validation_loss"}
    assert sorted(os.listdir(ckpt)) == ["linear-learner-epoch-000002.pth",
                                        "linear-learner-epoch-000003.pth"]
    # The same checkpoint URI with more epochs carries on from epoch 3.
    job2, err2 = env.train(*common, "-p", "epochs=12")
    log = env.cairn("jobs", "--store", env.store, "logs", job2["name"]).stdout
    assert "resumed from checkpoint linear-learner-epoch-000003.pth (epoch 3)" in log
    assert "#epoch=1 " not in log and "#epoch=4 " in log and "#epoch=12 " in log
    out = os.path.join(env.tmp, "restored")
    env.cairn("models", "--store", env.store, "restore", job2["model_version"], out)
    sd = torch.load(os.path.join(out, "model.pth"))
    true_w = torch.tensor([[0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 0.25, 3.0, -2.0, 1.0]])
    assert sd["linear.weight"].shape == (1, 10) and sd["linear.bias"].shape == (1,)
    assert torch.allclose(sd["linear.weight"], true_w, atol=0.1)
    assert abs(sd["linear.bias"].item() - 0.3) < 0.1
    arch = json.load(open(os.path.join(out, "cairn-model.json")))
    assert arch["architecture"] == "linear" and arch["in_features"] == 10
    # A hyperparameter it does not know is a clear failure.
    job3, _ = env.train("--algorithm", "linear-learner", "-c", f"train={env.data}/train",
                        "-p", "bogus=1", expect=2)
    assert "no hyperparameter 'bogus'" in job3["failure_reason"]


def test_output_path_leaves_sagemaker_artifacts(env):
    out = os.path.join(env.tmp, "s3-like")
    job, _ = env.train(os.path.join(EXAMPLE, "train.py"), "-c", f"train={env.data}/train",
                       "-p", "epochs=2", "--output-path", out)
    assert job["model_data"] == f"{out}/{job['name']}/output/model.tar.gz"
    with tarfile.open(job["model_data"]) as t:
        assert t.getnames() == ["model.pth"]
        t.extractall(os.path.join(env.tmp, "x"))
    assert torch.load(os.path.join(env.tmp, "x", "model.pth"))["linear.weight"].shape == (1, 10)
    assert os.path.exists(f"{out}/{job['name']}/output/output.tar.gz")
    job, _ = env.train(os.path.join(EXAMPLE, "train.py"), "-c", f"train={env.data}/train",
                       "-p", "epochs=2", "--output-path", out, "--output-compression", "none")
    assert job["model_data"] == f"{out}/{job['name']}/output/model/"
    assert os.listdir(job["model_data"]) == ["model.pth"]
    assert job["model_version"] == "train:2"


def test_source_dir_is_the_code_and_its_digest_is_recorded(env):
    src = os.path.join(env.tmp, "src")
    os.makedirs(os.path.join(src, "pkg"))
    with open(os.path.join(src, "pkg", "helper.py"), "w") as f:
        f.write("VALUE = 41\n")
    with open(os.path.join(src, "entry.py"), "w") as f:
        f.write("import os, torch\nfrom pkg.helper import VALUE\n"
                "torch.save({'v': torch.tensor(VALUE + 1)},"
                " os.path.join(os.environ['SM_MODEL_DIR'], 'model.pth'))\n")
    job1, _ = env.train("entry.py", "--source-dir", src, "--model-group", "src-model")
    assert job1["status"] == "Completed", job1["failure_reason"]
    with open(os.path.join(src, "pkg", "helper.py"), "w") as f:
        f.write("VALUE = 1\n")
    job2, _ = env.train("entry.py", "--source-dir", src, "--model-group", "src-model")
    assert job2["model_version"] == "src-model:2"
    assert job1["lineage"]["code_sha256"] != job2["lineage"]["code_sha256"]
    out = os.path.join(env.tmp, "r")
    env.cairn("models", "--store", env.store, "restore", "src-model:2", out)
    assert torch.load(os.path.join(out, "model.pth"))["v"].item() == 2
    assert os.path.exists(os.path.join(env.workspace(job2), "code", "pkg", "helper.py"))
    # An entry point that is not in the source folder is a clear failure.
    job3, _ = env.train("missing.py", "--source-dir", src, expect=2)
    assert "missing.py is not in" in job3["failure_reason"]
