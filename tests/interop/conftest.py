"""Shared helpers for the interop tests: run cairn, describe tensors the way cairn does."""
import hashlib
import json
import os
import struct
import subprocess
from collections import OrderedDict

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
TORCH_DTYPES = {v: k for k, v in DTYPES.items()}


@pytest.fixture(scope="session")
def cairn():
    binary = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
    assert os.access(binary, os.X_OK), f"cairn binary not found at {binary}; build first"

    def run(*args, check=True):
        p = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=600)
        assert p.returncode >= 0, f"cairn died of signal {-p.returncode}: {p.stderr}"
        if check:
            assert p.returncode == 0, f"cairn {' '.join(map(str, args))} failed: {p.stderr}"
        return p

    return run


def tensor_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def flatten(obj, prefix=""):
    """Tensors of a checkpoint named as cairn names them: the path joined with '.'."""
    join = (lambda k: f"{prefix}.{k}" if prefix else str(k))
    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += flatten(v, join(display(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += flatten(v, join(i))
    return out


def display(k):
    if k is None:
        return "None"
    if isinstance(k, bool):
        return "True" if k else "False"
    return str(k)


def expected_inspect(obj, fmt="pytorch"):
    return {
        "format": fmt,
        "tensors": [
            {"name": n, "dtype": DTYPES[t.dtype], "shape": list(t.shape),
             "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest()}
            for n, t in flatten(obj)
        ],
    }


def inspect_json(cairn, path):
    return json.loads(cairn("weights", "inspect", "--json", path).stdout)


def read_safetensors(path):
    """An independent reader (the format is simple), used to check cairn's writer."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0, "buffer start is not 8-byte aligned"
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = OrderedDict()
    covered = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, end = e["data_offsets"]
        assert b == covered, "hole or overlap"
        covered = end
        dt = TORCH_DTYPES[e["dtype"]]
        elem = torch.empty((), dtype=dt).element_size()
        assert b % elem == 0, f"{name} is not naturally aligned"
        raw = bytearray(buf[b:end])
        t = torch.frombuffer(raw, dtype=torch.uint8).view(dt) if raw else torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(e["shape"])
    assert covered == len(buf)
    return tensors, meta


def assert_same(a, b, path="root", check_types=True):
    """Deep comparison of two loaded checkpoints, values and container types."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert type(a) is type(b) or not check_types, f"{path}: {type(a)} vs {type(b)}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert a.requires_grad == b.requires_grad, path
        assert tensor_bytes(a) == tensor_bytes(b), f"{path}: values differ"
        return
    if check_types:
        assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert list(map(display, a.keys())) == list(map(display, b.keys())), path
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            assert ka == kb and type(ka) is type(kb), f"{path}: key {ka!r} vs {kb!r}"
            assert_same(va, vb, f"{path}.{ka}", check_types)
        if check_types:
            assert getattr(a, "_metadata", None) == getattr(b, "_metadata", None), f"{path}: _metadata"
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}.{i}", check_types)
    elif isinstance(a, float) and a != a:
        assert b != b, path
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"
