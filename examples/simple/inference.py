"""The seed's inference script, made runnable: SageMaker's handler functions for the SimpleModel
that examples/simple/train.py saves. model_fn rebuilds the architecture and loads the state dict
(torch.load), as the seed does; input and output use the toolkit's defaults (JSON, CSV or NPY in,
JSON, CSV or NPY out)."""
import os

import torch
import torch.nn as nn


class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x):
        return self.linear(x)


def model_fn(model_dir):
    model = SimpleModel()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth"), map_location="cpu"))
    model.eval()
    return model


def predict_fn(data, model):
    with torch.no_grad():
        return model(data.float())
