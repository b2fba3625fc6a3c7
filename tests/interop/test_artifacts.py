"""SageMaker artifacts in and out of the registry: model.tar.gz and uncompressed prefixes, and
hostile archives refused."""
import io
import os
import subprocess
import tarfile

import pytest
import torch

from conftest import assert_same


def sagemaker_tar(path, sd):
    """A model.tar.gz as the SageMaker toolkit packs model_dir (made with Python's tarfile)."""
    buf = io.BytesIO()
    torch.save(sd, buf)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [("model.pth", buf.getvalue()), ("code/inference.py", b"def model_fn(d): pass\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_import_export_round_trip(cairn, tmp_path):
    store = ["--store", str(tmp_path / "store")]
    sd = torch.nn.Linear(6, 3).state_dict()
    sagemaker_tar(tmp_path / "model.tar.gz", sd)
    assert cairn("models", *store, "import", "imported", tmp_path / "model.tar.gz").stdout == "imported:1\n"
    desc = cairn("models", *store, "describe", "imported:1").stdout
    assert "imported_from" in desc and "code/inference.py" in desc
    # Export as model.tar.gz: plain tar opens it and torch.load reads its model.pth.
    cairn("models", *store, "export", "imported:1", tmp_path / "out" / "model.tar.gz")
    names = subprocess.run(["tar", "tzf", tmp_path / "out" / "model.tar.gz"], check=True,
                           capture_output=True, text=True).stdout.split()
    assert sorted(names) == ["code/inference.py", "model.pth"]
    subprocess.run(["tar", "xzf", tmp_path / "out" / "model.tar.gz", "-C", tmp_path / "out"], check=True)
    assert_same(sd, torch.load(tmp_path / "out" / "model.pth", weights_only=True))
    # Export as an uncompressed prefix and import that.
    cairn("models", *store, "export", "imported:1", tmp_path / "prefix")
    assert sorted(os.listdir(tmp_path / "prefix")) == ["code", "model.pth"]
    assert cairn("models", *store, "import", "imported", tmp_path / "prefix").stdout == "imported:2\n"
    assert cairn("models", *store, "diff", "imported:1", "imported:2").stdout == "identical\n"


def hostile(path, kind):
    with tarfile.open(path, "w:gz") as tar:
        def add(info, data=b""):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add(tarfile.TarInfo("model.pth"), b"ok")
        if kind == "dotdot":
            add(tarfile.TarInfo("../../evil.txt"), b"x")
        elif kind == "absolute":
            add(tarfile.TarInfo("/tmp/cairn-evil.txt"), b"x")
        elif kind == "symlink":
            info = tarfile.TarInfo("link")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            add(info)
        elif kind == "hardlink":
            info = tarfile.TarInfo("hard")
            info.type, info.linkname = tarfile.LNKTYPE, "../../etc/passwd"
            add(info)
        elif kind == "device":
            info = tarfile.TarInfo("dev")
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            add(info)
        elif kind == "bomb":
            info = tarfile.TarInfo("zeros.bin")
            info.size = 300 * 2**20
            tar.addfile(info, io.BytesIO(bytes(info.size)))


@pytest.mark.parametrize("kind,needle", [
    ("dotdot", "leaves the directory"), ("absolute", "absolute path"),
    ("symlink", "outside the directory"), ("hardlink", "outside the directory"),
    ("device", "device"), ("bomb", "decompression bomb"),
])
def test_hostile_archives_are_refused(cairn, tmp_path, kind, needle):
    store = ["--store", str(tmp_path / "store")]
    hostile(tmp_path / "model.tar.gz", kind)
    p = cairn("models", *store, "import", "evil", tmp_path / "model.tar.gz", check=False)
    assert p.returncode == 2 and needle in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert not os.path.exists("/tmp/cairn-evil.txt") and not (tmp_path.parent / "evil.txt").exists()
    assert cairn("models", *store, "list", "--json").stdout.strip() == "[]"
