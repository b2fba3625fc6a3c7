"""cairn serve with real PyTorch: the example's endpoint answers as PyTorch does (JSON, CSV, NPY),
native serving of the linear learner and of TorchScript, errors that leave the endpoint serving,
metrics, and a graceful stop."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import torch

from conftest import CAIRN, EXAMPLE, cairn, http

sys.path.insert(0, EXAMPLE)
from inference import SimpleModel  # noqa: E402


def publish_simple(tmp_path, store, seed, group="simple-model", with_code=True):
    d = tmp_path / f"model-{group}-{seed}"
    os.makedirs(d / "code", exist_ok=True)
    torch.manual_seed(seed)
    model = SimpleModel()
    torch.save(model.state_dict(), d / "model.pth")
    if with_code:
        shutil.copy(os.path.join(EXAMPLE, "inference.py"), d / "code" / "inference.py")
    ref = cairn("models", "--store", store, "publish", group, d).stdout.strip()
    return ref, model


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_example_endpoint_answers_as_pytorch_does(tmp_path, servers):
    store = str(tmp_path / "store")
    ref, model = publish_simple(tmp_path, store, 1)
    s = servers(store, ref, "--workers", "2")
    x = torch.randn(5, 10)
    want = model(x).detach()
    status, headers, body = s.invoke(json.dumps(x.tolist()))
    assert status == 200 and headers["X-Cairn-Model-Version"] == ref
    assert headers["Content-Type"].startswith("application/json")
    assert torch.allclose(torch.tensor(json.loads(body)), want, atol=1e-6)
    csv = "\n".join(",".join(repr(float(v)) for v in row) for row in x.tolist())
    status, headers, body = s.invoke(csv, content_type="text/csv", accept="text/csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    got = np.genfromtxt(io.StringIO(body.decode()), delimiter=",").reshape(-1, 1)
    assert np.allclose(got, want.numpy(), atol=1e-6)
    status, headers, body = s.invoke(npy(x.numpy()), content_type="application/x-npy",
                                     accept="application/x-npy")
    assert status == 200 and np.allclose(np.load(io.BytesIO(body)), want.numpy(), atol=1e-6)
    # Bad input: the documented answers, and the endpoint keeps serving.
    assert s.invoke("not json")[0] == 400
    assert s.invoke("1,2", content_type="application/x-foo")[0] == 415
    assert s.invoke(json.dumps(x.tolist()), accept="image/png")[0] == 406
    assert s.invoke("[" + "1," * 3_500_000 + "1]")[0] == 413
    assert s.invoke(json.dumps(x.tolist()))[0] == 200
    metrics = http(s.url + "/metrics")[2].decode()
    assert 'cairn_requests_total{status="200"} 4' in metrics
    assert 'cairn_requests_total{status="400"} 1' in metrics
    assert f'cairn_model_version_info{{ref="{ref}",version="{ref}"}} 1' in metrics
    models = s.models()["models"]
    assert [(m["version"], m["state"], m["kind"]) for m in models] == [(ref, "AVAILABLE", "python")]
    assert s.stop() == 0


def test_native_linear_learner_and_torchscript(tmp_path, servers):
    store = str(tmp_path / "store")
    data = tmp_path / "data"
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE, "make_data.py"), data, "--rows", "300"],
                   check=True, capture_output=True)
    p = subprocess.run([CAIRN, "train", "--algorithm", "linear-learner", "--store", store,
                        "--work-dir", tmp_path / "work", "-c", f"train={data}/train", "-p", "epochs=3",
                        "-p", "learning_rate=0.1", "-p", "mini_batch_size=30", "--json"],
                       capture_output=True, text=True)
    ref = json.loads(p.stdout)["model_version"]
    out = tmp_path / "restored"
    cairn("models", "--store", store, "restore", ref, out)
    sd = torch.load(out / "model.pth")
    lin = SimpleModel()  # the linear learner saves the seed's SimpleModel layout
    lin.load_state_dict(sd)
    s = servers(store, ref)
    assert s.models()["models"][0]["kind"] == "native"
    x = torch.randn(7, 10)
    status, _, body = s.invoke(json.dumps(x.tolist()))
    assert status == 200
    assert torch.allclose(torch.tensor(json.loads(body)), lin(x).detach(), atol=1e-5)
    status, _, body = s.invoke(npy(x.numpy().astype(np.float64)), content_type="application/x-npy",
                               accept="application/x-npy")
    assert np.allclose(np.load(io.BytesIO(body)), lin(x).detach().numpy(), atol=1e-5)
    assert s.invoke("[1, 2, 3]")[0] == 500  # wrong width: the model's error, endpoint keeps going
    assert s.invoke("[[1, 2], [3]]")[0] == 400  # ragged
    # TorchScript: a small MLP scripted and saved with torch.jit.save.
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    d = tmp_path / "ts"
    os.makedirs(d)
    torch.jit.save(torch.jit.script(net), str(d / "model.pt"))
    ts_ref = cairn("models", "--store", store, "publish", "scripted", d).stdout.strip()
    s2 = servers(store, ts_ref)
    x = torch.randn(3, 4)
    status, _, body = s2.invoke(json.dumps(x.tolist()))
    assert status == 200 and torch.allclose(torch.tensor(json.loads(body)), net(x).detach(), atol=1e-5)


def test_handler_errors_and_dead_workers_leave_it_serving(tmp_path, servers):
    store = str(tmp_path / "store")
    d = tmp_path / "m"
    os.makedirs(d / "code")
    (d / "weights.bin").write_bytes(b"\0" * 16)
    (d / "code" / "inference.py").write_text(
        "import os\n"
        "def model_fn(model_dir):\n    return 'model'\n"
        "def input_fn(body, content_type):\n    return body\n"
        "def predict_fn(data, model):\n"
        "    if data == 'raise':\n        raise ValueError('the handler raised')\n"
        "    if data == 'die':\n        os._exit(3)\n"
        "    return {'echo': data}\n"
        "def output_fn(prediction, accept):\n"
        "    import json\n    return json.dumps(prediction), 'application/json'\n")
    ref = cairn("models", "--store", store, "publish", "handlers", d).stdout.strip()
    s = servers(store, ref)
    assert s.invoke("hello") == (200, s.invoke("hello")[1], b'{"echo": "hello"}')
    status, _, body = s.invoke("raise")
    assert status == 500 and "the handler raised" in json.loads(body)["error"]
    status, _, body = s.invoke("die")
    assert status == 500 and "exit status 3" in json.loads(body)["error"]
    assert s.invoke("again")[0] == 200  # a new worker took over


def test_requests_wait_for_python_workers_first_come_first_served(tmp_path, servers):
    # One worker busy for a while, ten requests arriving 30 ms apart meanwhile: each is answered
    # in the order it came (a stack, or a worker taken by whichever request grabs it first, would
    # pass some over; under load that is what made the tail long).
    store = str(tmp_path / "store")
    d = tmp_path / "fifo"
    os.makedirs(d / "code")
    (d / "x.bin").write_bytes(b"x")
    (d / "code" / "inference.py").write_text(
        "import time\n"
        "def model_fn(model_dir):\n    return None\n"
        "def transform_fn(model, data, content_type, accept):\n"
        "    time.sleep(0.6 if data == 'first' else 0.02)\n    return data, 'text/plain'\n")
    ref = cairn("models", "--store", store, "publish", "fifo", d).stdout.strip()
    s = servers(store, ref, "--workers", "1")
    done, lock = [], threading.Lock()

    def call(tag):
        status, _, body = s.invoke(tag)
        with lock:
            done.append((status, body.decode()))

    threads = [threading.Thread(target=call, args=("first",))]
    threads[0].start()
    time.sleep(0.15)
    for i in range(10):
        threads.append(threading.Thread(target=call, args=(f"r{i}",)))
        threads[-1].start()
        time.sleep(0.03)
    for t in threads:
        t.join(timeout=60)
    assert done == [(200, "first")] + [(200, f"r{i}") for i in range(10)]


def test_sigterm_finishes_requests_in_flight(tmp_path, servers):
    store = str(tmp_path / "store")
    d = tmp_path / "slow"
    os.makedirs(d / "code")
    (d / "x.bin").write_bytes(b"x")
    (d / "code" / "inference.py").write_text(
        "import time\n"
        "def model_fn(model_dir):\n    return None\n"
        "def transform_fn(model, data, content_type, accept):\n"
        "    time.sleep(1.5)\n    return 'done', 'text/plain'\n")
    ref = cairn("models", "--store", store, "publish", "slow", d).stdout.strip()
    s = servers(store, ref)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=s.invoke("x")))
    t.start()
    time.sleep(0.5)
    s.proc.terminate()
    t.join(timeout=30)
    assert result["r"][0] == 200 and result["r"][2] == b"done"
    assert s.proc.wait(timeout=30) == 0
