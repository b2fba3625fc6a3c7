"""The weights benchmark: cairn against PyTorch's torch.load / torch.save, in one run, on the
same ~1 GiB state dict. Prints the medians and the ratios. Usage:
    python3 bench/weights_bench.py BENCH_BINARY [--gib 1.0] [--reps 5] [--dir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import OrderedDict

import torch

p = argparse.ArgumentParser()
p.add_argument("binary")
p.add_argument("--gib", type=float, default=1.0)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--dir", default=None)
args = p.parse_args()

work = args.dir or tempfile.mkdtemp(prefix="cairn-bench-")
src, torch_out, cairn_out = (os.path.join(work, n) for n in ("model.pth", "torch_out.pth", "cairn_out.pth"))

# A transformer-like state dict: F32 matrices and vectors, a few BF16/F16 tensors.
torch.manual_seed(0)
sd = OrderedDict()
total, i = 0, 0
target = int(args.gib * 2**30)
while total < target:
    sd[f"layers.{i}.attn.weight"] = torch.randn(1024, 1024)
    sd[f"layers.{i}.attn.bias"] = torch.randn(1024)
    sd[f"layers.{i}.mlp.weight"] = torch.randn(2048, 1024)
    sd[f"layers.{i}.norm.weight"] = torch.randn(1024).to(torch.bfloat16)
    sd[f"layers.{i}.embed_delta"] = torch.randn(512, 256).to(torch.float16)
    total = sum(t.numel() * t.element_size() for t in sd.values())
    i += 1
torch.save(sd, src)


def timed(fn, reps):
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def torch_save(sync):
    def run():
        with open(torch_out, "wb") as f:
            torch.save(sd, f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
    return run


torch.load(src)  # warm the page cache for both sides
torch_load = timed(lambda: torch.load(src), args.reps)
torch_save_t = timed(torch_save(False), args.reps)
torch_save_sync = timed(torch_save(True), args.reps)
c = json.loads(subprocess.run([args.binary, src, cairn_out, str(args.reps)], check=True,
                              capture_output=True, text=True).stdout)
ok = torch.load(cairn_out)
assert list(ok) == list(sd) and all(torch.equal(ok[k], sd[k]) for k in sd), "cairn's file differs"

gib = total / 2**30
print(f"state dict: {len(sd)} tensors, {gib:.2f} GiB; {args.reps} runs each, medians; "
      f"cairn threads: {c['threads']}; torch {torch.__version__}")
rows = [
    ("torch.load", torch_load, None),
    ("cairn read (mmap, lazy)", c["read"], torch_load / c["read"]),
    ("cairn read + copy all bytes", c["read_copy"], torch_load / c["read_copy"]),
    ("cairn read + SHA-256 of every tensor", c["read_sha256"], torch_load / c["read_sha256"]),
    ("torch.save", torch_save_t, None),
    ("cairn write (no fsync, as torch.save)", c["write_nosync"], c["write_nosync"] / torch_save_t),
    ("torch.save + fsync", torch_save_sync, None),
    ("cairn write (fsync)", c["write"], c["write"] / torch_save_sync),
]
for name, secs, ratio in rows:
    extra = ""
    if ratio is not None:
        extra = (f"  {ratio:6.2f}x faster than torch.load" if "read" in name
                 else f"  {ratio:6.2f}x the time of torch.save")
    print(f"  {name:40s} {secs:8.3f} s  {gib / secs:6.2f} GiB/s{extra}")
read_ratio = torch_load / c["read_sha256"]
write_ratio = c["write_nosync"] / torch_save_t
print(f"RESULT read_with_sha256_speedup={read_ratio:.2f} (target >= 3) "
      f"write_time_ratio={write_ratio:.2f} (target <= 1.1) "
      f"write_fsync_time_ratio={c['write'] / torch_save_sync:.2f}")
if not args.dir:
    for f in (src, torch_out, cairn_out):
        os.remove(f)
    os.rmdir(work)
