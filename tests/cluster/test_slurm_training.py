"""Training jobs on Slurm across two hosts (issue 13): torch.distributed over gloo, a host that
dies, and a run that resumes from its checkpoint."""
import hashlib
import json
import os
import re
import subprocess
import threading
import time

from conftest import CAIRN, cluster_sh

HERE = os.path.dirname(__file__)
SCRIPT = os.path.join(HERE, "scripts", "dist_train.py")


def train(cluster, *args, timeout=180):
    work = os.path.join(cluster["base"], "jobs")
    nodes = os.path.join(cluster["base"], "nodes")
    cmd = [CAIRN, "train", SCRIPT, "--scheduler", "slurm", "--store", cluster["store"],
           "--work-dir", work, "--node-work-dir", nodes, "--tick", "0.5", "--json", *args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=cluster["env"])


def test_a_two_host_gloo_job_publishes_what_rank_0_saved(cluster, tmp_path):
    p = train(cluster, "--instance-count", "2", "--job-name", "gloo-2", "--model-group", "gloo",
              "-p", "epochs=5", "-p", "sleep=0.05",
              "--metric-definition", "loss=loss=([0-9.]+)")
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    assert job["status"] == "Completed"
    assert job["scheduler_job"].startswith("slurm:")
    # One process per host, on two different hosts, under SageMaker's contract.
    seen = dict(re.findall(r"\[(algo-\d)\] host=(c\d) ", p.stderr))
    assert seen == {"algo-1": "c1", "algo-2": "c2"} or seen == {"algo-1": "c2", "algo-2": "c1"}
    assert "world=2" in p.stderr
    saved = re.search(r"\[algo-1\] saved sha256=([0-9a-f]{64})", p.stderr).group(1)
    # The version is the model rank 0 saved, byte for byte.
    out = tmp_path / "restored"
    r = subprocess.run([CAIRN, "models", "restore", job["model_version"], str(out), "--store",
                        cluster["store"]], env=cluster["env"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256((out / "model.pth").read_bytes()).hexdigest() == saved
    assert len([m for m in job["metrics"] if m["name"] == "loss"]) == 10  # 5 epochs x 2 hosts
    assert job["lineage"]["code_sha256"]


def test_a_dead_host_fails_the_job_and_a_rerun_resumes(cluster):
    ckpt = cluster["store"] + "-checkpoints/resume"
    result = {}

    def run():
        result["p"] = train(cluster, "--instance-count", "2", "--job-name", "dies-1",
                            "--checkpoint-uri", ckpt, "-p", "epochs=400", "-p", "sleep=0.2")

    t = threading.Thread(target=run)
    t.start()
    # Wait until some checkpoints have been written, then the host of algo-2 dies: its link
    # first (no FIN or RST reaches anyone, as when a machine loses power), then its processes.
    deadline = time.time() + 90
    listing = ""
    while time.time() < deadline:
        listing = subprocess.run([CAIRN, "ls", ckpt + "/"], env=cluster["env"],
                                 capture_output=True, text=True).stdout
        if "state.pt" in listing:
            break
        time.sleep(0.5)
    assert "state.pt" in listing
    time.sleep(2)
    victim = "c2"
    cluster_sh(cluster, "cut", victim)
    cluster_sh(cluster, "kill-host", victim)
    t.join(timeout=120)
    p = result["p"]
    assert p.returncode != 0
    job = json.loads(p.stdout)
    assert job["status"] == "Failed"
    assert "NodeFailure" in job["failure_reason"], job["failure_reason"]
    assert "NODE_FAIL" in job["failure_reason"]
    assert victim in job["failure_reason"]
    # The host comes back; the same job run again resumes from its checkpoint.
    cluster_sh(cluster, "heal", victim)
    cluster_sh(cluster, "start-host", victim)
    p = train(cluster, "--instance-count", "2", "--job-name", "dies-2", "--checkpoint-uri",
              ckpt, "-p", "epochs=3", "-p", "sleep=0.05")
    m = re.search(r"resumed from epoch (\d+)", p.stderr)
    assert m and int(m.group(1)) > 0, p.stderr[-2000:]
    job = json.loads(p.stdout)
    assert job["status"] == "Completed", job["failure_reason"]


def test_stop_sends_sigterm_then_cancels(cluster):
    """StopTrainingJob (here `cairn jobs stop`) on a Slurm job: every task gets SIGTERM (the
    script may save), the job ends Stopped, well before the grace period ends."""
    result = {}

    def run():
        result["p"] = train(cluster, "--instance-count", "2", "--job-name", "stopped-1", "--stop-grace", "30",
                            "-p", "epochs=1000", "-p", "sleep=0.2")

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 90
    while time.time() < deadline:
        d = subprocess.run([CAIRN, "jobs", "--store", cluster["store"], "describe", "stopped-1", "--json"],
                           env=cluster["env"], capture_output=True, text=True)
        if d.returncode == 0 and json.loads(d.stdout)["secondary_status"] == "Training":
            break
        time.sleep(0.3)
    time.sleep(2)
    asked = time.time()
    subprocess.run([CAIRN, "jobs", "--store", cluster["store"], "stop", "stopped-1"], env=cluster["env"],
                   check=True, capture_output=True)
    t.join(timeout=120)
    took = time.time() - asked
    job = json.loads(result["p"].stdout)
    assert job["status"] == "Stopped", job["failure_reason"]
    assert took < 25, took  # SIGTERM ended it; no wait for the 30 s grace and scancel
    print(f"stopped {took:.1f} s after the request")
