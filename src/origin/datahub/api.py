"""The DataHub service's HTTP API: meters (as the DataHub describes them; the issuing body's and
the owner's parts set by each), measurements and their sums, the GSRN of a measurement (to its
meter's owner and the issuing body only), webhooks, import issues. Lists are paged with a
cursor; every refusal is `{"error": {"code", "message"}}`."""

from collections.abc import Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel
from sqlalchemy import func, select, tuple_
from sqlalchemy.engine import Engine

from origin.datahub import meters as meters_
from origin.datahub import webhooks
from origin.datahub.auth import ISSUER, Authenticator, Principal, may_see
from origin.datahub.db import import_issues, ledger_batches, measurements, meters
from origin.datahub.importer import LedgerUnavailable
from origin.protocol import addresses
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import JSON_BODY_BYTES_MAX, LIST_LIMIT_MAX
from origin.protocol.times import format_time, parse_time
from origin.server import BoundedBody
from origin.webapi import (
    Refused,
    WebhookCreated,
    WebhookOut,
    bearer,
    cursor,
    errors,
    install_handlers,
    local_period,
    scoped,
)

PAGE_DEFAULT = 1000


class XpubIn(BaseModel):
    meter_xpub: str


class TechnologyIn(BaseModel):
    tech_type: str
    fuel_type: str


class SectorIn(BaseModel):
    sector: str


class EnabledIn(BaseModel):
    enabled: bool


class WebhookIn(BaseModel):
    url: str
    secret: str
    events: list[str] = list(webhooks.EVENTS)


class Quarantine(BaseModel):
    code: str
    message: str


class MeterOut(BaseModel):
    gsrn: str
    type: str
    owner: str
    authorization_id: str | None
    resolution: str | None
    postcode: str | None
    access_from_s: int | None
    access_to_s: int | None
    sector: str | None
    sector_by_issuer: bool
    tech_type: str | None
    fuel_type: str | None
    disabled: bool
    quarantine: Quarantine | None
    meter_xpub: str | None
    waiting_for: list[str]


class MeterPage(BaseModel):
    meters: list[MeterOut]
    next: str | None


class XpubOut(BaseModel):
    gsrn: str
    measurements_addressed: int


class SyncOut(BaseModel):
    added: list[str]
    changed: list[str]
    skipped: list[str]


class MeasurementOut(BaseModel):
    gsrn: str
    address: str | None
    begin: str
    end: str
    type: str
    sector: str | None
    amount: int
    seq: int | None


class MeasurementPage(BaseModel):
    measurements: list[MeasurementOut]
    next: str | None


class SumOut(BaseModel):
    period: str
    production_wh: int
    consumption_wh: int
    measurements: int


class GsrnOut(BaseModel):
    address: str
    gsrn: str


class IssueOut(BaseModel):
    gsrn: str
    begin: str
    kind: str
    detail: str


class IssuePage(BaseModel):
    issues: list[IssueOut]
    next: str | None


def create_datahub_app(engine: Engine, authenticator: Authenticator, sectors: Callable[[], frozenset[str]],
                       sync: Callable[[], meters_.SyncReport], ledger_entry: Callable[[str], int | None],
                       allow_private_webhooks: bool = False) -> FastAPI:  # fmt: skip
    """`ledger_entry(address)`: the ledger entry that wrote the address (`Importer.entry_of`)."""
    app = FastAPI(title="Origin DataHub service",
                  description="Meters, measurements imported from DataHub, and who may see a GSRN. Every endpoint "
                              "takes `Authorization: Bearer TOKEN` (`origin datahub token add` makes one).")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)
    install_handlers(app, meters_.MeterError)
    who = _principals(authenticator)
    _meter_routes(app, engine, sectors, sync, who)
    _measurement_routes(app, engine, who, ledger_entry)
    _admin_routes(app, engine, who, allow_private_webhooks)
    return app


class _Who:
    """The dependencies: `principal(scope)` anyone whose token has the scope, `issuer` the
    issuing body only."""

    def __init__(self, principal: Callable[..., Principal]):
        self._principal = principal

        def issuer(who: Principal = Depends(scoped(principal, "operator"))) -> Principal:
            if who.role != ISSUER:
                raise Refused(403, "forbidden", "only the issuing body may do this")
            return who

        self.issuer = issuer

    def principal(self, *needed: str) -> Callable[..., Principal]:
        return scoped(self._principal, *needed)


