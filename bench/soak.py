"""Soak: an endpoint under wrk at 64 connections for MINUTES, while every 10 s its alias moves
between two good versions and once a minute to a version that fails to load (the endpoint must
keep serving the old one). Prints, per minute, requests, failures (non-2xx answers and socket
errors: must be 0) and p99; and the RSS and open fds of every cairn process at the start (after
a warm-up) and at the end (growth must stay under 5%). Exits 1 if a check fails.
Usage: python3 bench/soak.py CAIRN_BINARY [--minutes 10] [--minute-seconds 60]"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--minutes", type=float, default=10)
p.add_argument("--minute-seconds", type=int, default=60, help="length of a 'minute' (CI: shorter)")
args = p.parse_args()
cairn = os.path.abspath(args.cairn)
serve = os.path.join(os.path.dirname(cairn), "cairn-serve")
work = tempfile.mkdtemp(prefix="cairn-soak-")
store = os.path.join(work, "store")
env = dict(os.environ, CAIRN_STORE=store)


def run(*a):
    return subprocess.run([str(x) for x in a], check=True, capture_output=True, text=True, env=env).stdout


# Versions 1 and 2: TorchScript (native serving); version 3: a file that is not a model.
for seed in (1, 2, 3):
    d = os.path.join(work, f"v{seed}")
    os.makedirs(d)
    if seed < 3:
        torch.manual_seed(seed)
        torch.jit.script(torch.nn.Linear(10, 1)).save(os.path.join(d, "model.pt"))
    else:
        with open(os.path.join(d, "model.pt"), "wb") as f:
            f.write(b"this is not a TorchScript archive")
    run(cairn, "models", "publish", "soak", d)
run(cairn, "models", "alias", "soak", "production", "1")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([serve, "soak@production", "--store", store, "--port", str(port), "--poll", "1"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
lua = os.path.join(work, "post.lua")
with open(lua, "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps([[0.5] * 10]))}\n")


def processes():
    """cairn-serve and its children: pid -> (rss KiB, open fds)."""
    out, todo = {}, [server.pid]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            out[pid] = (rss, len(os.listdir(f"/proc/{pid}/fd")))
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, AttributeError):
            continue
    return out


stop = threading.Event()
moves = {"good": 0, "broken": 0}


def mover():
    n = 0
    while not stop.wait(10 * args.minute_seconds / 60):
        n += 1
        if n % 6 == 3:  # mid-minute, so that even a 1-minute run has one
            run(cairn, "models", "alias", "soak", "production", "3")  # fails to load
            moves["broken"] += 1
        else:
            run(cairn, "models", "alias", "soak", "production", str(1 + n % 2))
            moves["good"] += 1


def wrk(seconds):
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", lua,
                          f"http://127.0.0.1:{port}/invocations"], capture_output=True, text=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return requests, non2xx + errors, p99_ms


ok = True
try:
    wrk(max(5, args.minute_seconds // 6))  # warm-up
    start = processes()
    threading.Thread(target=mover, daemon=True).start()
    total, failed = 0, 0
    minutes = max(1, round(args.minutes))
    print(f"soak: {minutes} x {args.minute_seconds} s of wrk -c64 on cairn-serve soak@production "
          f"(alias moves every {10 * args.minute_seconds / 60:.0f} s, a broken version every minute)")
    for m in range(minutes):
        requests, failures, p99 = wrk(args.minute_seconds)
        total += requests
        failed += failures
        print(f"  minute {m + 1}: {requests} requests, {failures} failed, p99 {p99:.2f} ms")
    stop.set()
    # wrk's 64 connections close as it exits: give the servers a few seconds to see them go.
    for _ in range(20):
        end = processes()
        if all(b[1] <= start[pid][1] + 4 for pid, b in end.items() if pid in start):
            break
        time.sleep(0.5)
    print(f"requests {total}, failures {failed}; alias moves {moves['good']} good, {moves['broken']} to a "
          f"version that fails to load")
    if failed:
        ok = False
    for pid in sorted(set(start) | set(end)):
        a, b = start.get(pid), end.get(pid)
        if not a or not b:
            print(f"  pid {pid}: {'started' if b else 'ended'} during the soak")
            continue
        growth = (b[0] - a[0]) / a[0]
        print(f"  pid {pid}: RSS {a[0] / 1024:.1f} -> {b[0] / 1024:.1f} MiB ({growth:+.1%}), fds {a[1]} -> {b[1]}")
        if growth > 0.05 or b[1] > a[1] + 4:  # a few fds of connections still closing
            ok = False
    versions = json.loads(run(cairn, "models", "versions", "soak", "--json"))
    print("ok" if ok else "FAILED")
finally:
    stop.set()
    server.terminate()
    server.wait(timeout=120)
    shutil.rmtree(work, ignore_errors=True)
sys.exit(0 if ok else 1)
