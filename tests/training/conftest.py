"""Helpers for the training tests: run `cairn train` on a fresh local store and workspace."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
EXAMPLE = os.path.join(ROOT, "examples", "simple")


class Env:
    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.store = os.path.join(self.tmp, "store")
        self.work = os.path.join(self.tmp, "work")
        self.data = os.path.join(self.tmp, "data")
        subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), self.data,
                        "--rows", "400"], check=True, capture_output=True)

    def args(self, *args):
        return [CAIRN, "train", "--store", self.store, "--work-dir", self.work, "--tick", "0.2",
                *map(str, args)]

    def train(self, *args, expect=0, timeout=300):
        p = subprocess.run(self.args(*args, "--json"), capture_output=True, text=True,
                           timeout=timeout)
        assert p.returncode == expect, (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
        job = json.loads(p.stdout) if p.stdout.strip() else None
        return job, p.stderr

    def cairn(self, *args, check=True):
        p = subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, timeout=300)
        if check:
            assert p.returncode == 0, (args, p.stdout[-3000:], p.stderr[-3000:])
        return p

    def workspace(self, job, host="algo-1"):
        return os.path.join(self.work, job["name"], host)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)
