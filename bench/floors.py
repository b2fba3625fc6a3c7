"""The floors benchmark (issue 16, part 6): cairn's verified load and publish against their
physical floors and against torch.load, in one run, on the same cores. Usage:
    python3 bench/floors.py FLOORS_BINARY [--gib 1.25] [--reps 5] [--dir DIR]

A ~1.25 GiB fp32 state dict (4 MiB tensors) is saved as v1/model.pth and, with the last 10% of
its tensors changed, as v2/model.pth. bench/floors.cc times cairn and the floors; this script
times torch.load of v2/model.pth with the file in the page cache (one warm-up, then the median),
and prints the figures and the ratios against the issue's targets.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import OrderedDict

import torch

p = argparse.ArgumentParser()
p.add_argument("binary")
p.add_argument("--gib", type=float, default=1.25)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--dir", default=None, help="work folder (default: a new one in /var/tmp)")
args = p.parse_args()

work = tempfile.mkdtemp(prefix="cairn-floors-", dir=args.dir or "/var/tmp")
d1, d2 = os.path.join(work, "v1"), os.path.join(work, "v2")
os.makedirs(d1)
os.makedirs(d2)
torch.manual_seed(0)
sd = OrderedDict()
n = max(10, int(args.gib * 2**30 / (4 << 20)))
for i in range(n):
    sd[f"layers.{i}.weight"] = torch.randn(1024, 1024)
torch.save(sd, os.path.join(d1, "model.pth"))
for k in list(sd)[-max(1, n // 10):]:
    sd[k] = sd[k] + 0.01
torch.save(sd, os.path.join(d2, "model.pth"))
del sd

# torch.load with the file in the page cache, in a process of its own (this one's allocator
# holds what building the state dicts left): one warm-up, then the median of reps.
TORCH_LOAD = """
import statistics, sys, time, torch
times = []
for i in range(int(sys.argv[2]) + 1):
    t = time.perf_counter()
    loaded = torch.load(sys.argv[1])
    if i:
        times.append(time.perf_counter() - t)
    del loaded
print(statistics.median(times), min(times))
"""
r = subprocess.run([sys.executable, "-c", TORCH_LOAD, os.path.join(d2, "model.pth"),
                    str(args.reps)], check=True, capture_output=True, text=True)
torch_load, torch_load_min = (float(x) for x in r.stdout.split())

r = subprocess.run([args.binary, work, d1, d2, str(args.reps)], check=True, capture_output=True,
                   text=True)
c = json.loads(r.stdout)
assert c["tensors"] == n, c
publish_floor = c["cut"] + c["hash_file"] + c["write"]
gib = c["bytes"] / 2**30
print(f"state dict: {n} fp32 tensors, {gib:.2f} GiB, 10% of tensors changed in v2; "
      f"{c['threads']} threads; medians of {args.reps} after a warm-up; torch {torch.__version__}")
rows = [
    ("cairn publish v2 (after v1)", c["publish"]),
    ("  floor: cut into chunks", c["cut"]),
    ("  floor: SHA-256 of every byte", c["hash_file"]),
    (f"  floor: write + fsync the new bytes ({c['new_bytes'] / 2**20:.0f} MiB)", c["write"]),
    ("  floor: sum", publish_floor),
    ("cairn verified load of v2 (ReadFile + ReadPyTorch)", c["load"]),
    ("  of which ReadFile (fetch + verify every chunk)", c["read_only"]),
    ("  floor: SHA-256 of the same bytes in memory", c["hash_floor"]),
    ("torch.load of v2 (page cache warm; median)", torch_load),
    ("torch.load of v2 (page cache warm; best)", torch_load_min),
]
for name, secs in rows:
    print(f"  {name:58s} {secs:8.3f} s")
print(f"RESULT load_vs_sha256_floor={c['load'] / c['hash_floor']:.2f} (target <= 1.25) "
      f"load_speedup_vs_torch_load={torch_load / c['load']:.2f} (target >= 2) "
      f"publish_vs_floor={c['publish'] / publish_floor:.2f} (target <= 1.25)")
shutil.rmtree(work)
