"""The ledger's HTTP API (PROTOCOL.md section 9). Every refusal is
`{"error": {"code", "message", "transaction"}}` with a 4xx status and a protocol error code."""

import asyncio
import base64
import re

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from origin.ledger import provenance, tiles
from origin.ledger.node import Busy, Node, Standby, Stopped
from origin.protocol import addresses, merkle
from origin.protocol.canonical import canonical
from origin.protocol.errors import ProtocolError
from origin.protocol.transactions import BATCH_BYTES_MAX, decode_batch

WAIT_S_MAX = 30.0
RETRY_AFTER_S = 1
_BATCH_ID = re.compile(r"[0-9a-f]{64}")

_BATCH_SCHEMA = {
    "type": "object",
    "required": ["transactions"],
    "additionalProperties": False,
    "properties": {
        "transactions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1024,
            "items": {
                "type": "object",
                "required": ["ledger", "type", "signer", "payload", "signature"],
                "properties": {
                    "ledger": {"type": "string"},
                    "type": {"type": "string", "enum": [
                        "publish_measurement", "issue_ggo", "transfer_ggo", "split_ggo",
                        "retire_ggo", "update_settlement"]},  # fmt: skip
                    "signer": {"type": "string", "pattern": "^[0-9a-f]{66}$"},
                    "payload": {"type": "object"},
                    "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
                },
            },
        }
    },
}


def error(status: int, code: str, message: str, transaction: int | None = None, headers=None):
    body = {"error": {"code": code, "message": message, "transaction": transaction}}
    return JSONResponse(body, status_code=status, headers=headers)


def _json(data: bytes) -> Response:
    return Response(data, media_type="application/json")


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def create_app(node: Node) -> FastAPI:
    app = FastAPI(
        title="Origin ledger",
        version="1",
        description="The shared verifiable storage of Origin: PROTOCOL.md section 9.",
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(400, "malformed", where)

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        return error(exc.status_code, "not_found" if exc.status_code == 404 else "malformed", str(exc.detail))

    @app.post(
        "/v1/batches",
        summary="Submit a batch of signed transactions",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": _BATCH_SCHEMA}}}
        },
        responses={202: {"description": "Accepted, PENDING"}, 400: {}, 413: {}, 503: {}},
    )
    async def submit(request: Request, wait: bool = False):
        body = await request.body()
        if len(body) > BATCH_BYTES_MAX:
            return error(413, "invalid_batch", f"a batch is at most {BATCH_BYTES_MAX} bytes")
        try:
            batch = await run_in_threadpool(decode_batch, body, node.ledger)
        except ProtocolError as exc:
            return error(400, exc.code, exc.message)
        try:
            future = node.submit(batch)
        except (Busy, Standby, Stopped) as exc:
            return error(503, "invalid_batch", f"try again later: {exc}",
                         headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
        if wait and not future.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), WAIT_S_MAX)
            except asyncio.TimeoutError:
                pass
            except Exception:
                return error(503, "invalid_batch", "the node could not commit; nothing was written",
                             headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
        if future.done() and future.exception() is None:
            return JSONResponse(future.result().to_json())
        return JSONResponse({"id": batch.id, "status": "PENDING"}, status_code=202)

    @app.get("/v1/batches/{batch_id}", summary="A batch's status")
    def batch_status(batch_id: str):
        if not _BATCH_ID.fullmatch(batch_id):
            return error(400, "malformed", "a batch id is 64 lower-case hex characters")
        return node.outcome(batch_id).to_json()

    @app.get("/v1/state/{address}", summary="The record at an address")
    def state(address: str):
        if not addresses.is_address(address):
            return error(400, "malformed", "an address is 70 lower-case hex characters")
        found = node.store.record(address)
        if found is None:
            return error(404, "not_found", f"no record at {address}")
        record, seq = found
        return _json(b'{"address":"%s","record":%s,"seq":%d}' % (address.encode(), record, seq))

    @app.get("/v1/ggos/{address}/provenance", summary="A GGO's provenance bundle, to verify offline")
    def ggo_provenance(address: str):
        if not addresses.is_address(address):
            return error(400, "malformed", "an address is 70 lower-case hex characters")
        bundle = provenance.build(node.store, address)
        if bundle is None:
            return error(404, "not_found", f"no GGO at {address}")
        return bundle

    @app.get("/v1/entries/{seq}", summary="A log entry, as canonical JSON")
    def entry(seq: int):
        found = node.store.entry(seq) if seq >= 0 else None
        if found is None:
            return error(404, "not_found", f"no entry {seq}")
        return _json(found)

    @app.get("/v1/checkpoint", summary="The latest signed checkpoint (C2SP signed note)",
             response_class=PlainTextResponse)  # fmt: skip
    @app.get("/checkpoint", summary="tlog-tiles: the latest signed checkpoint", response_class=PlainTextResponse)
    def checkpoint():
        return PlainTextResponse(node.store.checkpoint())

    @app.get("/v1/proofs/inclusion", summary="RFC 9162 inclusion proof of entry seq in the tree of size")
    def inclusion(seq: int = Query(ge=0), size: int = Query(ge=1)):
        current = node.store.size()
        if size > current or seq >= size:
            return error(400, "malformed", f"need seq < size <= {current}")
        proof = merkle.inclusion_proof(node.store.node, seq, size)
        return {"seq": seq, "size": size, "hashes": _b64(proof)}

    @app.get("/v1/proofs/consistency", summary="RFC 9162 consistency proof between two tree sizes")
    def consistency(from_: int = Query(alias="from", ge=1), to: int = Query(ge=1)):
        current = node.store.size()
        if not from_ <= to <= current:
            return error(400, "malformed", f"need 1 <= from <= to <= {current}")
        proof = merkle.consistency_proof(node.store.node, from_, to)
        return {"from": from_, "to": to, "hashes": _b64(proof)}

    @app.get("/healthz", summary="This node's role (active writer or standby) and log size")
    def health():
        return {"ledger": node.ledger, "role": node.role, "size": node.store.size()}

    @app.get("/tile/{path:path}", summary="tlog-tiles: a hash tile or an entry bundle")
    def tile(path: str):
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

    @app.get("/v1/genesis", summary="The ledger's genesis")
    def genesis():
        return _json(canonical(node.config.genesis))

    return app
