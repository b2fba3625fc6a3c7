"""The overhead of a cairn training job around a script that does nothing but write a small model
file: cairn's workspace, SM_* environment, job record, log upload and the publish of the model
directory as a version, against running the same script directly. Target: <= 0.3 s.
Usage: python3 bench/train_overhead.py CAIRN_BINARY [--reps 10]"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("cairn")
p.add_argument("--reps", type=int, default=10)
args = p.parse_args()

work = tempfile.mkdtemp(prefix="cairn-train-bench-")
script = os.path.join(work, "noop.py")
with open(script, "w") as f:
    f.write("import os\n"
            "with open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.pth'), 'wb') as f:\n"
            "    f.write(b'w' * 4096)\n")
model_dir = os.path.join(work, "direct-model")
os.makedirs(model_dir)


def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


direct, cairn = [], []
env = dict(os.environ, SM_MODEL_DIR=model_dir)
for i in range(args.reps):  # interleaved, so that both see the same machine
    direct.append(timed(["/usr/bin/python3", script], env))
    cairn.append(timed([args.cairn, "train", script, "--store", os.path.join(work, "store"),
                        "--work-dir", os.path.join(work, "jobs")]))
d, c = statistics.median(direct), statistics.median(cairn)
print(f"script run directly: {d * 1000:7.1f} ms (median of {args.reps})")
print(f"cairn train:         {c * 1000:7.1f} ms (workspace, environment, record, publish)")
print(f"RESULT overhead={c - d:.3f}s (target <= 0.3) ratio={c / d:.2f}")
shutil.rmtree(work)
