"""The ledger's HTTP API (PROTOCOL.md section 9). Every refusal is
`{"error": {"code", "message", "transaction"}}` with a 4xx status and a protocol error code;
a node that cannot reach its database answers 503."""

import asyncio
import base64
import re
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from origin.ledger import provenance, tiles
from origin.ledger.node import Busy, Node, Standby, Stopped
from origin.ledger.store import Unavailable
from origin.protocol import addresses, merkle
from origin.protocol.canonical import canonical
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import (
    BATCH_BODY_BYTES_MAX,
    BATCH_TRANSACTIONS_MAX,
    INT_MAX,
    PATH_NUMBER_DIGITS_MAX,
    WAIT_S_MAX,  # fmt: skip
)
from origin.protocol.transactions import PAYLOADS, BatchTooLarge, decode_batch
from origin.server import BoundedBody

RETRY_AFTER_S = 1
_BATCH_ID = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[0-9]+")

_BATCH_SCHEMA = {
    "type": "object",
    "required": ["transactions"],
    "additionalProperties": False,
    "properties": {
        "transactions": {
            "type": "array",
            "minItems": 1,
            "maxItems": BATCH_TRANSACTIONS_MAX,
            "items": {
                "type": "object",
                "required": ["ledger", "type", "signer", "payload", "signature"],
                "properties": {
                    "ledger": {"type": "string"},
                    "type": {"type": "string", "enum": sorted(PAYLOADS)},
                    "signer": {"type": "string", "pattern": "^[0-9a-f]{66}$"},
                    "payload": {"type": "object"},
                    "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
                },
            },
        }
    },
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    transaction: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the refusals an endpoint can give."""
    what = {400: "Malformed request", 404: "Not found", 408: "The body came too slowly",
            413: "Body too large", 422: "Too large to serve", 503: "Unavailable: retry later"}  # fmt: skip
    return {status: {"model": ErrorBody, "description": what[status]} for status in statuses}


def error(status: int, code: str, message: str, transaction: int | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body = {"error": {"code": code, "message": message, "transaction": transaction}}
    return JSONResponse(body, status_code=status, headers=headers)


def _retry_later(message: str) -> JSONResponse:
    return error(503, "invalid_batch", message, headers={"Retry-After": str(RETRY_AFTER_S)})


class _BadNumber(Exception):
    pass


def _number(text: str, name: str, minimum: int = 0) -> int:
    """A whole number from a path or query, bounded before it is converted."""
    if not _NUMBER.fullmatch(text) or len(text) > PATH_NUMBER_DIGITS_MAX or not minimum <= int(text) <= INT_MAX:
        raise _BadNumber(f"{name} must be a whole number from {minimum} to 2^53-1")
    return int(text)


def _json(data: bytes) -> Response:
    return Response(data, media_type="application/json")


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def create_app(node: Node) -> FastAPI:
    app = FastAPI(title="Origin ledger", version="1.1",
                  description="The shared verifiable storage of Origin: PROTOCOL.md section 9.")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=BATCH_BODY_BYTES_MAX, too_large_code="invalid_batch",
                       too_slow_code="malformed")  # fmt: skip
    _handlers(app)
    _write_routes(app, node)
    _read_routes(app, node)
    _log_routes(app, node)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(400, "malformed", where)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "malformed"
        return error(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(_BadNumber)
    async def _bad_number(request: Request, exc: _BadNumber) -> JSONResponse:
        return error(400, "malformed", str(exc))

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return _retry_later(f"the ledger's database cannot be reached: {exc}")


def _write_routes(app: FastAPI, node: Node) -> None:
    @app.post(
        "/v1/batches",
        summary="Submit a batch of signed transactions",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _BATCH_SCHEMA}}}},
        responses={202: {"description": "Accepted, PENDING"}, **_errors(400, 408, 413, 503)},
    )
    async def submit(request: Request, wait: bool = False) -> Response:
        body = await request.body()
        try:
            batch = await run_in_threadpool(decode_batch, body, node.ledger)
        except BatchTooLarge as exc:
            return error(413, exc.code, exc.message)
        except ProtocolError as exc:
            return error(400, exc.code, exc.message)
        try:
            future = await run_in_threadpool(node.submit, batch)
        except (Busy, Standby, Stopped) as exc:
            return _retry_later(f"try again later: {exc}")
        if wait and not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), WAIT_S_MAX)
            except TimeoutError:
                pass
            except Exception as exc:  # CommitFailed, Standby: the batch may be sent again
                return _retry_later(str(exc))
        if future.done() and future.exception() is None:
            return JSONResponse(future.result().to_json())
        return JSONResponse({"id": batch.id, "status": "PENDING"}, status_code=202)

    @app.get("/v1/batches/{batch_id}", summary="A batch's status", responses=_errors(400, 503))
    def batch_status(batch_id: str) -> Any:
        if not _BATCH_ID.fullmatch(batch_id):
            return error(400, "malformed", "a batch id is 64 lower-case hex characters")
        return node.outcome(batch_id).to_json()


def _read_routes(app: FastAPI, node: Node) -> None:
    @app.get("/v1/state/{address}", summary="The record at an address", responses=_errors(400, 404, 503))
    def state(address: str) -> Response:
        if not addresses.is_address(address):
            return error(400, "malformed", "an address is 70 lower-case hex characters")
        found = node.store.record(address)
        if found is None:
            return error(404, "not_found", f"no record at {address}")
        record, seq = found
        return _json(b'{"address":"%s","record":%s,"seq":%d}' % (address.encode(), record, seq))

    @app.get("/v1/ggos/{address}/provenance", summary="A GGO's provenance bundle, to verify offline",
             responses=_errors(400, 404, 422, 503))  # fmt: skip
    def ggo_provenance(address: str) -> Any:
        if not addresses.is_address(address):
            return error(400, "malformed", "an address is 70 lower-case hex characters")
        try:
            bundle = provenance.build(node.store, address)
        except provenance.TooLong as exc:
            return error(422, "invalid_parts", str(exc))
        if bundle is None:
            return error(404, "not_found", f"no GGO at {address}")
        return bundle

    @app.get("/v1/genesis", summary="The ledger's genesis")
    def genesis() -> Response:
        return _json(canonical(node.config.genesis))

    @app.get("/healthz", summary="This node's role (active writer or standby) and log size; 503 when "
             "it cannot reach its database", responses=_errors(503))  # fmt: skip
    def health() -> Any:
        return {"ledger": node.ledger, "role": node.role, "size": node.store.size()}


def _log_routes(app: FastAPI, node: Node) -> None:
    @app.get("/v1/entries/{seq}", summary="A log entry, as canonical JSON", responses=_errors(400, 404, 503))
    def entry(seq: str) -> Response:
        found = node.store.entry(_number(seq, "seq"))
        if found is None:
            return error(404, "not_found", f"no entry {seq}")
        return _json(found)

    @app.get("/v1/checkpoint", summary="The latest signed checkpoint (C2SP signed note)",
             response_class=PlainTextResponse, responses=_errors(503))  # fmt: skip
    @app.get("/checkpoint", summary="tlog-tiles: the latest signed checkpoint", response_class=PlainTextResponse,
             responses=_errors(503))  # fmt: skip
    def checkpoint() -> PlainTextResponse:
        return PlainTextResponse(node.store.checkpoint())

    @app.get("/v1/proofs/inclusion", summary="RFC 9162 inclusion proof of entry seq in the tree of size",
             responses=_errors(400, 503))  # fmt: skip
    def inclusion(seq: str, size: str) -> Any:
        seq_, size_ = _number(seq, "seq"), _number(size, "size", 1)
        current = node.store.size()
        if size_ > current or seq_ >= size_:
            return error(400, "malformed", f"need seq < size <= {current}")
        proof = merkle.inclusion_proof(node.store.node, seq_, size_)
        return {"seq": seq_, "size": size_, "hashes": _b64(proof)}

    @app.get("/v1/proofs/consistency", summary="RFC 9162 consistency proof between two tree sizes",
             responses=_errors(400, 503))  # fmt: skip
    def consistency(to: str, from_: str = Query(alias="from")) -> Any:
        from_n, to_n = _number(from_, "from", 1), _number(to, "to", 1)
        current = node.store.size()
        if not from_n <= to_n <= current:
            return error(400, "malformed", f"need 1 <= from <= to <= {current}")
        proof = merkle.consistency_proof(node.store.node, from_n, to_n)
        return {"from": from_n, "to": to_n, "hashes": _b64(proof)}

    @app.get("/tile/{path:path}", summary="tlog-tiles: a hash tile or an entry bundle", responses=_errors(404, 503))
    def tile(path: str) -> Response:
        size = node.store.size()
        try:
            level, n, width = tiles.parse_tile_path(path)
            if level == "entries":
                data = tiles.entry_bundle(node.store.entry, size, n, width)
            else:
                data = tiles.hash_tile(node.store.node, size, int(level), n, width)
        except tiles.TileError as exc:
            return error(404, "not_found", str(exc))
        full = width == tiles.TILE_WIDTH  # a full tile never changes
        cache = "public, max-age=31536000, immutable" if full else "no-cache"
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})
