"""Runs until stopped; on SIGTERM saves its weights (a state dict) and exits 0. The handler is in
place before torch is imported (which takes seconds on a busy machine), so a stop that comes early
is not lost."""
import os
import signal
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
import torch  # noqa: E402

state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
print("running", flush=True)
while not stop:
    time.sleep(0.05)
torch.save(state, os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
print("SIGTERM: saved", flush=True)
sys.exit(0)
