"""Serving Origin's HTTP APIs to strangers: bounded bodies and bounded waits.

`BoundedBody` counts a request's body while it streams and answers 413 the moment it passes
its limit (or at once, from Content-Length), before anything parses or authenticates it; it
answers 408 to a body that takes longer than its limit to arrive. `SlowHeadProtocol` closes a
connection whose request head is not complete within a limit of its first byte, or of the
previous answer (uvicorn itself only times out idle keep-alive connections). `make_server`
puts both on uvicorn, and checks that the port is free before anything says it listens; `run`
serves until Ctrl-C or SIGTERM, either way letting the caller clean up.
"""

import asyncio
import errno
import json
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from origin.protocol.limits import BODY_READ_S_MAX, HEADER_READ_S_MAX, KEEP_ALIVE_S

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PortInUse(Exception):
    """The address to serve on is taken (or not ours to bind)."""


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BoundedBody:
    """ASGI middleware: a request body of at most `bytes_max` bytes, arriving within
    `read_s_max` seconds; refusals are `{"error": {"code", "message"}}`."""

    def __init__(self, app: ASGIApp, bytes_max: int, *, too_large_code: str = "too_large",
                 too_slow_code: str = "too_slow", read_s_max: float = BODY_READ_S_MAX):  # fmt: skip
        self.app = app
        self.bytes_max = bytes_max
        self.too_large_code = too_large_code
        self.too_slow_code = too_slow_code
        self.read_s_max = read_s_max

    def _too_large(self) -> _Refused:
        return _Refused(413, self.too_large_code, f"a request body is at most {self.bytes_max} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (len(declared) > 20 or not declared.isdigit() or int(declared) > self.bytes_max):
            await _answer(send, self._too_large())
            return
        stream = _Stream(asyncio.get_running_loop().time() + self.read_s_max)

        async def bounded_receive() -> Message:
            if stream.refused is not None:
                return {"type": "http.disconnect"}
            if stream.body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(
                    receive(), max(0.0, stream.deadline - asyncio.get_running_loop().time())
                )
            except TimeoutError:
                why = f"the request body did not arrive within {self.read_s_max:g} s"
                return await refuse(_Refused(408, self.too_slow_code, why))
            if message["type"] == "http.request":
                stream.received += len(message.get("body", b""))
                if stream.received > self.bytes_max:
                    return await refuse(self._too_large())
                stream.body_done = not message.get("more_body", False)
            return message

        async def refuse(refusal: _Refused) -> Message:
            stream.refused = refusal
            if not stream.started:
                await _answer(send, refusal)
            return {"type": "http.disconnect"}  # the app stops reading; its answer is dropped

        async def tracked_send(message: Message) -> None:
            if stream.refused is None:
                stream.started = True
                await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except Exception:
            if stream.refused is None:
                raise  # a refused request's app gives up reading, whatever it raises then


@dataclass
class _Stream:
    """One request's body as it arrives."""

    deadline: float
    received: int = 0
    body_done: bool = False
    started: bool = False  # the app began its answer
    refused: _Refused | None = None


async def _answer(send: Send, refusal: _Refused) -> None:
    body = json.dumps({"error": {"code": refusal.code, "message": refusal.message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SlowHeadProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not whole within
    HEADER_READ_S_MAX of its first byte or of the previous answer (slowloris)."""

    head_read_s_max = HEADER_READ_S_MAX

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_read_s_max, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def check_port(host: str, port: int) -> None:
    """PortInUse unless `host:port` can be bound now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror}"
            raise PortInUse(f"{host}:{port} {why}") from None


def make_server(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` with Origin's connection limits; PortInUse if it cannot bind."""
    check_port(host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", http=SlowHeadProtocol,
                            timeout_keep_alive=KEEP_ALIVE_S, lifespan="off")  # fmt: skip
    return uvicorn.Server(config)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run(server: uvicorn.Server) -> None:
    """Serve until Ctrl-C or SIGTERM. uvicorn shuts down gracefully, then raises the signal again
    with the handler that was there before: for SIGTERM that is SystemExit here (the default
    would kill the process), so the caller's clean-up (`finally`) runs as it does for Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


class Background(Protocol):
    """A service with an API and background work."""

    def app(self) -> ASGIApp: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...


def in_thread(app: ASGIApp, host: str, port: int) -> tuple[uvicorn.Server, Callable[[], None]]:
    """Serve `app` from a thread of this process (PortInUse first if it cannot bind); the
    server, once it listens, and what stops it."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.run, daemon=True, name=f"serve-{port}")
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return server, stop


def serve_service(service: Background, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve a service's API and run its background work until Ctrl-C or SIGTERM, then stop it.
    PortInUse (the service stopped) before anything claims to listen."""
    try:
        server = make_server(service.app(), host, port)
    except PortInUse:
        service.stop()
        raise
    service.start()
    announce(f"http://{host}:{port}/docs")
    try:
        run(server)
    finally:
        service.stop()
