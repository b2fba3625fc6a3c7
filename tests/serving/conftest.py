"""Helpers for the endpoint tests: a store with versions, and cairn serve running on a free port."""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
EXAMPLE = os.path.join(ROOT, "examples", "simple")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cairn(*args, check=True):
    p = subprocess.run([CAIRN, *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, (args, p.stdout[-3000:], p.stderr[-3000:])
    return p


def http(url, body=None, content_type="application/json", accept=None, timeout=30):
    """(status, headers, body bytes) of one request."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", content_type)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Server:
    def __init__(self, store, ref, *args, log=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([CAIRN, "serve", ref, "--store", store, "--port", str(self.port),
                                      *map(str, args)], stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            assert self.proc.poll() is None, f"cairn serve exited with {self.proc.returncode}"
            try:
                if http(self.url + "/ping", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("the endpoint did not become ready")

    def invoke(self, body, **kw):
        return http(self.url + "/invocations", body, **kw)

    def models(self):
        return json.loads(http(self.url + "/models")[2])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        return self.proc.returncode


@pytest.fixture
def servers():
    started = []
    yield lambda *a, **kw: started.append(Server(*a, **kw)) or started[-1]
    for s in started:
        s.stop()
