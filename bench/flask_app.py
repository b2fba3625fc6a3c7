"""The usual Python serving stack for the endpoint benchmark: Flask + torch behind gunicorn,
answering /invocations for the seed's SimpleModel (JSON in, JSON out). MODEL_DIR holds model.pth."""
import json
import os
import sys

import torch
from flask import Flask, Response, request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "simple"))
from inference import model_fn  # noqa: E402

app = Flask(__name__)
model = model_fn(os.environ["MODEL_DIR"])
torch.set_num_threads(1)


@app.route("/ping")
def ping():
    return ""


@app.route("/invocations", methods=["POST"])
def invocations():
    with torch.no_grad():
        out = model(torch.tensor(json.loads(request.data), dtype=torch.float32))
    return Response(json.dumps(out.tolist()), mimetype="application/json")
