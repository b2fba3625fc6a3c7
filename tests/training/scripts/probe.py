"""Writes what the training contract handed this process into model/probe.json."""
import json
import os
import sys

model_dir = os.environ["SM_MODEL_DIR"]
config = os.path.join(os.environ["SM_INPUT_CONFIG_DIR"])
out = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items()
            if k.startswith(("SM_", "TRAINING_JOB", "MASTER_", "WORLD_SIZE", "RANK", "MY_"))},
    "files": {n: json.load(open(os.path.join(config, n))) for n in sorted(os.listdir(config))},
    "channels": {c: sorted(os.listdir(os.environ["SM_CHANNEL_" + c.upper()]))
                 for c in json.loads(os.environ["SM_CHANNELS"])},
}
with open(os.path.join(model_dir, "probe.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
print("probe done")
