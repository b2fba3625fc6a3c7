"""Writes the example's data set: train.csv and validation.csv, label in the first column and 10
features after it (as SageMaker's built-in algorithms expect CSV), from a fixed linear rule plus
noise, so every run makes the same files. Usage: make_data.py OUT_DIR [--rows 2000]"""
import argparse
import os
import random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--rows", type=int, default=2000)
p.add_argument("--seed", type=int, default=7)
args = p.parse_args()

rng = random.Random(args.seed)
true_w = [0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 0.25, 3.0, -2.0, 1.0]
true_b = 0.3
for name, rows in (("train", args.rows), ("validation", max(1, args.rows // 5))):
    d = os.path.join(args.out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{name}.csv"), "w") as f:
        for _ in range(rows):
            x = [rng.gauss(0, 1) for _ in true_w]
            y = sum(w * v for w, v in zip(true_w, x)) + true_b + rng.gauss(0, 0.1)
            f.write(",".join(f"{v:.6f}" for v in [y] + x) + "\n")
print(f"wrote {args.rows} training rows to {args.out}/train and validation rows to {args.out}/validation")
