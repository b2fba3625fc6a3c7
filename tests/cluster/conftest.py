"""A small cluster on this machine for the cluster tests (docs/cluster.md): scripts/cluster.sh
makes compute hosts c1 and c2 (network namespaces running slurmd) around a head on bridge
cairnbr0 (10.77.0.1: slurmctld, munged), and Ceph RGW listens on the head's address as the shared
store. Everything is started here and stopped at the end, by PID."""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
HEAD = "10.77.0.1"
S3_PORT = 17580
PYTHON = "/usr/bin/python3"


def _needs():
    if os.geteuid() != 0:
        return "the cluster tests make network namespaces: they run as root"
    for prog in ("slurmctld", "slurmd", "munged", "haproxy", "radosgw"):
        if not shutil.which(prog) and not os.path.exists("/usr/sbin/" + prog):
            return prog + " is not installed (scripts/setup.sh installs it)"
    return None


def _eval_env(text):
    env = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            env[k] = v
    return env


@pytest.fixture(scope="session")
def cluster():
    why = _needs()
    if why:
        pytest.skip(why)
    base = tempfile.mkdtemp(prefix="cairn-cluster-")
    cdir, sdir = os.path.join(base, "cluster"), os.path.join(base, "s3")
    env = dict(os.environ)
    started = []
    try:
        out = subprocess.run([ROOT + "/scripts/cluster.sh", "start", cdir], check=True,
                             stdout=subprocess.PIPE, text=True, timeout=120).stdout
        started.append(("cluster", cdir))
        env.update(_eval_env(out))
        s3env = dict(env, CAIRN_S3_ADDR=HEAD, CAIRN_S3_MEMORY_BYTES=str(1 << 30),
                     CAIRN_S3_BUCKETS="cairn")
        out = subprocess.run([ROOT + "/scripts/s3-server.sh", "start", sdir, str(S3_PORT)],
                             check=True, stdout=subprocess.PIPE, text=True, timeout=300,
                             env=s3env).stdout
        started.append(("s3", sdir))
        env.update(_eval_env(out))
        env["CAIRN_CACHE_DIR"] = "off"
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        yield {"env": env, "dir": cdir, "base": base, "store": "s3://cairn/store"}
    finally:
        for kind, d in reversed(started):
            script = "cluster.sh" if kind == "cluster" else "s3-server.sh"
            subprocess.run([ROOT + "/scripts/" + script, "stop", d], timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def cluster_sh(cluster, *args):
    return subprocess.run([ROOT + "/scripts/cluster.sh", args[0], cluster["dir"], *args[1:]],
                          check=True, timeout=120, env=cluster["env"])