def _principals(authenticator: Authenticator) -> _Who:
    return _Who(bearer(authenticator, "An access token of the authorization server with the scope the endpoint "
                                      "names"))  # fmt: skip


def _meter_routes(app: FastAPI, engine: Engine, sectors: Callable[[], frozenset[str]],
                  sync: Callable[[], meters_.SyncReport], w: _Who) -> None:  # fmt: skip
    def visible(gsrn: str, who: Principal) -> dict[str, Any]:
        meter = meters_.show(engine, gsrn, sectors())
        if not may_see(who, meter["owner"]):
            raise Refused(404, "not_found", f"no metering point {gsrn} of yours")
        return meter

    @app.get(
        "/v1/meters",
        response_model=MeterPage,
        summary="The metering points you may see, a page at a time",
        responses=errors(400, 401),
    )
    def list_meters(who: Principal = Depends(w.principal("meteringpoints.read")), after: str = "",
                    limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        page, cursor = meters_.listed(engine, sectors(), None if who.role == ISSUER else who.subject, after, limit)
        return {"meters": page, "next": cursor}

    @app.get(
        "/v1/meters/{gsrn}",
        response_model=MeterOut,
        summary="One metering point, and what it waits for",
        responses=errors(401, 404),
    )
    def show_meter(gsrn: str, who: Principal = Depends(w.principal("meteringpoints.read"))) -> dict[str, Any]:
        return visible(gsrn, who)

    @app.put("/v1/meters/{gsrn}/xpub", response_model=XpubOut, summary="The owner gives the meter's xpub (m/1'/i'), once",
             responses=errors(400, 401, 404, 409))  # fmt: skip
    def set_xpub(gsrn: str, body: XpubIn, who: Principal = Depends(w.principal("meters.write"))) -> dict[str, Any]:
        owner = None if who.role == ISSUER else who.subject
        return {"gsrn": gsrn, "measurements_addressed": meters_.set_xpub(engine, gsrn, body.meter_xpub, owner)}

    @app.put("/v1/meters/{gsrn}/technology", response_model=MeterOut, summary="The issuing body sets a production meter's EECS codes",
             responses=errors(400, 401, 403, 404, 409))  # fmt: skip
    def set_technology(gsrn: str, body: TechnologyIn, who: Principal = Depends(w.issuer)) -> dict[str, Any]:
        meters_.set_technology(engine, gsrn, body.tech_type, body.fuel_type)
        return meters_.show(engine, gsrn, sectors())

    @app.put(
        "/v1/meters/{gsrn}/sector",
        response_model=MeterOut,
        summary="The issuing body sets the sector",
        responses=errors(400, 401, 403, 404),
    )
    def set_sector(gsrn: str, body: SectorIn, who: Principal = Depends(w.issuer)) -> dict[str, Any]:
        meters_.set_sector(engine, gsrn, body.sector)
        return meters_.show(engine, gsrn, sectors())

    @app.put("/v1/meters/{gsrn}/enabled", response_model=MeterOut, summary="The issuing body disables or enables a meter",
             responses=errors(400, 401, 403, 404))  # fmt: skip
    def set_enabled(gsrn: str, body: EnabledIn, who: Principal = Depends(w.issuer)) -> dict[str, Any]:
        meters_.set_disabled(engine, gsrn, not body.enabled)
        return meters_.show(engine, gsrn, sectors())

    @app.post("/v1/meters/{gsrn}/release", response_model=MeterOut, summary="The issuing body releases a meter the ledger refused",
              responses=errors(401, 403, 404, 409))  # fmt: skip
    def release(gsrn: str, who: Principal = Depends(w.issuer)) -> dict[str, Any]:
        meters_.release(engine, gsrn)
        return meters_.show(engine, gsrn, sectors())

    @app.post("/v1/meters/sync", response_model=SyncOut, summary="Bring the meters in line with the DataHub's authorisations now",
              responses=errors(401, 403))  # fmt: skip
    def sync_now(who: Principal = Depends(w.issuer)) -> dict[str, Any]:
        report = sync()
        return {"added": report.added, "changed": report.changed, "skipped": report.skipped}


def _period(begin: str | None, end: str | None) -> tuple[int | None, int | None]:
    try:
        return (None if begin is None else parse_time(begin)), (None if end is None else parse_time(end))
    except ProtocolError as exc:
        raise Refused(400, "malformed", exc.message) from None


def _filtered(query: Any, who: Principal, gsrn: str | None, begin: str | None, end: str | None, type_: str | None,
              sector: str | None) -> Any:  # fmt: skip
    if who.role != ISSUER:
        query = query.where(meters.c.owner == who.subject)
    for column, value in ((measurements.c.gsrn, gsrn), (meters.c.type, type_), (meters.c.sector, sector)):
        if value is not None:
            query = query.where(column == value)
    begin_s, end_s = _period(begin, end)
    if begin_s is not None:
        query = query.where(measurements.c.begin_s >= begin_s)
    if end_s is not None:
        query = query.where(measurements.c.end_s <= end_s)
    return query


def _measurement_routes(app: FastAPI, engine: Engine, w: _Who, ledger_entry: Callable[[str], int | None]) -> None:
    measurement_type = Literal["PRODUCTION", "CONSUMPTION"] | None

    @app.get("/v1/measurements", response_model=MeasurementPage, summary="Measurements, filtered by meter, period, type and sector, a page at a time",
             responses=errors(400, 401))  # fmt: skip
    def list_measurements(who: Principal = Depends(w.principal("measurements.read")), gsrn: str | None = None, begin: str | None = None,
                          end: str | None = None, type: measurement_type = None, sector: str | None = None,
                          after: str = "", limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        query = select(measurements, meters.c.type, meters.c.sector).join(meters, meters.c.gsrn == measurements.c.gsrn)
        query = _filtered(query, who, gsrn, begin, end, type, sector)
        position = cursor(after)
        if position is not None:
            query = query.where(tuple_(measurements.c.begin_s, measurements.c.gsrn) > position)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(measurements.c.begin_s, measurements.c.gsrn).limit(limit + 1)).fetchall()
        page = [{"gsrn": r.gsrn, "address": r.address, "begin": format_time(r.begin_s), "end": format_time(r.end_s),
                 "type": r.type, "sector": r.sector, "amount": r.amount_wh, "seq": r.seq} for r in rows[:limit]]  # fmt: skip
        last = rows[limit - 1] if len(rows) > limit else None
        return {"measurements": page, "next": None if last is None else f"{last.begin_s}:{last.gsrn}"}

    @app.get("/v1/measurements/summary", response_model=list[SumOut], summary="Sums per hour, day or month (Europe/Copenhagen), over every match",
             responses=errors(400, 401))  # fmt: skip
    def summary(resolution: Literal["hour", "day", "month"], who: Principal = Depends(w.principal("measurements.read")),
                gsrn: str | None = None, begin: str | None = None, end: str | None = None,
                type: measurement_type = None, sector: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """SQL sums each UTC hour (a Danish hour is a whole UTC hour); the hours are then folded
        into Danish days or months: correct past any number of rows."""
        hour = (measurements.c.begin_s - measurements.c.begin_s % 3600).label("hour")
        query = (select(hour, meters.c.type, func.sum(measurements.c.amount_wh), func.count())
                 .join(meters, meters.c.gsrn == measurements.c.gsrn))  # fmt: skip
        query = _filtered(query, who, gsrn, begin, end, type, sector).group_by(hour, meters.c.type).order_by(hour)
        buckets: dict[str, dict[str, Any]] = {}
        with engine.connect() as conn:
            for hour_s, kind, amount, count in conn.execute(query):
                key = local_period(int(hour_s), resolution)
                bucket = buckets.setdefault(key, {"period": key, "production_wh": 0, "consumption_wh": 0,
                                                  "measurements": 0})  # fmt: skip
                bucket["production_wh" if kind == "PRODUCTION" else "consumption_wh"] += int(amount)
                bucket["measurements"] += int(count)
        return list(buckets.values())

    @app.get("/v1/measurements/{address}/gsrn", response_model=GsrnOut, responses=errors(400, 401, 403, 404, 503),
             summary="The GSRN a published measurement came from: to the meter's owner and the issuing body only")  # fmt: skip
    def reveal_gsrn(address: str, who: Principal = Depends(w.principal("meteringpoints.read"))) -> dict[str, str]:
        """Found through the ledger entry that published it: the addresses have no index of their own."""
        if not addresses.is_address(address):
            raise Refused(400, "malformed", "an address is 70 lower-case hex characters")
        try:
            seq = ledger_entry(address)
        except LedgerUnavailable as exc:
            raise Refused(503, "ledger_unavailable", f"{exc}; try again later") from None
        row = None
        if seq is not None:
            with engine.connect() as conn:
                row = conn.execute(
                    select(measurements.c.gsrn, meters.c.owner).join(meters, meters.c.gsrn == measurements.c.gsrn)
                    .join(ledger_batches, ledger_batches.c.id == measurements.c.batch)
                    .where(ledger_batches.c.seq == seq, measurements.c.address == address)).first()  # fmt: skip
        if row is None:
            raise Refused(404, "not_found", f"no measurement of this issuing body is published at {address}")
        if not may_see(who, row.owner):
            raise Refused(403, "forbidden", "only the meter's owner and the issuing body may see its GSRN")
        return {"address": address, "gsrn": row.gsrn}


def _admin_routes(app: FastAPI, engine: Engine, w: _Who, allow_private: bool) -> None:
    @app.post("/v1/webhooks", response_model=WebhookCreated, status_code=201, responses=errors(400, 401),
              summary="Subscribe to measurement.published and ggo.issued: an owner of their own meters' events")  # fmt: skip
    def subscribe(body: WebhookIn, who: Principal = Depends(w.principal("measurements.read"))) -> dict[str, int]:
        owner = None if who.role == ISSUER else who.subject
        try:
            return {"id": webhooks.subscribe(engine, body.url, body.secret, body.events, owner, allow_private)}
        except ValueError as exc:
            raise Refused(400, "malformed", str(exc)) from None

    @app.get(
        "/v1/webhooks",
        response_model=list[WebhookOut],
        summary="Your subscriptions, with what is pending and failed",
        responses=errors(401),
    )
    def subscriptions(who: Principal = Depends(w.principal("measurements.read"))) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [{k: v for k, v in s.items() if k != "secret"}
                    for s in webhooks.listed(conn, None if who.role == ISSUER else who.subject)]  # fmt: skip

    @app.delete("/v1/webhooks/{webhook_id}", status_code=204, summary="Unsubscribe", responses=errors(401, 404))
    def unsubscribe(webhook_id: int, who: Principal = Depends(w.principal("measurements.read"))) -> None:
        if not webhooks.unsubscribe(engine, webhook_id, None if who.role == ISSUER else who.subject):
            raise Refused(404, "not_found", f"no subscription {webhook_id} of yours")

    @app.get("/v1/import-issues", response_model=IssuePage, summary="Gaps, late corrections, refusals and expired GGOs the importer found",
             responses=errors(400, 401, 403))  # fmt: skip
    def issues(who: Principal = Depends(w.issuer), after: str = "",
               limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        query = select(import_issues).order_by(import_issues.c.begin_s, import_issues.c.gsrn, import_issues.c.kind)
        if after:
            begin, _, rest = after.partition(":")
            gsrn, _, kind = rest.rpartition(":")
            if not begin.isdigit() or len(begin) > 16 or not gsrn or not kind:
                raise Refused(400, "malformed", "a cursor is the `next` of the page before")
            query = query.where(tuple_(import_issues.c.begin_s, import_issues.c.gsrn, import_issues.c.kind)
                                > (int(begin), gsrn, kind))  # fmt: skip
        with engine.connect() as conn:
            rows = conn.execute(query.limit(limit + 1)).fetchall()
        page = [{"gsrn": r.gsrn, "begin": format_time(r.begin_s), "kind": r.kind, "detail": r.detail}
                for r in rows[:limit]]  # fmt: skip
        last = rows[limit - 1] if len(rows) > limit else None
        return {"issues": page, "next": None if last is None else f"{last.begin_s}:{last.gsrn}:{last.kind}"}
