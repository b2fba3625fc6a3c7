"""cairn reads what real PyTorch (Debian's torch 1.13) writes, and PyTorch reads what cairn writes."""
import os
from collections import OrderedDict

import pytest
import torch

from conftest import (DTYPES, assert_same, expected_inspect, flatten, inspect_json,
                      read_safetensors, tensor_bytes)

torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.conv = torch.nn.Conv1d(4, 3, 2)
        self.bn = torch.nn.BatchNorm1d(3)
        self.head = torch.nn.Linear(3, 10)
        self.head.weight = torch.nn.Parameter(torch.randn(10, 3))

    def forward(self, x):
        h = self.bn(self.conv(self.emb(x).transpose(1, 2)))
        return self.head(h.mean(-1))


def trained_checkpoint():
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randint(0, 10, (4, 5))).sum().backward()
        opt.step()
    return net, opt


def all_dtypes():
    out = OrderedDict()
    for dt, name in DTYPES.items():
        if dt.is_floating_point:
            out[name] = torch.randn(3, 5).to(dt)
        elif dt == torch.bool:
            out[name] = torch.rand(3, 5) > 0.5
        else:
            info = torch.iinfo(dt)
            out[name] = torch.randint(info.min, info.max, (3, 5), dtype=torch.int64).to(dt)
    return out


def shared_storage():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    emb = torch.randn(5, 3)
    return OrderedDict([
        ("base", base),
        ("block", base[1:3, 2:5]),        # a view with an offset and strides
        ("transposed", base.t()),         # non-contiguous
        ("column", base[:, 1]),
        ("tied_in", emb), ("tied_out", emb),  # the same tensor twice (tied weights)
    ])


def odd_shapes():
    return {
        "scalar": torch.tensor(3.5), "int_scalar": torch.tensor(-7), "empty": torch.empty(0),
        "empty_3d": torch.empty(2, 0, 3, dtype=torch.int32), "one": torch.ones(1, 1, 1),
        "expanded": torch.randn(1, 3).expand(4, 3),  # stride 0
    }


def nested():
    return {
        "epoch": 5, "step": 2**40, "neg": -(2**33), "name": "run-1 ✓", "none": None,
        "flags": [True, False], "pair": (1, "two", (3.0,)), "blob": b"\x00\xff raw",
        "nan": float("nan"), "inf": float("-inf"),
        "by_int": {0: torch.ones(2), 7: {"deep": [torch.zeros(1), [torch.arange(3)]]}},
    }


def cases():
    net, opt = trained_checkpoint()
    yield "state_dict", net.state_dict()
    yield "keep_vars", net.state_dict(keep_vars=True)
    yield "checkpoint", {"epoch": 5, "model_state_dict": net.state_dict(),
                         "optimizer_state_dict": opt.state_dict(), "loss": 0.125}
    yield "dtypes", all_dtypes()
    yield "shared", shared_storage()
    yield "odd_shapes", odd_shapes()
    yield "nested", nested()
    yield "bare_tensor", torch.randn(2, 3)


CASES = dict(cases())


