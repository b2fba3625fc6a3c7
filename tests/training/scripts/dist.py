"""A two-process torch.distributed (gloo) job: all_reduce of each rank's (rank + 1)."""
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank {rank} of {world} on {os.environ['SM_CURRENT_HOST']}: sum {t.item()}", flush=True)
if os.environ["SM_CURRENT_HOST"] == "algo-1":
    torch.save({"sum": t, "world": torch.tensor(world)},
               os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
dist.destroy_process_group()
