"""cairn models: publish what PyTorch trained, version it, restore it, and load it back in PyTorch."""
import json
import os
from collections import OrderedDict

import torch

from conftest import assert_same


def model_dir(path, seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    os.makedirs(path / "code")
    torch.save(net.state_dict(), path / "model.pth")
    (path / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    return net.state_dict()


def test_publish_alias_rollback_restore(cairn, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    sd1 = model_dir(tmp_path / "m1", 1)
    model_dir(tmp_path / "m2", 2)
    assert cairn("models", *store, "publish", "demo", tmp_path / "m1", "--metric", "loss=0.5").stdout == "demo:1\n"
    out = json.loads(cairn("models", *store, "publish", "demo", tmp_path / "m2", "--json").stdout)
    assert out["ref"] == "demo:2" and out["files"] == 2
    cairn("models", *store, "alias", "demo", "production", "1")
    cairn("models", *store, "alias", "demo", "production", "2")
    cairn("models", *store, "approve", "demo:2")
    versions = json.loads(cairn("models", *store, "versions", "demo", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["metrics"] == {"loss": "0.5"}
    assert versions[1]["approval"] == "Approved" and versions[1]["aliases"] == ["production"]
    assert cairn("models", *store, "rollback", "demo", "production").stdout == "demo@production -> 1\n"
    cairn("models", *store, "restore", "demo@production", tmp_path / "restored")
    assert_same(sd1, torch.load(tmp_path / "restored" / "model.pth", weights_only=True))
    desc = json.loads(cairn("models", *store, "describe", "demo:1").stdout)
    assert sorted(f["path"] for f in desc["files"]) == ["code/inference.py", "model.pth"]
    p = cairn("models", *store, "diff", "demo:1", "demo:2", check=False)
    assert p.returncode == 1 and p.stdout.splitlines()[0] == "~ model.pth", p.stdout
    assert any(l.strip().startswith("~ 0.weight") and "max |a-b|" in l for l in p.stdout.splitlines())
    assert cairn("models", *store, "diff", "demo:1", "demo@production").stdout == "identical\n"
    gc = json.loads(cairn("models", *store, "gc", "--dry-run", "--json").stdout)
    assert gc["deleted"] == 0 and gc["referenced"] >= 2 and gc["dry_run"] is True
    assert cairn("models", *store, "gc").stdout.startswith("deleted 0 unreferenced chunks")
    listing = json.loads(cairn("models", *store, "list", "--json").stdout)
    assert listing[0]["group"] == "demo" and listing[0]["latest"] == 2


def test_restore_fails_closed_on_a_flipped_byte(cairn, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    model_dir(tmp_path / "m", 3)
    cairn("models", *store, "publish", "demo", tmp_path / "m")
    assert cairn("models", *store, "verify").stdout.startswith("ok: 1 versions")
    chunks = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "store" / "chunks") for f in fs]
    victim = max(chunks, key=os.path.getsize)
    data = bytearray(open(victim, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(victim, "wb").write(bytes(data))
    p = cairn("models", *store, "restore", "demo:1", tmp_path / "out", check=False)
    assert p.returncode == 2 and "corrupt" in p.stderr and os.path.basename(victim) in p.stderr
    assert not (tmp_path / "out").exists()
    p = cairn("models", *store, "verify", "--json", check=False)
    assert p.returncode == 1
    problems = json.loads(p.stdout)["problems"]
    assert len(problems) == 1 and os.path.basename(victim) in problems[0] and "model.pth in demo:1" in problems[0]
    os.remove(victim)
    assert "missing" in cairn("models", *store, "verify", "demo", check=False).stdout


def test_bad_input_is_one_clear_line(cairn, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    for args, needle in [
        (["restore", "nothing:1", tmp_path / "x"], "no version"),
        (["publish", "bad/name", tmp_path], "invalid model group"),
        (["publish", "demo", tmp_path / "missing"], "not a directory"),
        (["alias", "demo", "prod", "x"], "VERSION must be"),
        (["describe", "demo:zero"], "bad reference"),
    ]:
        p = cairn("models", *store, *args, check=False)
        assert p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1, (args, p.stderr)
