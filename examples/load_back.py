"""Loads the files cairn wrote back into PyTorch and checks they give the same model."""
import sys

import torch

original, rewritten = sys.argv[1], sys.argv[2]
sd = torch.load(rewritten, weights_only=True)  # cairn's files need no unpickling of code
model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
model.load_state_dict(sd)
ref = torch.load(original)
assert all(torch.equal(sd[k], ref[k]) for k in ref), "weights differ"
print(f"torch.load(weights_only=True) of {rewritten}: {len(sd)} tensors, identical to the original")
