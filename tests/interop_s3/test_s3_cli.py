"""cairn cp/ls/rm/cat against the test S3 server, checked byte for byte with Debian's awscli.
Needs the server ctest starts (scripts/s3-server.sh; CAIRN_S3_DIR names its folder)."""
import hashlib
import os
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build", "cairn"))
ENDPOINT = os.environ["CAIRN_TEST_S3_ENDPOINT"]
BUCKET = os.environ.get("CAIRN_TEST_S3_BUCKET", "cairn-test")
# Small parts, so that the 40 MiB cases and the outage test go through multipart uploads.
os.environ["CAIRN_S3_PART_MIB"] = "8"


def run(*args, check=True, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, timeout=300, **kw)
    assert p.returncode >= 0, f"{args[0]} died of signal {-p.returncode}"
    if check:
        assert p.returncode == 0, (args, p.stdout[-2000:], p.stderr[-2000:])
    return p


def aws(*args, check=True):
    quiet = ["--only-show-errors"] if args[0] == "s3" else []  # an `aws s3` option only
    return run("/usr/bin/aws", "--endpoint-url", ENDPOINT, *quiet, *args, check=check)


@pytest.fixture
def prefix():
    return f"s3://{BUCKET}/cli-{uuid.uuid4().hex[:8]}"


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("size", [0, 1000, 5 * 2**20 + 1, 40 * 2**20 + 7])
def test_cairn_and_awscli_read_each_others_objects(tmp_path, prefix, size):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(size))
    run(CAIRN, "cp", src, f"{prefix}/by-cairn.bin")
    aws("s3", "cp", f"{prefix}/by-cairn.bin", tmp_path / "via-aws.bin")
    assert digest(tmp_path / "via-aws.bin") == digest(src)
    aws("s3", "cp", src, f"{prefix}/by-aws.bin")
    run(CAIRN, "cp", f"{prefix}/by-aws.bin", tmp_path / "via-cairn.bin")
    assert digest(tmp_path / "via-cairn.bin") == digest(src)


def test_recursive_copy_ls_cat_rm(tmp_path, prefix):
    tree = tmp_path / "tree"
    (tree / "code").mkdir(parents=True)
    (tree / "model.pth").write_bytes(b"weights")
    (tree / "code" / "inference.py").write_text("def model_fn(d):\n    pass\n")
    run(CAIRN, "cp", "-r", tree, f"{prefix}/model")
    ls = run(CAIRN, "ls", f"{prefix}/model").stdout.decode().splitlines()
    assert [l.split()[-1] for l in ls] == [f"{prefix}/model/code/inference.py", f"{prefix}/model/model.pth"]
    assert run(CAIRN, "cat", f"{prefix}/model/model.pth").stdout == b"weights"
    run(CAIRN, "cp", "-r", f"{prefix}/model", tmp_path / "back")
    assert (tmp_path / "back" / "code" / "inference.py").read_text() == (tree / "code" / "inference.py").read_text()
    run(CAIRN, "rm", "-r", f"{prefix}/model")
    assert run(CAIRN, "ls", f"{prefix}/model").stdout == b""


def test_errors_are_one_clear_line(tmp_path, prefix):
    p = run(CAIRN, "cat", f"{prefix}/missing", check=False)
    assert p.returncode == 2 and b"no object" in p.stderr and p.stderr.count(b"\n") == 1
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY="wrong")
    (tmp_path / "f").write_bytes(b"x")
    p = run(CAIRN, "cp", tmp_path / "f", f"{prefix}/f", check=False, env=env)
    assert p.returncode == 2 and b"SignatureDoesNotMatch" in p.stderr, p.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    p = run(CAIRN, "ls", prefix, check=False, env=env)
    assert p.returncode == 2 and b"no AWS credentials" in p.stderr, p.stderr


