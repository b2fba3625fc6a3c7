"""The seed's training script, made runnable: SimpleModel (nn.Linear(10, 1)) trained on the CSV
files of the `train` channel (label first), saved the SageMaker way with
torch.save(model.state_dict(), model_dir + '/model.pth').

Runs unchanged under SageMaker or `cairn train`: paths come from SM_* variables, hyperparameters
arrive as --key value. With a checkpoint folder configured it saves a checkpoint every epoch and
resumes from the newest one, and on SIGTERM (a stop, or --max-run) it saves the model and exits.
"""
import argparse
import glob
import json
import os
import signal
import sys

import torch
import torch.nn as nn
import torch.optim as optim


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


def checkpoint_dir():
    config = os.environ.get("SM_CHECKPOINT_CONFIG_FILE")
    if config and os.path.exists(config):
        with open(config) as f:
            return json.load(f)["LocalPath"]
    return None


def load_csv(folder):
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.csv"))):
        with open(path) as f:
            rows += [[float(v) for v in line.split(",")] for line in f if line.strip()]
    data = torch.tensor(rows, dtype=torch.float32)
    return data[:, 1:], data[:, :1]


parser = argparse.ArgumentParser()
parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0.0, help="seconds per epoch (for tests)")
args = parser.parse_args()

torch.manual_seed(args.seed)
x, y = load_csv(args.train)
model = SimpleModel()
optimizer = optim.SGD(model.parameters(), lr=args.lr)
start_epoch = 0
ckpt_dir = checkpoint_dir()
if ckpt_dir:
    found = sorted(glob.glob(os.path.join(ckpt_dir, "checkpoint-*.pth")))
    if found:
        state = torch.load(found[-1])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
        print(f"resumed from {os.path.basename(found[-1])} at epoch {start_epoch}", flush=True)


def save_model():
    torch.save(model.state_dict(), args.model_dir + "/model.pth")


def on_sigterm(signum, frame):
    save_model()
    print("SIGTERM: saved the model", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)

for epoch in range(start_epoch + 1, args.epochs + 1):
    g = torch.Generator().manual_seed(args.seed * 100003 + epoch)
    order = torch.randperm(len(x), generator=g)
    total = 0.0
    for i in range(0, len(x), args.batch_size):
        idx = order[i:i + args.batch_size]
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    print(f"epoch={epoch} train_loss={total / len(x):.6f}", flush=True)
    if ckpt_dir:
        tmp = os.path.join(ckpt_dir, ".checkpoint.tmp")
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict()}, tmp)
        os.replace(tmp, os.path.join(ckpt_dir, f"checkpoint-{epoch:05d}.pth"))
        for old in sorted(glob.glob(os.path.join(ckpt_dir, "checkpoint-*.pth")))[:-2]:
            os.remove(old)
    if args.sleep:
        import time
        time.sleep(args.sleep)

save_model()
print(f"saved {args.model_dir}/model.pth", flush=True)
