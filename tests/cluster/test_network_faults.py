"""A bad network between cairn and S3 (issue 16): cairn runs on host c1 (a network namespace),
RGW on the head; faults are real kernel tools on c1's side: nftables (random loss with numgen,
connection resets with `reject with tcp reset`, a partition dropping everything) and tbf (a slow
link). Latency, for which this kernel has no tool, comes from a delaying TCP relay (relay.py).
Under each fault, `cairn cp` both ways, a publish, a restore and a training job's checkpoint sync
either succeed (retries with backoff) or fail with a clear error; `models verify` is clean
afterwards, and no version is partial. At 50 ms of latency, cairn's throughput is compared with
awscli's in the same run. CAIRN_NETFAULT_PARTITION_SECONDS sets the partition (ctest: 8 s,
scripts/netfaults.sh: 30 s)."""
import hashlib
import json
import os
import subprocess
import threading
import time


from conftest import CAIRN, HEAD, S3_PORT

NS = "cairn-c1"
HERE = os.path.dirname(__file__)
PARTITION = int(os.environ.get("CAIRN_NETFAULT_PARTITION_SECONDS", "8"))
STORE = "s3://cairn/netstore"
MB = 1 << 20


def on_c1(cluster, *cmd, timeout=300, env=None):
    e = dict(cluster["env"], CAIRN_CACHE_DIR="off")
    e.update(env or {})
    return subprocess.run(["ip", "netns", "exec", NS, *map(str, cmd)], capture_output=True, text=True,
                          timeout=timeout, env=e)


def fault(rule):
    """nft rules on c1's traffic with RGW, both ways; None removes them."""
    subprocess.run(["ip", "netns", "exec", NS, "nft", "delete", "table", "inet", "cairnfault"],
                   capture_output=True)
    if rule is None:
        return
    out = "\n".join(f"    ip daddr {HEAD} tcp dport {S3_PORT} {r}" for r in rule)
    inn = "\n".join(f"    ip saddr {HEAD} tcp sport {S3_PORT} {r}" for r in rule if "ct state new" not in r)
    text = ("table inet cairnfault {\n"
            f"  chain out {{\n    type filter hook output priority 0; policy accept;\n{out}\n  }}\n"
            f"  chain in {{\n    type filter hook input priority 0; policy accept;\n{inn}\n  }}\n}}\n")
    subprocess.run(["ip", "netns", "exec", NS, "nft", "-f", "-"], input=text, text=True, check=True)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MB), b""):
            h.update(b)
    return h.hexdigest()


def clear(p):
    """A failure must be a clear error: cairn's message, not a crash."""
    if p.returncode == 0:
        return True
    assert p.returncode > 0 and p.returncode < 128, (p.returncode, p.stderr[-500:])
    assert "cairn" in p.stderr and "terminate called" not in p.stderr and "Aborted" not in p.stderr, p.stderr
    return False


def operations(cluster, tmp, tag):
    """cp up and down, publish, restore, checkpoint sync; {op: (ok, seconds, error)}."""
    out = {}
    blob = tmp / f"blob-{tag}"
    blob.write_bytes(os.urandom(24 * MB))
    model = tmp / f"model-{tag}"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(24 * MB))
    (model / "config.json").write_text(json.dumps({"tag": tag}))

    def timed(name, *cmd, check=None):
        t = time.time()
        p = on_c1(cluster, *cmd)
        ok = clear(p) and (check() if check else True)
        out[name] = (ok, time.time() - t, "" if ok else p.stderr.strip().splitlines()[-1][:200])
        return ok

    timed("cp up", CAIRN, "cp", blob, f"s3://cairn/net/{tag}/blob")
    if out["cp up"][0]:
        timed("cp down", CAIRN, "cp", f"s3://cairn/net/{tag}/blob", tmp / f"back-{tag}",
              check=lambda: sha(tmp / f"back-{tag}") == sha(blob))
    t = time.time()
    p = on_c1(cluster, CAIRN, "models", "--store", STORE, "publish", "net", model)
    ok = clear(p)
    out["publish"] = (ok, time.time() - t, "" if ok else p.stderr.strip().splitlines()[-1][:200])
    if ok:
        ref = p.stdout.strip().split()[-1]
        timed("restore", CAIRN, "models", "--store", STORE, "restore", ref, tmp / f"restored-{tag}",
              check=lambda: sha(tmp / f"restored-{tag}" / "weights.bin") == sha(model / "weights.bin"))
    p_t = time.time()
    p = on_c1(cluster, CAIRN, "train", os.path.join(HERE, "scripts", "checkpoints.py"), "--json",
              "--work-dir", tmp / f"jobs-{tag}", "--store", tmp / "local-store", "--job-name", f"ckpt-{tag}",
              "--checkpoint-uri", f"s3://cairn/net/ckpt-{tag}", "--tick", "0.5")
    ok = clear(p) and json.loads(p.stdout)["status"] == "Completed"
    if ok:
        listed = on_c1(cluster, CAIRN, "ls", f"s3://cairn/net/ckpt-{tag}/")
        ok = listed.returncode == 0 and all(f"ckpt-{i}.bin" in listed.stdout for i in range(4))
    out["checkpoint sync"] = (ok, time.time() - p_t, "" if ok else (p.stderr.strip().splitlines() or [""])[-1][:200])
    return out