def test_server_stopped_mid_upload_leaves_no_object(tmp_path, prefix):
    server = os.environ["CAIRN_S3_DIR"]
    script = os.path.join(ROOT, "scripts", "s3-server.sh")
    key = f"{prefix}/interrupted.bin"
    p = subprocess.Popen([CAIRN, "cp", "-", key], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(os.urandom(40 * 2**20))  # two parts gone up: a multipart upload is under way
        p.stdin.flush()
        time.sleep(0.5)
        run(script, "rgw-stop", server)
        try:
            p.stdin.write(os.urandom(40 * 2**20))
            p.stdin.close()
        except BrokenPipeError:
            pass
        rc = p.wait(timeout=120)
        err = p.stderr.read().decode()
    finally:
        run(script, "rgw-start", server)
    assert rc == 2, err
    assert err.startswith("cairn: ") and err.count("\n") == 1, err
    assert "127.0.0.1" in err or "connect" in err.lower(), err
    assert aws("s3api", "head-object", "--bucket", BUCKET, "--key", key.split("/", 3)[3],
               check=False).returncode != 0
    assert run(CAIRN, "ls", prefix).stdout == b""


def test_registry_on_s3_with_sagemaker_artifacts(tmp_path, prefix):
    """A registry kept in S3; versions exported as model.tar.gz and as a prefix, and imported back."""
    store = ["--store", f"{prefix}/registry"]
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "model.pth").write_bytes(os.urandom(3 * 2**20))
    (model / "code" / "inference.py").write_text("def model_fn(d): pass\n")
    assert run(CAIRN, "models", *store, "publish", "s3m", model).stdout == b"s3m:1\n"
    run(CAIRN, "models", *store, "export", "s3m:1", f"{prefix}/out/model.tar.gz")
    aws("s3", "cp", f"{prefix}/out/model.tar.gz", tmp_path / "model.tar.gz")
    names = run("tar", "tzf", tmp_path / "model.tar.gz").stdout.decode().split()
    assert sorted(names) == ["code/inference.py", "model.pth"]
    run(CAIRN, "models", *store, "export", "s3m:1", f"{prefix}/uncompressed")
    assert run(CAIRN, "models", *store, "import", "s3m", f"{prefix}/out/model.tar.gz").stdout == b"s3m:2\n"
    assert run(CAIRN, "models", *store, "import", "s3m", f"{prefix}/uncompressed").stdout == b"s3m:3\n"
    assert run(CAIRN, "models", *store, "diff", "s3m:1", "s3m:3").stdout == b"identical\n"
    run(CAIRN, "models", *store, "restore", "s3m:2", tmp_path / "restored")
    assert digest(tmp_path / "restored" / "model.pth") == digest(model / "model.pth")
    assert run(CAIRN, "models", *store, "verify").stdout.startswith(b"ok: 3 versions")


