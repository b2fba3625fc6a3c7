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


def test_archives_as_the_sdk_and_tar_write_them(cairn, tmp_path):
    """The SageMaker SDK's repack (a root directory entry '/', written with arcname=os.sep),
    `tar czf -C dir .` ('./' names) and `tar rf` (a member given twice: tar keeps the last copy)."""
    store = ["--store", str(tmp_path / "store")]
    sd_old, sd_new = torch.nn.Linear(6, 3).state_dict(), torch.nn.Linear(6, 3).state_dict()
    d = tmp_path / "model"
    (d / "code").mkdir(parents=True)
    torch.save(sd_new, d / "model.pth")
    (d / "code" / "inference.py").write_text("def model_fn(d): pass\n")
    # The SDK's way (sagemaker/utils.py repack_model: t.add(tmp, arcname=os.path.sep)).
    with tarfile.open(tmp_path / "repacked.tar.gz", "w:gz") as t:
        t.add(d, arcname=os.path.sep)
    first = tarfile.open(tmp_path / "repacked.tar.gz").getmembers()[0]
    assert first.isdir() and first.name in ("", "/")  # the root, written as "/"
    assert cairn("models", *store, "import", "sdk", tmp_path / "repacked.tar.gz").stdout == "sdk:1\n"
    # tar's own './' names.
    subprocess.run(["tar", "czf", tmp_path / "dot.tar.gz", "-C", d, "."], check=True)
    assert cairn("models", *store, "import", "sdk", tmp_path / "dot.tar.gz").stdout == "sdk:2\n"
    assert cairn("models", *store, "diff", "sdk:1", "sdk:2").stdout == "identical\n"
    # model.pth twice: the later copy is the one tar extracts, and the one kept.
    old = tmp_path / "old"
    old.mkdir()
    torch.save(sd_old, old / "model.pth")
    subprocess.run(["tar", "cf", tmp_path / "twice.tar", "-C", old, "model.pth"], check=True)
    subprocess.run(["tar", "rf", tmp_path / "twice.tar", "-C", d, "model.pth"], check=True)
    assert cairn("models", *store, "import", "twice", tmp_path / "twice.tar").stdout == "twice:1\n"
    cairn("models", *store, "restore", "twice:1", tmp_path / "restored")
    assert_same(sd_new, torch.load(tmp_path / "restored" / "model.pth", weights_only=True))
    # A file with an absolute path is still refused, root entry or not.
    with tarfile.open(tmp_path / "abs.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo("/")
        info.type = tarfile.DIRTYPE
        t.addfile(info)
        info = tarfile.TarInfo("/tmp/cairn-evil.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    p = cairn("models", *store, "import", "evil", tmp_path / "abs.tar.gz", check=False)
    assert p.returncode == 2 and "absolute path" in p.stderr, p.stderr