def weights_only_ok(obj):
    """torch 1.13's weights_only loader refuses floats and bytes whoever wrote them."""
    if isinstance(obj, (float, bytes)):
        return False
    if isinstance(obj, dict):
        return all(weights_only_ok(k) and weights_only_ok(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(weights_only_ok(x) for x in obj)
    return True


@pytest.mark.parametrize("case", CASES)
def test_inspect_matches_pytorch(cairn, tmp_path, case):
    obj = CASES[case]
    path = tmp_path / "model.pth"
    torch.save(obj, path)
    assert inspect_json(cairn, path) == expected_inspect(obj)
    table = cairn("weights", "inspect", path).stdout
    for name, t in flatten(obj):
        assert name in table


@pytest.mark.parametrize("case", CASES)
def test_rewrite_loads_back_in_pytorch(cairn, tmp_path, case):
    obj = CASES[case]
    src, out = tmp_path / "model.pth", tmp_path / "rewritten.pth"
    torch.save(obj, src)
    cairn("weights", "convert", src, out)
    back = torch.load(out)
    assert_same(obj, back)
    if weights_only_ok(obj):
        assert_same(obj, torch.load(out, weights_only=True))
    if case == "shared":  # each storage was written once and the views share it again
        ptr = lambda k: back[k].storage().data_ptr()
        assert ptr("base") == ptr("block") == ptr("transposed") == ptr("column")
        assert ptr("tied_in") == ptr("tied_out")
        assert back["block"].storage_offset() == obj["block"].storage_offset()
        assert back["transposed"].stride() == obj["transposed"].stride()
    # cairn's own file reads back identically in cairn, too.
    assert inspect_json(cairn, out) == expected_inspect(obj)


@pytest.mark.parametrize("case", CASES)
def test_safetensors_round_trip(cairn, tmp_path, case):
    obj = CASES[case]
    src, st, home = tmp_path / "model.pth", tmp_path / "model.safetensors", tmp_path / "home.pth"
    torch.save(obj, src)
    cairn("weights", "convert", src, st)
    tensors, meta = read_safetensors(st)
    expected = dict(flatten(obj))
    assert sorted(tensors) == sorted(expected)
    for name, t in expected.items():
        assert tensors[name].dtype == t.dtype and list(tensors[name].shape) == list(t.shape)
        assert tensor_bytes(tensors[name]) == tensor_bytes(t), name
    assert meta.get("format") == "pt" and "cairn.checkpoint" in meta
    assert inspect_json(cairn, st) == expected_inspect(obj, fmt="safetensors")
    cairn("weights", "convert", st, home)
    assert_same(obj, torch.load(home))


def test_safetensors_without_cairn_metadata(cairn, tmp_path):
    # A file written by another tool: names and metadata only.
    import json, struct
    t = torch.arange(6, dtype=torch.int16).reshape(2, 3)
    header = {"__metadata__": {"format": "pt"},
              "w": {"dtype": "I16", "shape": [2, 3], "data_offsets": [0, 12]}}
    h = json.dumps(header).encode()
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + tensor_bytes(t))
    cairn("weights", "convert", tmp_path / "x.safetensors", tmp_path / "x.pth")
    back = torch.load(tmp_path / "x.pth", weights_only=True)
    assert isinstance(back, OrderedDict) and torch.equal(back["w"], t)


def test_diff(cairn, tmp_path):
    net, _ = trained_checkpoint()
    sd = net.state_dict()
    torch.save(sd, tmp_path / "a.pth")
    cairn("weights", "convert", tmp_path / "a.pth", tmp_path / "a.safetensors")
    same = cairn("weights", "diff", tmp_path / "a.pth", tmp_path / "a.safetensors", check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    changed = OrderedDict(sd)
    changed["head.bias"] = sd["head.bias"] + torch.tensor([0.0] * 9 + [0.5])
    del changed["bn.running_var"]
    changed["extra"] = torch.ones(2)
    changed["emb.weight"] = sd["emb.weight"].half()
    torch.save(changed, tmp_path / "b.pth")
    p = cairn("weights", "diff", tmp_path / "a.pth", tmp_path / "b.pth", check=False)
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    assert "- bn.running_var" in lines and "+ extra" in lines
    assert any(l.startswith("~ head.bias") and "max |a-b| = 0.5" in l for l in lines)
    assert any(l.startswith("~ emb.weight") and "dtype F32 -> F16" in l for l in lines)


@pytest.mark.skipif(os.environ.get("CAIRN_SKIP_SLOW") == "1", reason="CAIRN_SKIP_SLOW=1")
@pytest.mark.skipif(os.statvfs("/tmp").f_bavail * os.statvfs("/tmp").f_frsize < 20 * 2**30,
                    reason="needs 20 GiB of free disk for files past 4 GiB")
def test_zip64_past_4gib(cairn, tmp_path):
    big = torch.zeros(4 * 2**30 + 4096, dtype=torch.uint8)
    big[-1] = 7
    obj = OrderedDict([("small", torch.arange(3)), ("big", big), ("after", torch.ones(2))])
    torch.save(obj, tmp_path / "big.pth")
    assert inspect_json(cairn, tmp_path / "big.pth") == expected_inspect(obj)
    cairn("weights", "convert", tmp_path / "big.pth", tmp_path / "again.pth")
    os.remove(tmp_path / "big.pth")
    back = torch.load(tmp_path / "again.pth")
    assert back["big"].shape == big.shape and back["big"][-1] == 7 and not back["big"][:-1].any()
    assert torch.equal(back["after"], obj["after"])
