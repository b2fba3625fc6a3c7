"""Malicious and broken files: refused with one clear line, never executed, never a crash."""
import io
import os
import pickle
import struct
import zipfile

import pytest
import torch


class Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def check_refused(cairn, path, *needles):
    p = cairn("weights", "inspect", "--json", path, check=False)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    err = p.stderr.strip()
    assert err.startswith("cairn: ") and "\n" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_os_system_is_refused_and_never_runs(cairn, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(2), "x": Exploit(os.system, f"touch {marker}")}, path)
    check_refused(cairn, path, "posix.system", "nothing was executed")
    for cmd in (["weights", "convert", path, tmp_path / "o.safetensors"],
                ["weights", "diff", path, path]):
        assert cairn(*cmd, check=False).returncode == 2
    assert not marker.exists()
    assert not (tmp_path / "o.safetensors").exists()


def test_eval_is_refused(cairn, tmp_path):
    path = tmp_path / "evil.pth"
    torch.save([Exploit(eval, "__import__('os').getpid()")], path)
    check_refused(cairn, path, "__builtin__.eval")


def test_legacy_format_explains_how_to_convert(cairn, tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    check_refused(cairn, path, "legacy", "torch.save(torch.load(")


def test_torchscript_archive_is_named(cairn, tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    check_refused(cairn, path, "TorchScript")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_every_truncation_fails_cleanly(cairn, tmp_path, suffix):
    src = tmp_path / ("model" + suffix)
    torch.save({"a": torch.randn(4, 4), "b": torch.arange(10)}, tmp_path / "model.pth")
    if suffix == ".safetensors":
        cairn("weights", "convert", tmp_path / "model.pth", src)
    data = src.read_bytes()
    cut = tmp_path / ("cut" + suffix)
    for n in sorted({0, 1, 7, 8, 9, 30, 64, len(data) // 2, len(data) - 23, len(data) - 1}):
        cut.write_bytes(data[:n])
        check_refused(cairn, cut)


def rewrite_zip(path, edit=lambda items: None, compression=zipfile.ZIP_STORED):
    """Rewrites a torch.save file's records after `edit` changed them (a dict name -> bytes)."""
    with zipfile.ZipFile(path) as z:
        items = {i.filename: z.read(i.filename) for i in z.infolist()}
    edit(items)
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in items.items():
            z.writestr(name, data)


def test_storage_record_too_small(cairn, tmp_path):
    # A pickle that claims more elements than its storage record holds.
    path = tmp_path / "model.pth"
    torch.save({"w": torch.ones(4)}, path)
    rewrite_zip(path, lambda items: items.update({"model/data/0": items["model/data/0"][:8]}))
    check_refused(cairn, path, "claims 4 elements")


def test_view_outside_its_storage(cairn, tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.ones(4)}, path)
    # size (4,) -> (400,): the same length in the pickle, so only the number changes.
    rewrite_zip(path, lambda items: items.update({"model/data.pkl": items["model/data.pkl"].replace(
        b"K\x04\x85", b"M\x90\x01\x85", 1)}))
    check_refused(cairn, path, "tensor view reaches element")


def test_compressed_records_are_refused(cairn, tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(1 << 20)}, path)
    rewrite_zip(path, compression=zipfile.ZIP_DEFLATED)  # a "zip bomb"
    check_refused(cairn, path, "compressed")


def safetensors_file(path, header, buffer):
    import json
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + buffer)


@pytest.mark.parametrize("header,buffer,needle", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12), "overlaps"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8), "hole"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(12), "belong to no tensor"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8), "does not match"),
    ({"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}, bytes(8), "does not match"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 2**63]}}, bytes(8), "outside"),
    ({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), "dtype Q9"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), "shape"),
    ({"__metadata__": {"k": 1}}, b"", "not a string"),
])
def test_bad_safetensors(cairn, tmp_path, header, buffer, needle):
    path = tmp_path / "bad.safetensors"
    safetensors_file(path, header, buffer)
    check_refused(cairn, path, needle)


def test_safetensors_huge_header_and_duplicates(cairn, tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    check_refused(cairn, path, "too big")
    h = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\x01")
    check_refused(cairn, path, "appears twice")


def test_missing_file_and_bad_extension(cairn, tmp_path):
    check_refused(cairn, tmp_path / "nope.pth", "No such file")
    torch.save({"w": torch.ones(1)}, tmp_path / "m.pth")
    p = cairn("weights", "convert", tmp_path / "m.pth", tmp_path / "m.txt", check=False)
    assert p.returncode == 2 and "extension" in p.stderr
    assert not (tmp_path / "m.txt").exists()
