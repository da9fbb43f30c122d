"""The HTTP edge against a real uvicorn server on loopback: bodies bounded while they stream,
slow bodies and slow heads cut off, a busy port reported before anything listens."""

import json
import select
import socket
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from origin.client import http
from origin.server import BoundedBody, PortInUse, SlowHeadProtocol, check_port, make_server

BYTES_MAX = 100_000
SLOW_S = 0.5


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(BoundedBody, bytes_max=BYTES_MAX, read_s_max=SLOW_S)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"received": len(await request.body())}

    @app.post("/redirect")
    async def redirect() -> RedirectResponse:
        return RedirectResponse("/echo", status_code=307)

    return app


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(SlowHeadProtocol, "head_read_s_max", SLOW_S)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = make_server(make_app(), "127.0.0.1", port)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield port
    srv.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


def test_a_body_within_the_limit_is_read(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BYTES_MAX + b"a" * BYTES_MAX)
        assert answer(sock) == (200, {"received": BYTES_MAX})


def test_a_chunked_body_is_refused_as_it_passes_the_limit(server):
    """The server answers 413 while the client is still sending: nothing reads it whole."""
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < 100 * BYTES_MAX and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (10_000, b"a" * 10_000))
            except OSError:  # the server answered and closed
                break
            sent += 10_000
        status, body = answer(sock)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert sent < 1000 * BYTES_MAX  # answered while the client was still sending


def test_a_declared_length_over_the_limit_is_refused_at_once(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (BYTES_MAX + 1))
        assert answer(sock)[0] == 413


def test_a_slow_body_is_cut_off(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
        status, body = answer(sock)
    assert status == 408 and body["error"]["code"] == "too_slow"


def test_a_slow_head_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        assert sock.recv(100) == b""  # closed by the server (not answered, not left open)


def test_an_idle_connection_after_an_answer_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na")
        assert answer(sock)[0] == 200
        sock.sendall(b"POST /echo HTTP/1.1\r\n")  # half a head, then nothing
        assert sock.recv(100) == b""


def test_a_busy_port_is_refused_before_listening(server):
    with pytest.raises(PortInUse, match="in use"):
        check_port("127.0.0.1", server)


def test_the_client_follows_no_redirect_when_told_not_to(server):
    """Webhook deliveries must not be bounced elsewhere by a 3xx."""
    status, _ = http("POST", f"http://127.0.0.1:{server}/redirect", b"{}", follow_redirects=False)
    assert status == 307
