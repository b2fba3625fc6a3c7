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


def test_a_bucket_that_ignores_conditional_writes_is_refused(tmp_path, prefix):
    """Ceph RGW ignores If-None-Match: * on a bucket with versioning enabled (a second PUT of the
    key answers 200 and adds a version), which would let two publishers both take version 1.
    cairn probes a bucket before its first conditional write and refuses such a bucket with an
    error that says why; the probe leaves nothing behind; an ordinary bucket works."""
    bucket = f"cairn-versioned-{uuid.uuid4().hex[:6]}"
    aws("s3api", "create-bucket", "--bucket", bucket)
    aws("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pth").write_bytes(b"weights")
    p = run(CAIRN, "models", "--store", f"s3://{bucket}/registry", "publish", "c", model, check=False)
    assert p.returncode == 2, p
    assert b"does not honour conditional writes" in p.stderr and b"versioning" in p.stderr, p.stderr
    assert len(p.stderr.decode().strip().splitlines()) == 1, p.stderr  # one clear line
    versions = aws("s3api", "list-object-versions", "--bucket", bucket, "--output", "json").stdout.decode()
    assert ".cairn/" not in versions and "registry/groups" not in versions, versions
    # The same publish on the ordinary test bucket works.
    assert run(CAIRN, "models", "--store", f"{prefix}/registry", "publish", "c", model).stdout == b"c:1\n"


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
