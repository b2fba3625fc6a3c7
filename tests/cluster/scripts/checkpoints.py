"""Writes four 4 MiB checkpoints, one every half second, for the checkpoint sync to mirror."""
import json
import os
import time

with open(os.environ["SM_CHECKPOINT_CONFIG_FILE"]) as f:
    ckdir = json.load(f)["LocalPath"]
for i in range(4):
    tmp = os.path.join(ckdir, f"ckpt-{i}.bin.tmp")
    with open(tmp, "wb") as f:
        f.write(os.urandom(4 << 20))
    os.replace(tmp, os.path.join(ckdir, f"ckpt-{i}.bin"))
    print(f"checkpoint {i}", flush=True)
    time.sleep(0.5)
