"""The S3 transfer benchmark: upload and download of one file to a throw-away Ceph RGW, in one run,
by cairn, by Debian's awscli (/usr/bin/aws s3 cp), and by parallel `curl --aws-sigv4` requests
(unsigned payload, N ranges) as the server's ceiling: downloads to /dev/null (the server
alone) and to files (what every downloader also pays on this machine). Prints medians and ratios. Usage:
    python3 bench/s3_bench.py CAIRN_BINARY [--mib 1024] [--reps 3] [--ranges 8] [--port 17580]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--mib", type=int, default=1024)
p.add_argument("--reps", type=int, default=3)
p.add_argument("--ranges", type=int, default=8)
p.add_argument("--port", type=int, default=17580)
args = p.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
script = os.path.join(root, "scripts", "s3-server.sh")
work = tempfile.mkdtemp(prefix="cairn-s3-bench-")
server = os.path.join(work, "server")
endpoint = f"http://127.0.0.1:{args.port}"
keys = ("cairn-test-access", "cairn-test-secret")
env = dict(os.environ, AWS_ACCESS_KEY_ID=keys[0], AWS_SECRET_ACCESS_KEY=keys[1],
           AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint, CAIRN_S3_BUCKETS="bench",
           CAIRN_S3_MEMORY_BYTES=str(12 * 2**30))
size = args.mib * 2**20


def sh(*cmd, **kw):
    subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.DEVNULL, **kw)


def curl(*extra):
    return ["curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{keys[0]}:{keys[1]}",
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", *extra]


def parallel(cmds):
    procs = [subprocess.Popen(c, env=env) for c in cmds]
    assert all(p.wait() == 0 for p in procs), "a curl request failed"


def timed_round_robin(fns):
    """Runs each contender once per round, in turn, so that background work of the server
    (e.g. garbage collection of overwritten objects) falls on all of them alike."""
    times = {name: [] for name in fns}
    for _ in range(args.reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


sh(script, "start", server, args.port)
try:
    src = os.path.join(work, "src.bin")
    with open(src, "wb") as f:
        for _ in range(args.mib):
            f.write(os.urandom(2**20))
    chunk = size // args.ranges
    parts = []
    for i in range(args.ranges):  # the ceiling uploads pre-split parts as separate objects
        parts.append(os.path.join(work, f"part{i}"))
        with open(src, "rb") as f, open(parts[-1], "wb") as out:
            f.seek(i * chunk)
            out.write(f.read(chunk if i < args.ranges - 1 else size - i * chunk))
    dst = os.path.join(work, "dst.bin")

    def rng(i):
        end = size if i == args.ranges - 1 else (i + 1) * chunk
        return f"{i * chunk}-{end - 1}"

    aws = ["/usr/bin/aws", "--endpoint-url", endpoint, "--only-show-errors", "s3", "cp"]

    up = timed_round_robin({
        "cairn": lambda: sh(args.cairn, "cp", src, "s3://bench/cairn.bin"),
        "awscli": lambda: sh(*aws, src, "s3://bench/aws.bin"),
        "ceiling": lambda: parallel(
            [curl("-T", part, f"{endpoint}/bench/ceiling{i}") for i, part in enumerate(parts)]),
    })
    down = timed_round_robin({
        "cairn": lambda: sh(args.cairn, "cp", "s3://bench/cairn.bin", dst),
        "awscli": lambda: sh(*aws, "s3://bench/cairn.bin", dst + ".aws"),
        "ceiling": lambda: parallel(
            [curl("-o", "/dev/null", "-r", rng(i), f"{endpoint}/bench/cairn.bin")
             for i in range(args.ranges)]),
        # The same requests writing their bytes to files, as any downloader must.
        "ceiling-files": lambda: parallel(
            [curl("-o", os.path.join(work, f"range{i}"), "-r", rng(i), f"{endpoint}/bench/cairn.bin")
             for i in range(args.ranges)]),
    })
    sh("cmp", src, dst)
    sh("cmp", src, dst + ".aws")
    print(f"{args.mib} MiB, {args.reps} rounds (contenders in turn), medians; "
      f"ceiling = {args.ranges} parallel curl requests")
    for name, d in (("upload", up), ("download", down)):
        for who in d:
            print(f"  {name:8s} {who:13s} {d[who]:7.2f} s  {args.mib / d[who]:7.1f} MiB/s")
    print(f"RESULT upload_vs_awscli={up['awscli'] / up['cairn']:.2f} (target >= 2) "
          f"upload_vs_ceiling={up['ceiling'] / up['cairn']:.2f} (target >= 0.9, issue 16) "
          f"download_vs_awscli={down['awscli'] / down['cairn']:.2f} (target >= 1.6) "
          f"download_vs_ceiling={down['ceiling'] / down['cairn']:.2f} (target >= 0.8) "
          f"download_vs_ceiling_to_files={down['ceiling-files'] / down['cairn']:.2f}")
finally:
    subprocess.run([script, "stop", server], env=env)
    shutil.rmtree(work, ignore_errors=True)
