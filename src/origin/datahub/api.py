"""The DataHub service's HTTP API: meters, measurements and their summaries, the GSRN of a
measurement (to its meter's owner and the issuing body only), webhooks, import issues."""

from datetime import UTC, datetime
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException

from origin.datahub import COPENHAGEN, webhooks
from origin.datahub import meters as meters_
from origin.datahub.auth import ISSUER, Authenticator, Principal
from origin.datahub.db import import_issues, measurements, meters
from origin.protocol import addresses
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import JSON_BODY_BYTES_MAX, LIST_LIMIT_MAX
from origin.protocol.times import format_time, parse_time
from origin.server import BoundedBody


class MeterIn(BaseModel):
    gsrn: str
    type: Literal["PRODUCTION", "CONSUMPTION"]
    sector: str
    owner: str
    tech_type: str | None = None
    fuel_type: str | None = None
    meter_xpub: str | None = None


class XpubIn(BaseModel):
    meter_xpub: str


class WebhookIn(BaseModel):
    url: str
    secret: str
    events: list[str] = list(webhooks.EVENTS)


def refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.response = refusal(status, code, message)


def create_datahub_app(engine: Engine, authenticator: Authenticator) -> FastAPI:  # noqa: PLR0915
    app = FastAPI(title="Origin DataHub service",
                  description="Meters, measurements imported from DataHub, and who may see a GSRN.")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)

    @app.exception_handler(Refused)
    async def _refused(request, exc: Refused):
        return exc.response

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "malformed")
        response = refusal(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        return refusal(400, "malformed", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))

    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        found = authenticator.authenticate(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if found is None:
            raise Refused(401, "unauthenticated", "a valid bearer token is required")
        return found

    def issuer(who: Principal = Depends(principal)) -> Principal:
        if who.role != ISSUER:
            raise Refused(403, "forbidden", "only the issuing body may do this")
        return who

    def visible_meter(gsrn: str, who: Principal) -> dict:
        with engine.connect() as conn:
            row = conn.execute(select(meters).where(meters.c.gsrn == gsrn)).first()
        if row is None or not who.may_see(row.owner):
            raise Refused(404, "not_found", f"no metering point {gsrn} of yours")
        return dict(row._mapping)

    @app.post("/v1/meters", status_code=201, summary="Register a metering point")
    def register(meter: MeterIn, who: Principal = Depends(principal)):
        if not who.may_see(meter.owner):
            raise Refused(403, "forbidden", "an owner registers meters in their own name only")
        try:
            return meters_.register(engine, **meter.model_dump())
        except meters_.MeterError as exc:
            raise Refused(400, "invalid_meter", str(exc)) from None

    @app.get("/v1/meters", summary="The metering points you may see")
    def list_meters(who: Principal = Depends(principal)):
        return meters_.listed(engine, None if who.role == ISSUER else who.subject)

    @app.get("/v1/meters/{gsrn}", summary="One metering point")
    def show_meter(gsrn: str, who: Principal = Depends(principal)):
        return visible_meter(gsrn, who)

    @app.put("/v1/meters/{gsrn}/xpub", summary="Give a meter its owner's meter xpub (m/1'/i')")
    def set_xpub(gsrn: str, body: XpubIn, who: Principal = Depends(principal)):
        visible_meter(gsrn, who)
        try:
            return {"gsrn": gsrn, "measurements_addressed": meters_.set_xpub(engine, gsrn, body.meter_xpub)}
        except meters_.MeterError as exc:
            raise Refused(400, "invalid_meter", str(exc)) from None

    def measurement_rows(who, gsrn, begin, end, type_, sector, limit=LIST_LIMIT_MAX):
        query = (select(measurements, meters.c.type, meters.c.sector, meters.c.owner)
                 .join(meters, meters.c.gsrn == measurements.c.gsrn)
                 .order_by(measurements.c.begin_s, measurements.c.gsrn).limit(limit))  # fmt: skip
        if who.role != ISSUER:
            query = query.where(meters.c.owner == who.subject)
        for column, value in ((measurements.c.gsrn, gsrn), (meters.c.type, type_), (meters.c.sector, sector)):
            if value is not None:
                query = query.where(column == value)
        try:
            if begin is not None:
                query = query.where(measurements.c.begin_s >= parse_time(begin))
            if end is not None:
                query = query.where(measurements.c.end_s <= parse_time(end))
        except ProtocolError as exc:
            raise Refused(400, "malformed", exc.message) from None
        with engine.connect() as conn:
            return conn.execute(query).fetchall()

    @app.get("/v1/measurements", summary="Measurements, filtered by meter, period, type and sector")
    def list_measurements(who: Principal = Depends(principal), gsrn: str | None = None, begin: str | None = None,
                          end: str | None = None, type: Literal["PRODUCTION", "CONSUMPTION"] | None = None,
                          sector: str | None = None, limit: int = Query(1000, ge=1, le=LIST_LIMIT_MAX)):  # fmt: skip
        rows = measurement_rows(who, gsrn, begin, end, type, sector, limit)
        return [{"gsrn": r.gsrn, "address": r.address, "begin": format_time(r.begin_s), "end": format_time(r.end_s),
                 "type": r.type, "sector": r.sector, "amount": r.amount_wh, "seq": r.seq} for r in rows]  # fmt: skip

    @app.get("/v1/measurements/summary", summary="Sums per hour, day or month (Europe/Copenhagen)")
    def summary(resolution: Literal["hour", "day", "month"], who: Principal = Depends(principal),
                gsrn: str | None = None, begin: str | None = None, end: str | None = None,
                type: Literal["PRODUCTION", "CONSUMPTION"] | None = None, sector: str | None = None):  # fmt: skip
        rows = measurement_rows(who, gsrn, begin, end, type, sector)
        buckets: dict[str, dict] = {}
        for r in rows:
            local = datetime.fromtimestamp(r.begin_s, UTC).astimezone(COPENHAGEN)
            key = {"hour": local.strftime("%Y-%m-%dT%H:00%z"), "day": local.strftime("%Y-%m-%d"),
                   "month": local.strftime("%Y-%m")}[resolution]  # fmt: skip
            bucket = buckets.setdefault(
                key, {"period": key, "production_wh": 0, "consumption_wh": 0, "measurements": 0}
            )
            bucket["production_wh" if r.type == "PRODUCTION" else "consumption_wh"] += r.amount_wh
            bucket["measurements"] += 1
        return list(buckets.values())

    @app.get("/v1/measurements/{address}/gsrn",
             summary="The GSRN a measurement came from: to the meter's owner and the issuing body only")  # fmt: skip
    def reveal_gsrn(address: str, who: Principal = Depends(principal)):
        if not addresses.is_address(address):
            raise Refused(400, "malformed", "an address is 70 lower-case hex characters")
        with engine.connect() as conn:
            row = conn.execute(select(measurements.c.gsrn, meters.c.owner).join(meters, meters.c.gsrn == measurements.c.gsrn)
                               .where(measurements.c.address == address)).first()  # fmt: skip
        if row is None:
            raise Refused(404, "not_found", f"no measurement at {address}")
        if not who.may_see(row.owner):
            raise Refused(403, "forbidden", "only the meter's owner and the issuing body may see its GSRN")
        return {"address": address, "gsrn": row.gsrn}

    @app.post("/v1/webhooks", status_code=201, summary="Subscribe to measurement.published and ggo.issued")
    def subscribe(body: WebhookIn, who: Principal = Depends(issuer)):
        try:
            return {"id": webhooks.subscribe(engine, body.url, body.secret, body.events)}
        except ValueError as exc:
            raise Refused(400, "malformed", str(exc)) from None

    @app.get("/v1/import-issues", summary="Gaps and late corrections the importer found")
    def issues(who: Principal = Depends(issuer), limit: int = Query(1000, ge=1, le=LIST_LIMIT_MAX)):
        with engine.connect() as conn:
            rows = conn.execute(select(import_issues).order_by(import_issues.c.begin_s).limit(limit)).fetchall()
        return [{"gsrn": r.gsrn, "begin": format_time(r.begin_s), "kind": r.kind, "detail": r.detail} for r in rows]

    return app