def test_server_side_encryption_of_uploads(tmp_path, prefix):
    """cairn cp --sse asks the S3 server to encrypt what it uploads (single PUT and multipart), as
    aws s3 cp --sse does; the object reads back the same, and the server says how it is stored."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=ENDPOINT)
    key_id = os.environ.get("CAIRN_TEST_S3_KMS_KEY_ID", "cairn-test-key")
    for size in (1000, 20 * 2**20 + 3):  # one PUT; a multipart upload (8 MiB parts here)
        src = tmp_path / f"src-{size}"
        src.write_bytes(os.urandom(size))
        for sse, extra in (("AES256", []), ("aws:kms", ["--sse-kms-key-id", key_id])):
            dst = f"{prefix}/{sse.replace(':', '-')}-{size}"
            run(CAIRN, "cp", "--sse", sse, *extra, src, dst)
            bucket, key = dst[5:].split("/", 1)
            head = s3.head_object(Bucket=bucket, Key=key)
            if sse == "aws:kms":  # Ceph RGW 16 takes AES256 but does not report it on HEAD
                assert head["ServerSideEncryption"] == sse and head["SSEKMSKeyId"] == key_id, head
            run(CAIRN, "cp", dst, tmp_path / "back")
            assert digest(tmp_path / "back") == digest(src)
    p = run(CAIRN, "cp", "--sse", "rot13", tmp_path / "back", f"{prefix}/x", check=False)
    assert p.returncode == 2 and b"AES256 or aws:kms" in p.stderr, p.stderr


def versions_of(bucket, prefix):
    """{key: [version ids, newest first]} and {key: delete markers} under prefix."""
    import json
    out = json.loads(aws("s3api", "list-object-versions", "--bucket", bucket, "--prefix", prefix,
                         "--output", "json").stdout or b"{}")
    versions, markers = {}, {}
    for v in out.get("Versions") or []:
        versions.setdefault(v["Key"], []).append(v["VersionId"])
    for m in out.get("DeleteMarkers") or []:
        markers.setdefault(m["Key"], []).append(m["VersionId"])
    return versions, markers


def test_a_versioned_bucket_that_ignores_conditional_writes(tmp_path):
    """Ceph RGW ignores If-None-Match: * and If-Match on a bucket with versioning enabled (a
    second PUT of a key answers 200 and adds a version). cairn finds that out with a probe and
    settles its conditional writes by the key's object versions instead (the oldest wins): 16
    concurrent publishers get 16 distinct versions, 8 concurrent alias moves all land in the
    alias's history, a loser's leftover version does not change what readers see, and gc removes
    every version of what it deletes."""
    import json
    from concurrent.futures import ThreadPoolExecutor
    bucket = f"cairn-versioned-{uuid.uuid4().hex[:6]}"
    aws("s3api", "create-bucket", "--bucket", bucket)
    aws("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    store = f"s3://{bucket}/registry"
    dirs = []
    for i in range(16):
        d = tmp_path / f"m{i}"
        d.mkdir()
        (d / "model.pth").write_bytes(f"weights of publisher {i}".encode() * 100)
        dirs.append(d)
    with ThreadPoolExecutor(16) as pool:
        refs = list(pool.map(lambda d: run(CAIRN, "models", "--store", store, "publish", "c", d)
                             .stdout.decode().strip(), dirs))
    assert sorted(refs, key=lambda r: int(r.split(":")[1])) == [f"c:{n}" for n in range(1, 17)], refs
    # Each version holds what its own publisher published, and each manifest key kept exactly
    # one object version (the losers removed theirs).
    for d, ref in zip(dirs, refs):
        run(CAIRN, "models", "--store", store, "restore", ref, tmp_path / f"r-{ref}")
        assert (tmp_path / f"r-{ref}" / "model.pth").read_bytes() == (d / "model.pth").read_bytes()
    versions, markers = versions_of(bucket, "registry/registry/groups/c/versions/")
    assert len(versions) == 16 and all(len(v) == 1 for v in versions.values()), versions
    assert not markers, markers
    # Alias moves from 8 processes at once: every one lands, once.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: run(CAIRN, "models", "--store", store, "alias", "c", "prod", n),
                      range(1, 9)))
    versions, _ = versions_of(bucket, "registry/registry/groups/c/aliases/prod/")
    assert len(versions) == 8 and all(len(v) == 1 for v in versions.values()), versions
    now = json.loads(run(CAIRN, "models", "--store", store, "describe", "c@prod").stdout)
    assert 1 <= now["version"] <= 8
    # A loser that died before removing its version: a second version-1 manifest written after
    # the first (as RGW lets any PUT through). Readers still see the first.
    key = "registry/registry/groups/c/versions/" + sorted(versions_of(
        bucket, "registry/registry/groups/c/versions/")[0])[0].split("/versions/")[1]
    fake = tmp_path / "fake.json"
    fake.write_text("{}")
    before = run(CAIRN, "models", "--store", store, "describe", "c:1").stdout
    aws("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", fake,
        "--metadata", "cairn-write=if-absent")
    assert run(CAIRN, "models", "--store", store, "describe", "c:1").stdout == before
    assert run(CAIRN, "models", "--store", store, "verify").returncode == 0
    # gc: an unreferenced chunk (written as a failed publish leaves one) is deleted with every
    # version of it, not only hidden behind a delete marker (the marker stays: it holds no data).
    orphan = "registry/chunks/sha256/ab/" + "ab" * 32
    aws("s3api", "put-object", "--bucket", bucket, "--key", orphan, "--body", fake)
    aws("s3api", "put-object", "--bucket", bucket, "--key", orphan, "--body", fake)
    report = json.loads(run(CAIRN, "models", "--store", store, "gc", "--json").stdout)
    assert report["deleted"] == 1 and report["space_kept_as_versions"] is False, report
    versions, markers = versions_of(bucket, orphan)
    assert not versions and len(markers[orphan]) == 1, (versions, markers)
    # The probe left nothing behind, versions included.
    versions, markers = versions_of(bucket, "registry/.cairn/")
    assert not versions and not markers, (versions, markers)


def test_a_pinned_object_version_is_read_by_cp_and_import(tmp_path):
    """s3://bucket/key?versionId=V reads that version of the object, whichever is current: for cp
    (to a file and to another object) and for `models import` (what CreateModel's ModelDataUrl
    uses)."""
    import json
    import tarfile
    bucket = f"cairn-pinned-{uuid.uuid4().hex[:6]}"
    aws("s3api", "create-bucket", "--bucket", bucket)
    aws("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    ids = []
    for n in (1, 2):
        (tmp_path / f"v{n}").mkdir()
        (tmp_path / f"v{n}" / "model.pth").write_bytes(f"weights {n}".encode() * 1000)
        with tarfile.open(tmp_path / f"model-{n}.tar.gz", "w:gz") as t:
            t.add(tmp_path / f"v{n}" / "model.pth", arcname="model.pth")
        out = aws("s3api", "put-object", "--bucket", bucket, "--key", "job/output/model.tar.gz", "--body",
                  tmp_path / f"model-{n}.tar.gz", "--output", "json").stdout
        ids.append(json.loads(out)["VersionId"])
    first = f"s3://{bucket}/job/output/model.tar.gz?versionId={ids[0]}"
    run(CAIRN, "cp", first, tmp_path / "got.tar.gz")
    assert digest(tmp_path / "got.tar.gz") == digest(tmp_path / "model-1.tar.gz")
    run(CAIRN, "cp", f"s3://{bucket}/job/output/model.tar.gz", tmp_path / "current.tar.gz")
    assert digest(tmp_path / "current.tar.gz") == digest(tmp_path / "model-2.tar.gz")
    store = f"s3://{BUCKET}/pinned-{uuid.uuid4().hex[:6]}"
    assert run(CAIRN, "models", "--store", store, "import", "pinned", first).stdout.strip() == b"pinned:1"
    run(CAIRN, "models", "--store", store, "restore", "pinned:1", tmp_path / "restored")
    assert (tmp_path / "restored" / "model.pth").read_bytes() == (tmp_path / "v1" / "model.pth").read_bytes()
    p = run(CAIRN, "cp", f"s3://{bucket}/job/output/model.tar.gz?versionId=nosuchversion", tmp_path / "x",
            check=False)
    assert p.returncode != 0 and b"no version nosuchversion" in p.stderr, p.stderr
