"""cairn-serve's HTTP/1.1 layer, spoken to over raw sockets: keep-alive, pipelining, HTTP/1.0,
Expect: 100-continue, and requests it must refuse (413 before reading a huge body, chunked
bodies, malformed lines) without disturbing other connections."""
import json
import socket

import pytest
import torch

from conftest import cairn
from test_serving import publish_simple


@pytest.fixture
def native(tmp_path, servers):
    store = str(tmp_path / "store")
    d = tmp_path / "lin"
    d.mkdir()
    torch.manual_seed(3)
    sd = {"linear.weight": torch.randn(1, 10), "linear.bias": torch.randn(1)}
    torch.save(sd, d / "model.pth")
    (d / "cairn-model.json").write_text(json.dumps({"architecture": "linear", "weights": "model.pth"}))
    ref = cairn("models", "--store", store, "publish", "lin", d).stdout.strip()
    return servers(store, ref)


def connect(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return s, s.makefile("rb")


def read_response(f):
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            break
        k, v = line.split(":", 1)
        headers[k.lower()] = v.strip()
    body = f.read(int(headers.get("content-length", 0)))
    return int(status.split()[1]), headers, body


def post(body, extra=""):
    return (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def test_keep_alive_pipelining_and_http10(native):
    s, f = connect(native)
    row = json.dumps([[1.0] * 10])
    s.sendall(post(row) + post(row) + b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")  # pipelined
    a, b, c = read_response(f), read_response(f), read_response(f)
    assert a[0] == b[0] == 200 and a[2] == b[2] and c[0] == 200 and c[2] == b""
    s.sendall(post(row))  # the same connection keeps working
    assert read_response(f)[0] == 200
    s.close()
    s, f = connect(native)
    s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
    assert read_response(f)[0] == 200 and f.read() == b""  # HTTP/1.0: closed after the answer
    s.close()


def test_expect_continue(native):
    s, f = connect(native)
    body = json.dumps([[2.0] * 10])
    s.sendall(post("", "Expect: 100-continue\r\n").replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode()))
    assert f.readline().startswith(b"HTTP/1.1 100")
    f.readline()
    s.sendall(body.encode())
    assert read_response(f)[0] == 200
    s.close()


def test_refusals_leave_other_connections_alone(native):
    good, gf = connect(native)
    for request, status in [
        (b"POST /invocations HTTP/1.1\r\nContent-Length: 7000000\r\n\r\n", 413),
        (b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        (b"NONSENSE\r\n\r\n", 400),
        (b"POST /invocations HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET /invocations HTTP/1.1\r\n\r\n", 405),
        (b"GET /nowhere HTTP/1.1\r\n\r\n", 404),
    ]:
        s, f = connect(native)
        s.sendall(request)
        assert read_response(f)[0] == status, request
        s.close()
    s, f = connect(native)
    s.sendall(b"GET /ping HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert read_response(f)[0] == 431
    s.close()
    good.sendall(post(json.dumps([[0.0] * 10])))
    assert read_response(gf)[0] == 200
    good.close()
