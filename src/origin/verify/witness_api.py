"""The witness's HTTP API: its latest cosigned checkpoint, and its alarm."""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from origin.protocol.limits import JSON_BODY_BYTES_MAX
from origin.server import BoundedBody
from origin.verify.witness import Witness


def create_witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title="Origin witness", description="Cosigns the checkpoints of a ledger it replays.")
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)  # it takes no body: none is read

    @app.get("/checkpoint", response_class=PlainTextResponse,
             summary="The latest checkpoint this witness cosigned (the node's signed note plus its cosignature)")  # fmt: skip
    def checkpoint() -> Response:
        latest = witness.latest()
        if latest is None:
            return JSONResponse({"error": {"code": "not_found", "message": "nothing cosigned yet"}}, 404)
        return PlainTextResponse(latest)

    @app.get("/alerts", summary="200 while the node behaves; 503 with what it did once it has not")
    def alerts() -> Any:
        if witness.alarm is None:
            return {"status": "ok", "alarm": None}
        return JSONResponse({"status": "alarm", "alarm": witness.alarm}, status_code=503)

    @app.get("/healthz", summary="What the witness follows and has cosigned")
    def health() -> dict[str, Any]:
        return {"ledger": witness.config.ledger if witness.config else None, "size": witness.frontier.size,
                "key": witness.verifier_key, "alarm": witness.alarm is not None}  # fmt: skip

    return app