def report(name, results):
    for op, (ok, secs, err) in results.items():
        print(f"  {name:28s} {op:16s} {'ok' if ok else 'FAILED':7s} {secs:6.1f} s  {err}", flush=True)


def verify(cluster):
    p = on_c1(cluster, CAIRN, "models", "--store", STORE, "verify", "net")
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_cairn_under_loss_resets_partition_and_a_slow_link(cluster, tmp_path):
    print()
    base = operations(cluster, tmp_path, "clean")
    report("no fault", base)
    assert all(ok for ok, _, _ in base.values()), base
    # Random loss and resets: retries carry every operation through.
    for name, rule in (("5% packet loss", ["numgen random mod 100 < 5 drop"]),
                       ("resets: 20% of connects, 1/20000 packets",
                        ["ct state new numgen random mod 100 < 20 reject with tcp reset",
                         "numgen random mod 20000 < 1 reject with tcp reset"])):
        fault(rule)
        try:
            r = operations(cluster, tmp_path, name.split()[0].strip("%:"))
        finally:
            fault(None)
        report(name, r)
        assert all(ok for ok, _, _ in r.values()), r
        verify(cluster)
    # A slow link (tbf at 40 Mbit/s each way: c1's eth0, and the head's end of its cable): slower,
    # still correct.
    tbf = ["tbf", "rate", "40mbit", "burst", "64kb", "latency", "300ms"]
    subprocess.run(["ip", "netns", "exec", NS, "tc", "qdisc", "add", "dev", "eth0", "root", *tbf], check=True)
    subprocess.run(["tc", "qdisc", "add", "dev", "v-c1", "root", *tbf], check=True)
    try:
        r = operations(cluster, tmp_path, "slow")
    finally:
        subprocess.run(["ip", "netns", "exec", NS, "tc", "qdisc", "del", "dev", "eth0", "root"])
        subprocess.run(["tc", "qdisc", "del", "dev", "v-c1", "root"])
    report("slow link 40 Mbit/s", r)
    assert all(ok for ok, _, _ in r.values()), r
    verify(cluster)
    # A partition in the middle of the operations: each succeeds or fails clearly; nothing partial.
    results = {}
    t = threading.Thread(target=lambda: results.update(operations(cluster, tmp_path, "partition")))
    t.start()
    time.sleep(1.5)
    fault(["drop"])
    time.sleep(PARTITION)
    fault(None)
    t.join(timeout=900)
    report(f"{PARTITION} s partition", results)
    assert set(results) >= {"cp up", "publish", "checkpoint sync"}, results
    p = verify(cluster)
    versions = json.loads(on_c1(cluster, CAIRN, "models", "--store", STORE, "versions", "net", "--json").stdout)
    print(f"  after every fault: models verify clean ({p.stdout.strip().splitlines()[-1] if p.stdout else ''}); "
          f"{len(versions)} versions, every one complete")


def test_throughput_at_50_ms_against_awscli(cluster, tmp_path):
    relay = subprocess.Popen(["ip", "netns", "exec", NS, "/usr/bin/python3", os.path.join(HERE, "relay.py"),
                              "127.0.0.1:17600", f"{HEAD}:{S3_PORT}", "25"], stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout.readline().strip() == "relay ready"
        via = {"AWS_ENDPOINT_URL": "http://127.0.0.1:17600"}
        blob = tmp_path / "blob"
        blob.write_bytes(os.urandom(64 * MB))
        aws = ["/usr/bin/aws", "--endpoint-url", "http://127.0.0.1:17600", "s3", "cp", "--only-show-errors"]
        rows = {}
        for name, cmd in (("cairn cp up", [CAIRN, "cp", blob, "s3://cairn/lat/cairn"]),
                          ("aws s3 cp up", aws + [blob, "s3://cairn/lat/aws"]),
                          ("cairn cp down", [CAIRN, "cp", "s3://cairn/lat/cairn", tmp_path / "c"]),
                          ("aws s3 cp down", aws + ["s3://cairn/lat/aws", tmp_path / "a"])):
            t = time.time()
            p = on_c1(cluster, *cmd, env=via)
            assert p.returncode == 0, p.stderr
            rows[name] = 64 / (time.time() - t)
        print()
        for name, mbs in rows.items():
            print(f"  50 ms RTT added, 64 MiB: {name:16s} {mbs:7.1f} MiB/s")
        print(f"  cairn / awscli: upload {rows['cairn cp up'] / rows['aws s3 cp up']:.2f}x, "
              f"download {rows['cairn cp down'] / rows['aws s3 cp down']:.2f}x")
        assert sha(tmp_path / "c") == sha(blob)
    finally:
        relay.terminate()
        relay.wait(timeout=10)
