"""cairn's Python inference worker: SageMaker's handler contract (the sagemaker-inference and
sagemaker-pytorch-inference toolkits) in one process, driven by cairn's C++ front end over a pipe.

Usage (by cairn only): python3 -c <this file> MODEL_DIR CODE_DIR ENTRY_POINT DEFAULT_ACCEPT

Frames both ways: two little-endian u32 (header length, body length), a JSON header, the body.
The first frame out says whether model_fn succeeded; then one response per request.
"""
import importlib.util
import inspect
import logging
import io
import json
import os
import struct
import sys
import traceback

# The pipe belongs to cairn: what the user's code prints goes to stderr instead.
# Buffered: a frame usually arrives whole and is then taken in one read(2), not three.
_proto_in = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
_proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
sys.stdout = sys.stderr


class HandlerError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _read_exact(n):
    buf = _proto_in.read(n)  # a buffered read returns n bytes unless the pipe closes
    if len(buf) < n:
        raise EOFError
    return buf


def _read_frame():
    hlen, blen = struct.unpack("<II", _read_exact(8))
    return json.loads(_read_exact(hlen)), _read_exact(blen)


def _write_frame(header, body=b""):
    h = json.dumps(header).encode()
    _proto_out.write(struct.pack("<II", len(h), len(body)) + h + body)


import numpy as np  # noqa: E402
import torch  # noqa: E402

JSON, CSV, NPY = "application/json", "text/csv", "application/x-npy"


def decode(data, content_type):
    """The toolkit's decoders (NPY without pickles: a request body is untrusted)."""
    if content_type == JSON:
        return np.array(json.loads(data))
    if content_type == CSV:
        # The toolkit's genfromtxt, after numpy's C loadtxt (several times faster) has tried:
        # the same array for well-formed rows; genfromtxt also takes missing values (nan).
        try:
            return np.loadtxt(io.StringIO(data), delimiter=",", dtype=np.float32)
        except ValueError:
            return np.genfromtxt(io.StringIO(data), delimiter=",", dtype=np.float32)
    if content_type == NPY:
        return np.load(io.BytesIO(data), allow_pickle=False)
    raise HandlerError(415, f"content type {content_type} is not supported "
                            f"(application/json, text/csv, application/x-npy)")


