"""The registry benchmark: cairn's publish and verified load against SageMaker's path
(torch.save + tar czf model.tar.gz; tar xzf + torch.load), in one run, on a generated ~1.25 GiB
fp32 state dict saved as model.pth. Usage:
    python3 bench/registry_bench.py BENCH_BINARY [--gib 1.25] [--reps 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import OrderedDict

import torch

p = argparse.ArgumentParser()
p.add_argument("binary")
p.add_argument("--gib", type=float, default=1.25)
p.add_argument("--reps", type=int, default=3)
args = p.parse_args()

work = tempfile.mkdtemp(prefix="cairn-registry-bench-")
d1, d2 = os.path.join(work, "v1"), os.path.join(work, "v2")
os.makedirs(d1)
os.makedirs(d2)

torch.manual_seed(0)
sd = OrderedDict()
n = int(args.gib * 2**30 / (4 * 1024 * 1024))  # 4 MiB fp32 tensors
for i in range(n):
    sd[f"layers.{i}.weight"] = torch.randn(1024, 1024)
total = sum(t.numel() * 4 for t in sd.values())


def timed(fn, reps=args.reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def sh(*cmd):
    subprocess.run(cmd, check=True)


# SageMaker's path: the training script's torch.save, then the toolkit's tar czf.
save = timed(lambda: torch.save(sd, os.path.join(d1, "model.pth")))
tgz = os.path.join(work, "model.tar.gz")
tar_czf = timed(lambda: sh("tar", "czf", tgz, "-C", d1, "model.pth"), reps=1)
# Version 2: 10% of the tensors changed (a fine-tune of the last layers).
sd2 = OrderedDict(sd)
for k in list(sd2)[-max(1, n // 10):]:
    sd2[k] = sd2[k] + 0.01
torch.save(sd2, os.path.join(d2, "model.pth"))
out = os.path.join(work, "untar")


def untar_and_load():
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    sh("tar", "xzf", tgz, "-C", out)
    torch.load(os.path.join(out, "model.pth"))


tar_xzf_load = timed(untar_and_load, reps=1)
torch_load = timed(lambda: torch.load(os.path.join(d2, "model.pth")))

runs = []
for _ in range(args.reps):
    r = subprocess.run([args.binary, work, d1, d2], check=True, capture_output=True, text=True)
    runs.append(json.loads(r.stdout))
c = {k: statistics.median(r[k] for r in runs) for k in ("publish1", "publish2", "load")}
c.update({k: runs[0][k] for k in ("bytes1", "new_bytes1", "new_bytes2", "tensors")})
assert c["tensors"] == n

gib = total / 2**30
print(f"state dict: {n} fp32 tensors, {gib:.2f} GiB; medians of {args.reps} (tar: 1 run); "
      f"torch {torch.__version__}; local store")
rows = [
    ("torch.save", save), ("tar czf model.tar.gz", tar_czf),
    ("cairn publish v1 (hashed, fsynced)", c["publish1"]),
    ("cairn publish v2 (10% tensors changed)", c["publish2"]),
    ("tar xzf + torch.load", tar_xzf_load), ("torch.load alone", torch_load),
    ("cairn load v2 into memory (verified)", c["load"]),
]
for name, secs in rows:
    print(f"  {name:42s} {secs:8.3f} s")
print(f"  bytes written: v1 {c['new_bytes1'] / 2**20:.1f} MiB, v2 {c['new_bytes2'] / 2**20:.1f} MiB")
print(f"RESULT publish_vs_save_tar={(save + tar_czf) / c['publish1']:.1f} (target >= 15) "
      f"v2_bytes_fraction={c['new_bytes2'] / c['new_bytes1']:.3f} (target <= 0.12) "
      f"v2_speedup={c['publish1'] / c['publish2']:.1f} (target >= 5) "
      f"load_vs_untar_load={tar_xzf_load / c['load']:.1f} (target >= 10) "
      f"load_vs_torch_load={torch_load / c['load']:.2f} (target >= 3)")
shutil.rmtree(work)
