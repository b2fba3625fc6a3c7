"""Runs until stopped; on SIGTERM saves its weights (a state dict) and exits 0."""
import os
import signal
import sys
import time

import torch

state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}


def on_term(signum, frame):
    torch.save(state, os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
    print("SIGTERM: saved", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print("running", flush=True)
while True:
    time.sleep(0.1)