def _tolist(obj):
    """The toolkit's JSON encoder default: tensors, arrays and numpy scalars as lists / numbers,
    wherever they sit in the answer (a dict of tensors, say)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode(array, accept):
    if accept == JSON:
        return json.dumps(array, default=_tolist)
    if accept == CSV:
        a = np.asarray(array)
        # One line per row, as the toolkit's numpy.savetxt: a 1-D answer is one value a line.
        rows = a.reshape(-1, 1) if a.ndim <= 1 else a.reshape(a.shape[0], -1)
        return "\n".join(",".join(map(repr, r)) for r in rows.astype(np.float64).tolist()) + "\n"
    if accept == NPY:
        buf = io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        return buf.getvalue()
    raise HandlerError(406, f"accept type {accept} is not supported "
                            f"(application/json, text/csv, application/x-npy)")


def default_model_fn(model_dir):
    path = os.path.join(model_dir, "model.pt")
    if not os.path.exists(path):
        found = [f for f in os.listdir(model_dir) if f.endswith((".pt", ".pth"))]
        if len(found) != 1:
            raise ValueError("Exactly one .pth or .pt file is required for PyTorch models: "
                             f"{found}; or provide a model_fn")
        path = os.path.join(model_dir, found[0])
    return torch.jit.load(path, map_location="cpu")


def default_input_fn(data, content_type):
    array = decode(data, content_type)
    return torch.from_numpy(array) if content_type == NPY else torch.FloatTensor(array)


def default_predict_fn(data, model):
    model.eval()
    with torch.no_grad():
        return model(data)


def default_output_fn(prediction, accept):
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    for a in accept.split(","):
        a = a.split(";")[0].strip()
        if a in (JSON, CSV, NPY):
            return encode(prediction, a), a
    return encode(prediction, accept.split(",")[0].strip()), accept


class Context:
    """What the inference toolkit passes to a handler that takes one more argument
    (sagemaker_inference.transformer: model_fn(model_dir, context), input_fn(data, content_type,
    context), predict_fn(data, model, context), output_fn(prediction, accept, context),
    transform_fn(model, data, content_type, accept, context))."""

    def __init__(self, model_dir):
        self.model_name = "model"
        self.manifest = {}
        self.system_properties = {"model_dir": model_dir, "gpu_id": None, "batch_size": 1,
                                  "server_name": "cairn-serve", "server_version": "cairn",
                                  "limit_max_image_pixels": True}
        self.headers = {}

    def get_request_header(self, idx, key):
        return self.headers.get(key.lower())

    def get_all_request_header(self, idx):
        return dict(self.headers)


_named_args = {}  # handler -> count of its named positional parameters (inspected once)


def _call(fn, context, *args):
    """Calls a handler with the context appended when it takes one argument more, as the toolkit
    decides it (the count of its named positional parameters)."""
    named = _named_args.get(fn)
    if named is None:
        try:
            spec = inspect.getfullargspec(fn)
            named = len(spec.args) - (1 if inspect.ismethod(fn) else 0)
        except TypeError:
            named = -1
        _named_args[fn] = named
    return fn(*args, context) if named == len(args) + 1 else fn(*args)


def main():
    model_dir, code_dir, entry, default_accept = sys.argv[1:5]
    logging.basicConfig(level=int(os.environ.get("SAGEMAKER_CONTAINER_LOG_LEVEL", "20")))
    context = Context(model_dir)
    try:
        user = None
        if entry:
            sys.path.insert(0, code_dir)
            spec = importlib.util.spec_from_file_location(
                os.path.splitext(os.path.basename(entry))[0], os.path.join(code_dir, entry))
            user = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(user)
        get = (lambda name, default: getattr(user, name, None) or default)
        transform_fn = getattr(user, "transform_fn", None)
        if transform_fn and any(getattr(user, n, None) for n in ("input_fn", "predict_fn", "output_fn")):
            raise ValueError("transform_fn cannot be combined with input_fn, predict_fn or output_fn")
        model_fn = get("model_fn", default_model_fn)
        input_fn = get("input_fn", default_input_fn)
        predict_fn = get("predict_fn", default_predict_fn)
        output_fn = get("output_fn", default_output_fn)
        model = _call(model_fn, context, model_dir)
    except Exception:
        _write_frame({"ready": False, "error": traceback.format_exc()})
        return
    _write_frame({"ready": True})
    while True:
        try:
            header, body = _read_frame()
        except EOFError:
            return
        content_type = header.get("content_type") or JSON
        context.headers = {"content-type": content_type, "accept": header.get("accept") or "",
                           "x-amzn-sagemaker-custom-attributes": header.get("custom_attributes") or ""}
        accept = header.get("accept") or "*/*"
        if accept.strip() in ("*/*", ""):
            accept = default_accept
        status, out_type = 200, accept
        try:
            data = body.decode("utf-8") if content_type in (JSON, CSV) else body
            if transform_fn:
                result = _call(transform_fn, context, model, data, content_type, accept)
            else:
                try:
                    data = _call(input_fn, context, data, content_type)
                except HandlerError:
                    raise
                except Exception as e:
                    raise HandlerError(400, f"the request body does not decode as "
                                            f"{content_type}: {e}")
                result = _call(output_fn, context, _call(predict_fn, context, data, model), accept)
            if isinstance(result, tuple):
                result, out_type = result
            if isinstance(result, str):
                result = result.encode()
            if not isinstance(result, (bytes, bytearray)):
                raise TypeError(f"the handler returned {type(result).__name__}, not bytes or str")
            _write_frame({"status": status, "content_type": out_type}, bytes(result))
        except HandlerError as e:
            _write_frame({"status": e.status, "content_type": "application/json"},
                         json.dumps({"error": str(e)}).encode())
        except Exception:
            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            _write_frame({"status": 500, "content_type": "application/json"},
                         json.dumps({"error": tb.strip().splitlines()[-1], "traceback": tb}).encode())


main()
