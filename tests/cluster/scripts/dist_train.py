"""A torch.distributed (gloo) training script under SageMaker's contract: one process per host,
checkpoints in the checkpoint folder (rank 0), the model in SM_MODEL_DIR (rank 0)."""
import hashlib
import json
import os
import socket
import time

import torch
import torch.distributed as dist

dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK from cairn
rank, world = dist.get_rank(), dist.get_world_size()
ckdir = None
if "SM_CHECKPOINT_CONFIG_FILE" in os.environ:
    with open(os.environ["SM_CHECKPOINT_CONFIG_FILE"]) as f:
        ckdir = json.load(f)["LocalPath"]
epochs = int(os.environ.get("SM_HP_EPOCHS", "5"))
pause = float(os.environ.get("SM_HP_SLEEP", "0.1"))
torch.manual_seed(0)
model = torch.nn.Linear(8, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
start = 0
if ckdir and os.path.exists(os.path.join(ckdir, "state.pt")):
    state = torch.load(os.path.join(ckdir, "state.pt"))
    model.load_state_dict(state["model"])
    start = state["epoch"] + 1
    print(f"resumed from epoch {start}", flush=True)
x = torch.randn(256, 8)
y = x @ torch.randn(8, 2)
print(f"host={socket.gethostname()} rank={rank} world={world} "
      f"current={os.environ['SM_CURRENT_HOST']} master={os.environ['MASTER_ADDR']}", flush=True)
for epoch in range(start, epochs):
    opt.zero_grad()
    loss = ((model(x[rank::world]) - y[rank::world]) ** 2).mean()
    loss.backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world
    opt.step()
    print(f"host={socket.gethostname()} epoch={epoch} loss={loss.item():.6f}", flush=True)
    if ckdir and rank == 0:
        tmp = os.path.join(ckdir, "state.pt.tmp")
        torch.save({"epoch": epoch, "model": model.state_dict()}, tmp)
        os.replace(tmp, os.path.join(ckdir, "state.pt"))
    time.sleep(pause)
if rank == 0:
    path = os.path.join(os.environ["SM_MODEL_DIR"], "model.pth")
    torch.save(model.state_dict(), path)
    print("saved sha256=" + hashlib.sha256(open(path, "rb").read()).hexdigest(), flush=True)
dist.destroy_process_group()
