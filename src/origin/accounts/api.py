"""The account service's HTTP API: the friendly face of the ledger. An account sees only its own
data; every refusal is `{"error": {"code", "message"}}`, with the ledger's own codes where the
ledger's rules would refuse. Lists are paged with a cursor; sums are computed in SQL."""

import csv
import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, tuple_
from sqlalchemy.engine import Engine

from origin.accounts import db, matching, report, wallets
from origin.accounts.operations import Endpoint, Leg, Receiver
from origin.accounts.wallets import AccountError
from origin.protocol import addresses
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import JSON_BODY_BYTES_MAX, LIST_LIMIT_MAX
from origin.protocol.times import format_time, parse_time
from origin.server import BoundedBody
from origin.tokens import Principal
from origin.webapi import (
    RESOLUTIONS,
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

if TYPE_CHECKING:
    from origin.accounts.service import Service

PAGE_DEFAULT = 1000
SPAN_S_MAX = 2 * 366 * 86400
IDEMPOTENCY_KEY_MAX = 200


class AccountIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    master_xpub: str | None = Field(None, description="Self-custody: the xpub of your m; the service never holds keys")
    receive_xpub: str | None = Field(None, description="Self-custody: the xpub of your m/0'")


class AccountOut(BaseModel):
    id: str
    name: str
    custody: str
    receive_xpub: str
    master_xpub: str | None
    automation: bool = False


class MeterIn(BaseModel):
    gsrn: str
    meter_xpub: str | None = Field(None, description="Self-custody only: the xpub of your meter key m/1'/i'")


class MeterOut(BaseModel):
    gsrn: str
    index: int
    xpub: str
    type: str
    sector: str | None
    added_s: int
    retire_priority: int = 0


class GgoOut(BaseModel):
    address: str
    origin: str
    begin: str
    end: str
    amount_wh: int
    sector: str
    tech_type: str
    fuel_type: str
    state: str
    source: str
    seq: int
    spent_seq: int | None
    next: str | None
    operation: str | None


class GgoPage(BaseModel):
    ggos: list[GgoOut]
    next: str | None


class MeasurementOut(BaseModel):
    address: str
    meter: int
    begin: str
    end: str
    sector: str
    type: str
    amount_wh: int
    retired_wh: int
    seq: int


class MeasurementPage(BaseModel):
    measurements: list[MeasurementOut]
    next: str | None


class SumOut(BaseModel):
    period: str
    amount_wh: int
    ggos: int


class ReceiverIn(BaseModel):
    account: str | None = Field(None, description="An account of this service")
    xpub: str | None = Field(None, description="An external receive endpoint: the xpub of its m/0'")
    notify_url: str | None = Field(None, description="Where the external receiver hears of what it was sent")

    def receiver(self) -> Receiver:
        if (self.account is None) == (self.xpub is None):
            raise Refused(400, "malformed", "a receiver is an account, or an xpub (with an optional notify_url)")
        return self.account if self.account is not None else Endpoint(str(self.xpub), self.notify_url)


class TransferIn(BaseModel):
    ggo: str
    to: ReceiverIn
    amount_wh: int | None = Field(None, description="Part of the GGO; the whole when left out")


class SplitIn(BaseModel):
    ggo: str
    amounts_wh: list[int] = Field(min_length=2, max_length=255)


class RetireIn(BaseModel):
    ggo: str
    measurement: str | None = Field(None, description="Your consumption measurement; found by period when left out")
    amount_wh: int | None = None


class TransferLeg(BaseModel):
    to: ReceiverIn
    amount_wh: int


class RetireLeg(BaseModel):
    amount_wh: int
    measurement: str | None = None


class ComposeIn(BaseModel):
    ggo: str
    transfers: list[TransferLeg] = Field(default_factory=list, max_length=255)
    retirements: list[RetireLeg] = Field(default_factory=list, max_length=255)


class BulkTransferIn(BaseModel):
    to: ReceiverIn
    amount_wh: int = Field(description="Wh of each period (hour or quarter) in [begin, end)")
    begin: str
    end: str


class BulkRetireIn(BaseModel):
    begin: str
    end: str


class ErrorOut(BaseModel):
    code: str
    message: str


class BatchOut(BaseModel):
    id: str
    status: str
    seq: int | None


class ToSign(BaseModel):
    path: str = Field(description="The key's path below your master key m")
    public_key: str
    digest: str = Field(description="SHA-256 of the canonical signing document: sign this (ECDSA, low-S, r||s hex)")
    document: dict[str, Any]


class SignaturesIn(BaseModel):
    signatures: list[str] = Field(max_length=100_000, description="Hex r||s, one per to_sign entry, in its order")


class OperationOut(BaseModel):
    id: str
    kind: str
    status: str = Field(
        description="UNSIGNED (self-custody: waiting for your signatures), PENDING, COMMITTED or FAILED"
    )
    error: ErrorOut | None
    request: dict[str, Any]
    created_s: int
    updated_s: int
    batches: list[BatchOut] | None = None
    to_sign: list[ToSign] | None = None


class OperationPage(BaseModel):
    operations: list[OperationOut]
    next: str | None


class EndpointOut(BaseModel):
    xpub: str = Field(description="The xpub of m/0': senders derive receive addresses m/0'/n from it")
    notify_url: str
    ledger: str


class NotifyIn(BaseModel):
    ggo: str
    index: int | None = None


class NotifyOut(BaseModel):
    accepted: bool


class WebhookIn(BaseModel):
    url: str
    secret: str
    events: list[str] = ["ggo.received", "ggo.issued", "operation.completed"]


def _time(text: str, name: str) -> int:
    try:
        return parse_time(text)
    except ProtocolError as exc:
        raise Refused(400, "malformed", f"{name}: {exc.message}") from None


def _amount(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 10**15:
        raise Refused(422, "invalid_amount", "an amount is a whole number of Wh, at least 1")
    return value


def _idempotency(key: str | None) -> str | None:
    if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
        raise Refused(400, "malformed", f"an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_MAX} characters")
    return key


def _ggo_out(r: Any, now_s: int, lifetime_s: int) -> dict[str, Any]:
    state = r["state"]
    if state == "available" and r["operation"] is not None:
        state = "reserved"
    elif state == "available" and now_s >= r["end_s"] + lifetime_s:
        state = "expired"
    return {"address": r["address"], "origin": r["origin"], "begin": format_time(r["begin_s"]),
            "end": format_time(r["end_s"]), "amount_wh": r["amount_wh"], "sector": r["sector"],
            "tech_type": r["tech_type"], "fuel_type": r["fuel_type"], "state": state, "source": r["source"],
            "seq": r["seq"], "spent_seq": r["spent_seq"], "next": r["next"], "operation": r["operation"]}  # fmt: skip


def create_accounts_app(service: "Service") -> FastAPI:
    app = FastAPI(title="Origin account service",
                  description="Wallets in custody, GGO inventory, transfers, splits, retirements. Every endpoint but "
                              "the receive notification takes `Authorization: Bearer TOKEN`, an access token of the "
                              "authorization server with the scope the endpoint names.")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)
    install_handlers(app, AccountError)
    principal = bearer(service.verifier, "An access token of the authorization server with the scope the endpoint "
                                         "names, its user's account's (or the operator's)")  # fmt: skip

    def holder(*needed: str) -> Callable[..., Principal]:
        """A dependency: an account's owner, by a token that has these scopes."""
        checked = scoped(principal, *needed)

        def account(who: Principal = Depends(checked)) -> Principal:
            if who.role != "owner":
                raise Refused(403, "forbidden", "this is an account's own: use a token of its user's")
            return who

        return account

    def owner(*needed: str) -> Callable[..., str]:
        """A dependency: the account of a token that has these scopes."""
        checked = holder(*needed)

        def account(who: Principal = Depends(checked)) -> str:
            return who.subject

        return account

    def operator(who: Principal = Depends(scoped(principal, "operator"))) -> Principal:
        if who.role != "operator":
            raise Refused(403, "forbidden", "only the service's operator may do this")
        return who

    _account_routes(app, service, owner, holder, operator)
    _inventory_routes(app, service, owner)
    _operation_routes(app, service, owner)
    _exchange_routes(app, service, owner)
    _matching_routes(app, service, owner)
    _agreement_routes(app, service, owner)
    return app


def _account_routes(app: FastAPI, service: "Service", owner: Any, holder: Any, operator: Any) -> None:
    engine = service.engine

    @app.post("/v1/accounts", response_model=AccountOut, status_code=201, responses=errors(400, 401, 403, 409, 422),
              summary="The operator opens an account (for `origin auth link` to give to a user): held (the service "
                      "keeps its keys, sealed) or self-custody")  # fmt: skip
    def open_account(body: AccountIn, who: Principal = Depends(operator)) -> dict[str, Any]:
        now_s = int(service.clock())
        return wallets.create(engine, service.kek, body.name, now_s, body.master_xpub, body.receive_xpub).__dict__

    @app.post("/v1/account", response_model=AccountOut, status_code=201, responses=errors(400, 401, 403, 409, 422),
              summary="Open your account, under the id the authorization server gave you: held (the service keeps "
                      "its keys, sealed) or self-custody (give your xpubs)")  # fmt: skip
    def open_own(body: AccountIn, account: str = Depends(owner("account.open"))) -> dict[str, Any]:
        now_s = int(service.clock())
        return wallets.create(engine, service.kek, body.name, now_s, body.master_xpub, body.receive_xpub,
                              account).__dict__  # fmt: skip

    @app.get("/v1/account", response_model=AccountOut, responses=errors(401, 403, 404), summary="Your account")
    def me(account: str = Depends(owner("ggo.read"))) -> dict[str, Any]:
        with engine.connect() as conn:
            return wallets.get(conn, account).__dict__

    @app.get("/v1/datahub/meters", response_model=list[dict[str, Any]], responses=errors(401, 403, 503),
             summary="The metering points your DataHub authorisation covers, as the DataHub service lists them")  # fmt: skip
    def datahub_meters(who: Principal = Depends(holder("meters.write"))) -> list[dict[str, Any]]:
        return service.meters.available(who.token)

    @app.post("/v1/meters", response_model=MeterOut, status_code=201, responses=errors(400, 401, 403, 404, 409, 503),
              summary="Add a metering point: its meter key m/1'/i' is derived and its xpub registered with the DataHub "
                      "service, with your access token")  # fmt: skip
    def add_meter(body: MeterIn, who: Principal = Depends(holder("meters.write"))) -> dict[str, Any]:
        row = service.meters.add(who.subject, who.token, body.gsrn, body.meter_xpub)
        return {**row, "index": row["idx"]}

    @app.get("/v1/meters", response_model=list[MeterOut], responses=errors(401, 403), summary="Your metering points")
    def list_meters(account: str = Depends(owner("ggo.read"))) -> list[dict[str, Any]]:
        return [{**r, "index": r["idx"]} for r in service.meters.listed(account)]


def _ggo_filter(query: Any, account: str, begin: str | None, end: str | None, sector: str | None,
                tech_type: str | None, state: str | None, now_s: int, lifetime_s: int) -> Any:  # fmt: skip
    g = db.ggos.c
    query = query.where(g.account == account)
    if begin is not None:
        query = query.where(g.begin_s >= _time(begin, "begin"))
    if end is not None:
        query = query.where(g.end_s <= _time(end, "end"))
    if sector is not None:
        query = query.where(g.sector == sector)
    if tech_type is not None:
        query = query.where(g.tech_type == tech_type)
    live = g.end_s + lifetime_s > now_s
    conditions = {"available": (g.state == "available") & g.operation.is_(None) & live,
                  "reserved": (g.state == "available") & g.operation.is_not(None),
                  "expired": (g.state == "available") & g.operation.is_(None) & ~live}  # fmt: skip
    if state is not None:
        query = query.where(conditions.get(state, g.state == state))
    return query


def _inventory_routes(app: FastAPI, service: "Service", owner: Any) -> None:
    engine = service.engine
    state_filter = Literal["available", "reserved", "transferred", "split", "retired", "expired"] | None

    def lifetime() -> int:
        return service.ledger.config().ggo_lifetime_s

    @app.get("/v1/ggos", response_model=GgoPage, responses=errors(400, 401, 403),
             summary="Your GGOs, filtered by period, sector, technology and state, a page at a time")  # fmt: skip
    def list_ggos(account: str = Depends(owner("ggo.read")), begin: str | None = None, end: str | None = None,
                  sector: str | None = None, tech_type: str | None = None, state: state_filter = None, after: str = "",
                  limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        now_s, life = int(service.clock()), lifetime()
        query = _ggo_filter(select(db.ggos), account, begin, end, sector, tech_type, state, now_s, life)
        position = cursor(after)
        if position is not None:
            query = query.where(tuple_(db.ggos.c.begin_s, db.ggos.c.address) > position)
        with engine.connect() as conn:
            rows = (
                conn.execute(query.order_by(db.ggos.c.begin_s, db.ggos.c.address).limit(limit + 1))
                .mappings()
                .fetchall()
            )
        last = rows[limit - 1] if len(rows) > limit else None
        return {"ggos": [_ggo_out(r, now_s, life) for r in rows[:limit]],
                "next": None if last is None else f"{last['begin_s']}:{last['address']}"}  # fmt: skip

    @app.get("/v1/ggos/summary", response_model=list[SumOut], responses=errors(400, 401, 403),
             summary="Sums of your GGOs per hour, day, week, month or year (Europe/Copenhagen), over every match")  # fmt: skip
    def summary(resolution: Literal["hour", "day", "week", "month", "year"], account: str = Depends(owner("ggo.read")),
                begin: str | None = None, end: str | None = None, sector: str | None = None,
                tech_type: str | None = None, state: state_filter = None) -> list[dict[str, Any]]:  # fmt: skip
        """SQL sums each UTC hour (a Danish hour is a whole UTC hour); the hours are then folded
        into Danish days, weeks, months or years: correct past any number of rows."""
        assert resolution in RESOLUTIONS
        now_s, life = int(service.clock()), lifetime()
        hour = (db.ggos.c.begin_s - db.ggos.c.begin_s % 3600).label("hour")
        query = select(hour, func.sum(db.ggos.c.amount_wh), func.count())
        query = _ggo_filter(query, account, begin, end, sector, tech_type, state, now_s, life)
        buckets: dict[str, dict[str, Any]] = {}
        with engine.connect() as conn:
            for hour_s, amount, count in conn.execute(query.group_by(hour).order_by(hour)):
                key = local_period(int(hour_s), resolution)
                bucket = buckets.setdefault(key, {"period": key, "amount_wh": 0, "ggos": 0})
                bucket["amount_wh"] += int(amount)
                bucket["ggos"] += int(count)
        return list(buckets.values())

    @app.get("/v1/ggos/{address}", response_model=GgoOut, responses=errors(401, 403, 404), summary="One of your GGOs")
    def one_ggo(address: str, account: str = Depends(owner("ggo.read"))) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(select(db.ggos).where(db.ggos.c.address == address, db.ggos.c.account == account)
                               ).mappings().first()  # fmt: skip
        if row is None:
            raise Refused(404, "not_found", f"you hold no GGO {address[:80]}")
        return _ggo_out(row, int(service.clock()), lifetime())

    @app.get("/v1/measurements", response_model=MeasurementPage, responses=errors(400, 401, 403),
             summary="Your meters' measurements, with what is retired against each consumption")  # fmt: skip
    def list_measurements(account: str = Depends(owner("ggo.read")), begin: str | None = None, end: str | None = None,
                          type: Literal["PRODUCTION", "CONSUMPTION"] | None = None, after: str = "",
                          limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        m = db.measurements.c
        query = select(db.measurements).where(m.account == account)
        if begin is not None:
            query = query.where(m.begin_s >= _time(begin, "begin"))
        if end is not None:
            query = query.where(m.end_s <= _time(end, "end"))
        if type is not None:
            query = query.where(m.type == type)
        position = cursor(after)
        if position is not None:
            query = query.where(tuple_(m.begin_s, m.address) > position)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(m.begin_s, m.address).limit(limit + 1)).mappings().fetchall()
        last = rows[limit - 1] if len(rows) > limit else None
        page = [{**r, "begin": format_time(r["begin_s"]), "end": format_time(r["end_s"])} for r in rows[:limit]]
        return {"measurements": page, "next": None if last is None else f"{last['begin_s']}:{last['address']}"}

    @app.get("/v1/export/{what}.csv", responses={200: {"content": {"text/csv": {}}}, **errors(401, 403, 404)},
             summary="Your GGOs, transfers or retirements as CSV")  # fmt: skip
    def export(
        what: Literal["ggos", "transfers", "retirements"], account: str = Depends(owner("ggo.read"))
    ) -> StreamingResponse:
        return StreamingResponse(_csv(engine, account, what, int(service.clock()), lifetime()), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{what}.csv"'})  # fmt: skip


class CoverageOut(BaseModel):
    period: str
    consumption_wh: int
    matched_wh: int
    unmatched_wh: int
    coverage: float | None = Field(description="matched / consumption; null without consumption")
    technologies: dict[str, int]


class MatchingOut(BaseModel):
    score: float | None = Field(description="Sum of matched / sum of consumption, hour by hour")
    consumption_wh: int
    matched_wh: int
    unmatched_wh: int
    technologies: dict[str, int]
    periods: list[CoverageOut]
    profile: list[CoverageOut] = Field(description="By Danish hour of day, 00 to 23")


class ProductionOut(BaseModel):
    period: str
    produced_wh: int
    issued_wh: int
    received_wh: int
    retired_wh: int
    unused_wh: int
    transferred_wh: int


def _span(begin: str, end: str) -> tuple[int, int]:
    begin_s, end_s = _time(begin, "begin"), _time(end, "end")
    if not begin_s < end_s <= begin_s + SPAN_S_MAX:
        raise Refused(400, "malformed", "end must be after begin, at most 2 years later")
    return begin_s, end_s


def _matching_routes(app: FastAPI, service: "Service", owner: Any) -> None:
    engine = service.engine
    resolution_filter = Literal["hour", "day", "week", "month", "year"]

    @app.get("/v1/matching", response_model=MatchingOut, responses=errors(400, 401, 403),
             summary="Hourly matching of your consumption: per hour, day, week, month or year (Danish calendar)")  # fmt: skip
    def matching_(begin: str, end: str, resolution: resolution_filter = "day", sector: str | None = None,
                  account: str = Depends(owner("reports.read"))) -> dict[str, Any]:  # fmt: skip
        begin_s, end_s = _span(begin, end)
        with engine.connect() as conn:
            return matching.matching(conn, account, begin_s, end_s, resolution, sector).out()

    @app.get("/v1/matching.csv", responses={200: {"content": {"text/csv": {}}}, **errors(400, 401, 403)},
             summary="The same, as CSV")  # fmt: skip
    def matching_csv(begin: str, end: str, resolution: resolution_filter = "day", sector: str | None = None,
                     account: str = Depends(owner("reports.read"))) -> Response:  # fmt: skip
        begin_s, end_s = _span(begin, end)
        with engine.connect() as conn:
            found = matching.matching(conn, account, begin_s, end_s, resolution, sector)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["period", "consumption_wh", "matched_wh", "unmatched_wh", "coverage"])
        for p in found.periods:
            writer.writerow([p["period"], p["consumption_wh"], p["matched_wh"], p["unmatched_wh"],
                             "" if p["coverage"] is None else f"{p['coverage']:.6f}"])  # fmt: skip
        return Response(out.getvalue(), media_type="text/csv")

    @app.get("/v1/production", response_model=list[ProductionOut], responses=errors(400, 401, 403),
             summary="Your production: produced, issued, received, retired, unused and transferred, per bucket")  # fmt: skip
    def production_(begin: str, end: str, resolution: resolution_filter = "day", sector: str | None = None,
                    account: str = Depends(owner("reports.read"))) -> list[dict[str, Any]]:  # fmt: skip
        begin_s, end_s = _span(begin, end)
        with engine.connect() as conn:
            return matching.production(conn, account, begin_s, end_s, resolution, sector)

    @app.get("/v1/report.html", response_class=HTMLResponse, responses=errors(400, 401, 403),
             summary="The printable matching report: headline, charts, coverage, technologies, retired GGOs")  # fmt: skip
    def report_(begin: str, end: str, sector: str | None = None, account: str = Depends(owner("reports.read"))) -> str:
        begin_s, end_s = _span(begin, end)
        with engine.connect() as conn:
            found = matching.matchings(conn, account, begin_s, end_s, ("day", "week", "month", "year"), sector)
            by = {r: m.out() for r, m in found.items()}
            retired = matching.retired_ggos(conn, account, begin_s, end_s, sector)
            name = wallets.get(conn, account).name
        return report.render(name, begin_s, end_s, by, retired, service.config.ledger_url)


class AgreementIn(BaseModel):
    sender: str | None = Field(None, description="The account GGOs come from; left out: yours")
    receiver: ReceiverIn | None = Field(None, description="Where they go; left out: your account")
    begin: str
    end: str | None = Field(None, description="Left out: open-ended")
    sectors: list[str] | None = Field(None, max_length=64)
    technologies: list[str] | None = Field(None, max_length=64, description="EECS codes, e.g. T010000")
    rule: Literal["cap", "percent", "unmatched"] = Field(
        description="cap: rule_value Wh each hour; percent: rule_value % of the sender's production of the hour; "
                    "unmatched: up to the receiver's unmatched consumption")  # fmt: skip
    rule_value: int | None = None
    priority: int = Field(0, description="The sender's order: lower is served first")


class TransferUnder(BaseModel):
    operation: str
    begin_s: int
    sector: str
    amount_wh: int
    status: str


class AgreementOut(BaseModel):
    id: str
    sender: str
    receiver: str | None
    receiver_xpub: str | None
    proposed_by: str
    status: str = Field(description="PROPOSED, ACCEPTED, DECLINED, WITHDRAWN, CANCELLED or EXPIRED")
    begin_s: int
    end_s: int | None
    sectors: list[str] | None
    technologies: list[str] | None
    rule: str
    rule_value: int | None
    priority: int
    created_s: int
    expires_s: int
    decided_s: int | None
    transferred_wh: int = Field(description="Wh transferred under it (committed)")
    transfers: list[TransferUnder] | None = None


class PriorityIn(BaseModel):
    priority: int = Field(ge=-(10**6), le=10**6)


class AutomationIn(BaseModel):
    enabled: bool


class BackInTimeIn(BaseModel):
    begin: str
    end: str


class RunOut(BaseModel):
    id: int
    account: str
    created_s: int
    periods: int
    operation: str | None
    outcome: str


def _agreement_routes(app: FastAPI, service: "Service", owner: Any) -> None:
    documented = errors(400, 401, 403, 404, 409, 422)

    @app.post("/v1/agreements", response_model=AgreementOut, status_code=201, responses=documented,
              summary="Propose a transfer agreement (as its sender or its receiver); one to an external endpoint is in force at once")  # fmt: skip
    def propose(body: AgreementIn, account: str = Depends(owner("agreements.write"))) -> dict[str, Any]:
        receiver = body.receiver.receiver() if body.receiver is not None else account
        begin_s = _time(body.begin, "begin")
        end_s = None if body.end is None else _time(body.end, "end")
        return service.agreements.propose(account, sender=body.sender or account, receiver=receiver, begin_s=begin_s,
                                          end_s=end_s, sectors=body.sectors, technologies=body.technologies,
                                          rule=body.rule, rule_value=body.rule_value, priority=body.priority)  # fmt: skip

    @app.get("/v1/agreements", response_model=list[AgreementOut], responses=errors(401, 403),
             summary="Your agreements, as sender and as receiver, with what was transferred under each")  # fmt: skip
    def agreements(account: str = Depends(owner("ggo.read"))) -> list[dict[str, Any]]:
        return service.agreements.listed(account)

    @app.get("/v1/agreements/{agreement}", response_model=AgreementOut, responses=errors(401, 403, 404),
             summary="One agreement and the transfers made under it")  # fmt: skip
    def agreement_(agreement: str, account: str = Depends(owner("ggo.read"))) -> dict[str, Any]:
        return service.agreements.get(account, agreement)

    @app.post("/v1/agreements/{agreement}/{action}", response_model=AgreementOut, responses=documented,
              summary="accept or decline (the other side), withdraw (the proposer), cancel (either side)")  # fmt: skip
    def decide(agreement: str, action: Literal["accept", "decline", "withdraw", "cancel"],
               account: str = Depends(owner("agreements.write"))) -> dict[str, Any]:  # fmt: skip
        return service.agreements.decide(account, agreement, action)

    @app.put("/v1/agreements/{agreement}/priority", response_model=AgreementOut, responses=documented,
             summary="The sender orders its agreements: lower is served first")  # fmt: skip
    def priority(agreement: str, body: PriorityIn, account: str = Depends(owner("agreements.write"))) -> dict[str, Any]:
        return service.agreements.set_priority(account, agreement, body.priority)

    @app.put("/v1/meters/{gsrn}/retire-priority", status_code=204, responses=errors(400, 401, 403, 404),
             summary="The order in which your consumption meters get GGOs retired against them: lower first")  # fmt: skip
    def retire_priority(gsrn: str, body: PriorityIn, account: str = Depends(owner("ggo.retire"))) -> None:
        service.meters.set_retire_priority(account, gsrn, body.priority)

    @app.put("/v1/automation", status_code=204, responses=errors(400, 401, 403),
             summary="Turn automatic routing on (what you hold is routed at once) or off")  # fmt: skip
    def automation(body: AutomationIn, account: str = Depends(owner("agreements.write"))) -> None:
        service.automation.enable(account, body.enabled)
        service.wake()

    @app.post("/v1/automation/runs", response_model=RunOut, responses=errors(400, 401, 403, 409),
              summary="Route a past period now (back in time)")  # fmt: skip
    def back_in_time(body: BackInTimeIn, account: str = Depends(owner("agreements.write"))) -> dict[str, Any]:
        with service.engine.connect() as conn:
            if not wallets.get(conn, account).automation:
                raise Refused(409, "automation_off", "turn automation on first (PUT /v1/automation)")
        begin_s, end_s = _span(body.begin, body.end)
        service.automation.back_in_time(account, begin_s, end_s)
        return service.automation.run(account)

    @app.get("/v1/automation/runs", response_model=list[RunOut], responses=errors(401, 403),
             summary="The automation's runs, newest first: what each did, or why it could not")  # fmt: skip
    def runs(account: str = Depends(owner("ggo.read"))) -> list[dict[str, Any]]:
        return service.automation.runs(account)


def _csv(engine: Engine, account: str, what: str, now_s: int, lifetime_s: int) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    if what == "retirements":
        r, m = db.retirements.c, db.measurements.c
        header = ["ggo", "measurement", "begin", "end", "sector", "amount_wh", "seq"]
        query = (select(r.ggo, r.measurement, m.begin_s, m.end_s, m.sector, r.amount_wh, r.seq)
                 .join(db.measurements, m.address == r.measurement).where(r.account == account).order_by(r.seq))  # fmt: skip

        def line(row: Any) -> list[Any]:
            return [row.ggo, row.measurement, format_time(row.begin_s), format_time(row.end_s), row.sector,
                    row.amount_wh, row.seq]  # fmt: skip
    else:
        header = ["address", "origin", "begin", "end", "amount_wh", "sector", "tech_type", "fuel_type", "state",
                  "source", "seq", "spent_seq", "next"]  # fmt: skip
        query = select(db.ggos).where(db.ggos.c.account == account).order_by(db.ggos.c.seq, db.ggos.c.address)
        if what == "transfers":
            query = query.where(db.ggos.c.state == "transferred")

        def line(row: Any) -> list[Any]:
            shown = _ggo_out(row._mapping, now_s, lifetime_s)
            return [shown[c] for c in header]

    writer.writerow(header)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            writer.writerow(line(row))
            if out.tell() > 64_000:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def _operation_routes(app: FastAPI, service: "Service", owner: Any) -> None:
    ops = service.operations
    documented = errors(400, 401, 403, 404, 409, 422)

    @app.post("/v1/transfers", response_model=OperationOut, responses=documented,
              summary="Transfer a GGO, whole or a part (a split with the rest back to you), to an account or an endpoint")  # fmt: skip
    def transfer(body: TransferIn, account: str = Depends(owner("ggo.transfer")),
                 idempotency_key: str | None = Header(None)) -> dict[str, Any]:  # fmt: skip
        return ops.transfer(
            account, body.ggo, body.to.receiver(), _amount(body.amount_wh), _idempotency(idempotency_key)
        )

    @app.post("/v1/splits", response_model=OperationOut, responses=documented,
              summary="Split a GGO into parts at fresh addresses of yours")  # fmt: skip
    def split(
        body: SplitIn, account: str = Depends(owner("ggo.transfer")), idempotency_key: str | None = Header(None)
    ) -> dict[str, Any]:
        amounts = [_amount(a) or 0 for a in body.amounts_wh]
        return ops.split(account, body.ggo, amounts, _idempotency(idempotency_key))

    @app.post("/v1/retirements", response_model=OperationOut, responses=documented,
              summary="Retire a GGO (or a part of it) against your consumption of its period and sector")  # fmt: skip
    def retire(
        body: RetireIn, account: str = Depends(owner("ggo.retire")), idempotency_key: str | None = Header(None)
    ) -> dict[str, Any]:
        return ops.retire(account, body.ggo, body.measurement, _amount(body.amount_wh), _idempotency(idempotency_key))

    @app.post("/v1/compose", response_model=OperationOut, responses=documented,
              summary="One GGO into transfers and retirements, the rest back to you, in one batch")  # fmt: skip
    def compose(
        body: ComposeIn,
        account: str = Depends(owner("ggo.transfer", "ggo.retire")),
        idempotency_key: str | None = Header(None),
    ) -> dict[str, Any]:
        legs = [Leg(_amount(t.amount_wh) or 0, to=t.to.receiver()) for t in body.transfers]
        legs += [Leg(_amount(r.amount_wh) or 0, measurement=r.measurement or "") for r in body.retirements]
        return ops.compose(account, body.ggo, legs, _idempotency(idempotency_key))

    @app.post("/v1/bulk/transfers", response_model=OperationOut, responses=documented,
              summary="Transfer N Wh of each period in [begin, end) to a receiver, choosing the GGOs")  # fmt: skip
    def bulk_transfer(body: BulkTransferIn, account: str = Depends(owner("ggo.transfer")),
                      idempotency_key: str | None = Header(None)) -> dict[str, Any]:  # fmt: skip
        return ops.transfer_hourly(account, body.to.receiver(), _amount(body.amount_wh) or 0,
                                   _time(body.begin, "begin"), _time(body.end, "end"), _idempotency(idempotency_key))  # fmt: skip

    @app.post("/v1/bulk/retirements", response_model=OperationOut, responses=documented,
              summary="Retire what you hold against your consumption of [begin, end), choosing the GGOs")  # fmt: skip
    def bulk_retire(body: BulkRetireIn, account: str = Depends(owner("ggo.retire")),
                    idempotency_key: str | None = Header(None)) -> dict[str, Any]:  # fmt: skip
        return ops.retire_period(account, _time(body.begin, "begin"), _time(body.end, "end"),
                                 _idempotency(idempotency_key))  # fmt: skip

    @app.post("/v1/operations/{op}/signatures", response_model=OperationOut, responses=documented,
              summary="Self-custody: your signatures for an UNSIGNED operation's transactions, then it goes to the ledger")  # fmt: skip
    def sign(op: str, body: SignaturesIn, account: str = Depends(owner("ggo.transfer"))) -> dict[str, Any]:
        return ops.sign(account, op, body.signatures)

    @app.get("/v1/operations", response_model=OperationPage, responses=errors(400, 401, 403),
             summary="Your operations not dismissed, with their status and any failure's reason")  # fmt: skip
    def list_operations(account: str = Depends(owner("ggo.read")),
                        status: Literal["UNSIGNED", "PENDING", "COMMITTED", "FAILED"] | None = None,
                        after: str = "", limit: int = Query(PAGE_DEFAULT, ge=1, le=LIST_LIMIT_MAX)) -> dict[str, Any]:  # fmt: skip
        found = ops.listed(account, status, after, limit + 1)
        return {"operations": found[:limit], "next": found[limit - 1]["id"] if len(found) > limit else None}

    @app.get("/v1/operations/{op}", response_model=OperationOut, responses=errors(401, 403, 404),
             summary="One operation: PENDING, COMMITTED, or FAILED with the ledger's code and message")  # fmt: skip
    def one_operation(op: str, account: str = Depends(owner("ggo.read"))) -> dict[str, Any]:
        return ops.get(account, op)

    @app.delete("/v1/operations/{op}", status_code=204, responses=errors(401, 403, 404),
                summary="Dismiss a finished operation from your lists (an UNSIGNED one is cancelled)")  # fmt: skip
    def dismiss(op: str, account: str = Depends(owner("ggo.transfer"))) -> None:
        ops.dismiss(account, op)


def _exchange_routes(app: FastAPI, service: "Service", owner: Any) -> None:
    engine = service.engine

    @app.get("/v1/receive-endpoint", response_model=EndpointOut, responses=errors(401, 403),
             summary="What another service or wallet needs to send you GGOs")  # fmt: skip
    def receive_endpoint(request: Request, account: str = Depends(owner("ggo.read"))) -> dict[str, Any]:
        with engine.connect() as conn:
            xpub = wallets.get(conn, account).receive_xpub
        return {"xpub": xpub, "notify_url": str(request.url_for("notify")), "ledger": service.ledger.config().ledger}

    @app.post("/v1/notify", name="notify", status_code=202, response_model=NotifyOut, responses=errors(400),
              summary="A sender tells of a GGO sent: the inventory follows the ledger now (it would anyway)")  # fmt: skip
    def notify(body: NotifyIn) -> dict[str, Any]:
        if not addresses.is_address(body.ggo):
            raise Refused(400, "malformed", "ggo must be a GGO address")
        service.wake()
        return {"accepted": True}

    @app.post("/v1/webhooks", response_model=WebhookCreated, status_code=201, responses=errors(400, 401, 403),
              summary="Subscribe to your account's events (ggo.received, ggo.issued, operation.completed)")  # fmt: skip
    def subscribe(body: WebhookIn, account: str = Depends(owner("ggo.read"))) -> dict[str, int]:
        try:
            return {"id": service.hooks.subscribe(engine, body.url, body.secret, body.events, account,
                                                  service.config.allow_private)}  # fmt: skip
        except ValueError as exc:
            raise Refused(400, "invalid_webhook", str(exc)) from None

    @app.get("/v1/webhooks", response_model=list[WebhookOut], responses=errors(401, 403), summary="Your subscriptions")
    def subscriptions(account: str = Depends(owner("ggo.read"))) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return service.hooks.listed(conn, account)

    @app.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=errors(401, 403, 404), summary="Unsubscribe")
    def unsubscribe(webhook_id: int, account: str = Depends(owner("ggo.read"))) -> None:
        if not service.hooks.unsubscribe(engine, webhook_id, account):
            raise Refused(404, "not_found", f"you have no webhook {webhook_id}")
