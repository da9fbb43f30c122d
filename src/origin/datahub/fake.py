"""A fake DataHub: Energinet's third-party API (Eloverblik), written from its documentation
(shared/data/README.md and Energinet's OpenAPI document of the API), not from Origin's client,
so that one cannot hide the other's mistakes. Its customers are the owners of the synthetic
meters of `synthetic.fleet`; each granted this third party one authorisation covering their
meters. `origin datahub fake --port P` serves it at http://127.0.0.1:P/thirdpartyapi.

What it does as the live API does:
- every path under `/thirdpartyapi`, matched case-insensitively, a doubled slash tolerated;
- `GET /api/token` turns the refresh token into a JWT data access token with `exp` (24 h);
- rate limits: 2 token calls and 120 calls a minute (429), more than 10 metering points in a
  time-series call (429, error 10004);
- errors of the request as a whole are HTTP 400 with a bare JSON string (`"#30003: ..."`), the
  problems of one metering point are result items with `success: false`;
- `dateTo` is excluded and may be today at most (Danish dates); a day not yet over comes back
  cut short; aggregation Actual, Quarter, Hour, Day, Month and Year;
- a profiled (flex-settled) consumption meter's item carries a second TimeSeries (A64, P1M);
- the authorisation list, metering points (and their ids only) per authorisation id, customer
  key or CVR, and master data (`getdetails`), within each authorisation's access period.
"""

import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from origin.datahub import COPENHAGEN, synthetic
from origin.datahub.synthetic import FakeMeter
from origin.protocol.limits import JSON_BODY_BYTES_MAX
from origin.server import BoundedBody

REFRESH_TOKEN = "fake-refresh-token"  # noqa: S105 (the fake's published token)
PREFIX = "/thirdpartyapi"
ACCESS_TOKEN_TTL_S = 24 * 3600
TOKEN_CALLS_PER_MINUTE = 2
CALLS_PER_MINUTE = 120
METERS_PER_CALL_MAX = 10
RESOLUTION_S = {"PT15M": 900, "PT1H": 3600}
AGGREGATIONS = {"Actual": None, "Quarter": 900, "Hour": 3600, "Day": "day", "Month": "month", "Year": "year"}
POSTCODES = {"DK1": "7000", "DK2": "2300"}  # Fredericia, København S: the sector follows from it
ROUTES = ["/api/token", "/api/isalive", "/api/authorization/authorizations",
          "/api/authorization/authorization/meteringpoints", "/api/authorization/authorization/meteringpointids",
          "/api/meteringpoint/getdetails", "/api/meterdata/gettimeseries"]  # fmt: skip


@dataclass(frozen=True)
class Authorization:
    """A customer's power of attorney to this third party, over some of their meters."""

    id: str
    customer_key: str
    customer_name: str
    customer_cvr: str | None
    valid_from: date
    valid_to: date
    gsrns: tuple[str, ...]

    def dto(self) -> dict[str, Any]:
        return {"id": self.id, "thirdPartyName": "Origin", "validFrom": f"{self.valid_from}T00:00:00",
                "validTo": f"{self.valid_to}T00:00:00", "customerName": self.customer_name,
                "customerCVR": self.customer_cvr, "customerKey": self.customer_key,
                "includeFutureMeteringPoints": False, "timeStamp": f"{self.valid_from}T00:00:00Z"}  # fmt: skip


def authorizations_of(meters: list[FakeMeter], valid_from: date = date(2020, 1, 1),
                      valid_to: date = date(2099, 12, 31)) -> list[Authorization]:  # fmt: skip
    """One authorisation per owner, over all the owner's meters."""
    owners: dict[str, list[str]] = {}
    for m in meters:
        owners.setdefault(m.owner, []).append(m.gsrn)
    return [Authorization(str(uuid.uuid5(uuid.NAMESPACE_URL, f"origin-fake/{owner}")), owner, owner.title(), None,
                          valid_from, valid_to, tuple(gsrns)) for owner, gsrns in owners.items()]  # fmt: skip


def local_midnight_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=COPENHAGEN).timestamp())


def danish_date(seconds: float) -> date:
    return datetime.fromtimestamp(seconds, UTC).astimezone(COPENHAGEN).date()


def _z(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Limiter:
    """Calls in the last minute, per kind."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.calls: dict[str, deque[float]] = {"token": deque(), "all": deque()}

    def allow(self, kind: str, per_minute: int) -> bool:
        now, calls = self.clock(), self.calls[kind]
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= per_minute:
            return False
        calls.append(now)
        return True


def _refusal(code: int, name: str, text: str) -> JSONResponse:
    """An error of the request as a whole: HTTP 400 and a bare JSON string."""
    return JSONResponse(f"#{code}: {name}, {text}", status_code=400)


def _problem(status: int, title: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status}, status_code=status,
                        media_type="application/problem+json")  # fmt: skip


class _State:
    """The fake's customers, meters and tokens."""

    def __init__(self, fleet: list[FakeMeter], grants: list[Authorization], clock: Callable[[], float],
                 token_ttl_s: int):  # fmt: skip
        self.by_gsrn = {m.gsrn: m for m in fleet}
        self.grants, self.clock, self.token_ttl_s = grants, clock, token_ttl_s
        self.secret = secrets.token_bytes(32)
        self.limiter = _Limiter(clock)

    def _sign(self, head: bytes) -> bytes:
        return base64.urlsafe_b64encode(hmac.new(self.secret, head, hashlib.sha256).digest()).rstrip(b"=")

    def access_token(self) -> str:
        def part(obj: dict[str, Any]) -> bytes:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=")

        head = part({"alg": "HS256", "typ": "JWT"}) + b"." + part({"exp": int(self.clock()) + self.token_ttl_s,
                                                                   "jti": secrets.token_hex(8)})  # fmt: skip
        return (head + b"." + self._sign(head)).decode()

    def authorised(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        head, _, sig = token.rpartition(b".")
        try:
            payload = json.loads(base64.urlsafe_b64decode(head.split(b".")[1] + b"=="))
            return hmac.compare_digest(sig, self._sign(head)) and payload["exp"] > self.clock()
        except (ValueError, IndexError, KeyError, TypeError):
            return False

    def today(self) -> date:
        return danish_date(self.clock())

    def granted(self, gsrn: str, day: date) -> bool:
        """Access to a meter's data of a day: an authorisation that covers both."""
        return any(gsrn in a.gsrns and a.valid_from <= day < a.valid_to for a in self.grants)

    def covered(self, scope: str, identifier: str) -> list[tuple[Authorization, FakeMeter]] | None:
        field = {"authorizationid": "id", "customercvr": "customer_cvr", "customerkey": "customer_key"}.get(
            scope.lower()
        )
        if field is None:
            return None
        today = self.today()
        return [(a, self.by_gsrn[g]) for a in self.grants
                if getattr(a, field) == identifier and a.valid_from <= today < a.valid_to for g in a.gsrns]  # fmt: skip


def create_fake_app(meters: list[FakeMeter] | None = None, authorizations: list[Authorization] | None = None,
                    clock: Callable[[], float] = time.time, token_ttl_s: int = ACCESS_TOKEN_TTL_S,
                    rate_limits: bool = True) -> FastAPI:  # fmt: skip
    fleet = meters or synthetic.fleet()
    state = _State(
        fleet, authorizations if authorizations is not None else authorizations_of(fleet), clock, token_ttl_s
    )
    app = FastAPI(title="Fake DataHub (third-party API)", docs_url=f"{PREFIX}/docs",
                  openapi_url=f"{PREFIX}/openapi.json")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)

    @app.middleware("http")
    async def edge(request: Request, call_next: Callable[..., Any]) -> Any:
        path = request.scope["path"].replace("//", "/")
        for route in ROUTES:
            if path.lower().startswith((PREFIX + route).lower()):
                request.scope["path"] = PREFIX + route + path[len(PREFIX + route) :]
        if rate_limits and not state.limiter.allow("all", CALLS_PER_MINUTE):
            return _problem(429, "Too many requests: wait one minute")
        if request.scope["path"].endswith(("/api/token", "/api/isalive")) or state.authorised(request):
            return await call_next(request)
        return _problem(401, "Unauthorized")

    @app.get(f"{PREFIX}/api/isalive")
    def isalive() -> bool:
        return True

    @app.get(f"{PREFIX}/api/token")
    def token(request: Request) -> Any:
        if rate_limits and not state.limiter.allow("token", TOKEN_CALLS_PER_MINUTE):
            return _problem(429, "Too many token requests: wait one minute")
        if request.headers.get("authorization", "") != f"Bearer {REFRESH_TOKEN}":
            return _problem(401, "The refresh token is not valid")
        return {"result": state.access_token()}

    _authorization_routes(app, state)
    _data_routes(app, state)
    return app


def _authorization_routes(app: FastAPI, state: _State) -> None:
    @app.get(f"{PREFIX}/api/authorization/authorizations")
    def list_authorizations() -> Any:
        today = state.today()
        return {"result": [a.dto() for a in state.grants if a.valid_from <= today < a.valid_to]}

    @app.get(f"{PREFIX}/api/authorization/authorization/meteringpoints/{{scope}}/{{identifier}}")
    def metering_points(scope: str, identifier: str) -> Any:
        found = state.covered(scope, identifier)
        if found is None:
            return _refusal(30005, "InvalidRequestParameters", f"unknown scope {scope}")
        return {"result": [_metering_point(a, m) for a, m in found]}

    @app.get(f"{PREFIX}/api/authorization/authorization/meteringpointids/{{scope}}/{{identifier}}")
    def metering_point_ids(scope: str, identifier: str) -> Any:
        found = state.covered(scope, identifier)
        if found is None:
            return _refusal(30005, "InvalidRequestParameters", f"unknown scope {scope}")
        return {"result": [m.gsrn for _, m in found]}


def _data_routes(app: FastAPI, state: _State) -> None:
    @app.post(f"{PREFIX}/api/meteringpoint/getdetails")
    async def details(request: Request) -> Any:
        wanted = await _wanted(request)
        if wanted is None:
            return _refusal(30005, "InvalidRequestParameters", "a body {meteringPoints: {meteringPoint: [...]}}")
        today = state.today()
        return {"result": [_item(g, _details(state.by_gsrn[g])) if g in state.by_gsrn and state.granted(g, today)
                           else _error(g, 20012, "Unauthorized") for g in wanted]}  # fmt: skip

    @app.post(f"{PREFIX}/api/meterdata/gettimeseries/{{date_from}}/{{date_to}}/{{aggregation}}")
    async def timeseries(date_from: str, date_to: str, aggregation: str, request: Request) -> Any:
        wanted = await _wanted(request)
        if wanted is None:
            return _refusal(30005, "InvalidRequestParameters", "a body {meteringPoints: {meteringPoint: [...]}}")
        if len(wanted) > METERS_PER_CALL_MAX:
            return _problem(429, "#10004: at most 10 metering points a call")
        refused = _check_dates(date_from, date_to, aggregation, state.today())
        if refused is not None:
            return refused
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
        days = [first + timedelta(days=i) for i in range((last - first).days)]  # dateTo is not included
        return {"result": [_reading_item(g, state.by_gsrn.get(g), days, aggregation, state.granted, state.clock())
                           for g in wanted]}  # fmt: skip


async def _wanted(request: Request) -> list[str] | None:
    try:
        body = await request.json()
        wanted = body["meteringPoints"]["meteringPoint"]
    except (ValueError, KeyError, TypeError):
        return None
    return wanted if isinstance(wanted, list) and all(isinstance(g, str) for g in wanted) else None


def _check_dates(date_from: str, date_to: str, aggregation: str, today: date) -> JSONResponse | None:
    """The API's refusal of the request's dates or aggregation, if any, in its order."""
    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError:
        return _refusal(30004, "InvalidDateFormat", "dates are YYYY-MM-DD")
    checks = [
        (aggregation not in AGGREGATIONS, 30008, "RequestedAggregationUnavaliable", f"aggregation {aggregation}"),
        (first > today, 30000, "FromDateIsGreaterThanToday", "Period not allowed, FromDate is after today."),
        (first > last, 30001, "FromDateIsGreaterThanToDate", "Period not allowed, FromDate is after ToDate."),
        (first == last, 30002, "ToDateCanNotBeEqualToFromDate", "Period not allowed, ToDate is equal to FromDate."),
        (last > today, 30003, "ToDateIsGreaterThanToday", "Period not allowed, ToDate is after today."),
    ]
    return next((_refusal(code, name, text) for failed, code, name, text in checks if failed), None)


def _metering_point(authorization: Authorization, m: FakeMeter) -> dict[str, Any]:
    return {"meteringPointId": m.gsrn, "typeOfMP": m.type_of_mp, "accessFrom": f"{authorization.valid_from}T00:00:00",
            "accessTo": f"{authorization.valid_to}T00:00:00", "streetCode": "0001", "streetName": "Vindmøllevej",
            "buildingNumber": str(int(m.gsrn[-4:-1])), "floorId": None, "roomId": None,
            "postcode": POSTCODES[m.sector], "cityName": "Fredericia" if m.sector == "DK1" else "København S",
            "citySubDivisionName": None, "municipalityCode": "607", "locationDescription": None,
            "settlementMethod": "D01", "meterReadingOccurrence": m.resolution, "firstConsumerPartyName": m.owner,
            "secondConsumerPartyName": None, "consumerCVR": None, "dataAccessCVR": None, "meterNumber": m.gsrn[-8:],
            "consumerStartDate": "2020-01-01T00:00:00Z", "childMeteringPoints": []}  # fmt: skip


def _details(m: FakeMeter) -> dict[str, Any]:
    return {"meteringPointId": m.gsrn, "parentMeteringPointId": None, "typeOfMP": m.type_of_mp,
            "energyTimeSeriesMeasureUnit": "KWH", "settlementMethod": "D01", "meterReadingOccurrence": m.resolution,
            "physicalStatusOfMP": "E22", "streetName": "Vindmøllevej", "buildingNumber": str(int(m.gsrn[-4:-1])),
            "postcode": POSTCODES[m.sector], "cityName": "Fredericia" if m.sector == "DK1" else "København S",
            "municipalityCode": "607", "assetType": {"solar": "D11", "wind": "D12", "offshore": "D12"}.get(m.kind),
            "mpCapacity": str(synthetic.KINDS[m.kind][3] // 1000), "childMeteringPoints": []}  # fmt: skip


def _item(gsrn: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "errorCode": 10000, "errorText": "NoError", "id": gsrn, "stackTrace": None,
            "result": result}  # fmt: skip


def _error(gsrn: str, code: int, text: str) -> dict[str, Any]:
    return {"success": False, "errorCode": code, "errorText": text, "id": gsrn, "stackTrace": None,
            "MyEnergyData_MarketDocument": None}  # fmt: skip


def _reading_item(gsrn: str, meter: FakeMeter | None, days: list[date], aggregation: str,
                  granted: Callable[[str, date], bool], now_s: float) -> dict[str, Any]:  # fmt: skip
    if len(gsrn) != 18:
        return _error(gsrn, 20003, "MeteringPointIdNot18CharsLong")
    if meter is None or not any(granted(gsrn, d) for d in days):
        return _error(gsrn, 20012, "Unauthorized")
    if aggregation == "Quarter" and meter.resolution != "PT15M":
        return _error(gsrn, 30008, "RequestedAggregationUnavaliable")
    points = [(b, e, q, wh) for d in days if granted(gsrn, d) for b, e, q, wh in _day_points(meter, d, now_s)]
    series = [
        _time_series(meter, _aggregate(points, meter, aggregation), "A01" if meter.type_of_mp == "E18" else "A04")
    ]
    if meter.profiled:
        series.append(_time_series(meter, _aggregate(points, meter, "Month"), "A64"))
    return {"success": True, "errorCode": 10000, "errorText": "NoError", "id": gsrn, "stackTrace": None,
            "MyEnergyData_MarketDocument": {
                "mRID": secrets.token_hex(8), "createdDateTime": _z(int(now_s)),
                "sender_MarketParticipant.name": "", "sender_MarketParticipant.mRID": {"codingScheme": None, "name": None},
                "period.timeInterval": {"start": _z(local_midnight_s(days[0])),
                                        "end": _z(local_midnight_s(days[-1] + timedelta(days=1)))},
                "TimeSeries": series}}  # fmt: skip


def _day_points(meter: FakeMeter, day: date, now_s: float) -> list[tuple[int, int, str, int | None]]:
    """(begin, end, quality, Wh or None) of a Danish day, up to the last period that has ended."""
    step = RESOLUTION_S[meter.resolution]
    start, end = local_midnight_s(day), local_midnight_s(day + timedelta(days=1))
    points = []
    for begin in range(start, min(end, int(now_s) - int(now_s) % step), step):
        quality = synthetic.quality(meter, begin)
        wh = None if quality == "A02" else (synthetic.hourly_wh(meter, begin) if step == 3600
                                            else synthetic.quarter_wh(meter, begin))  # fmt: skip
        points.append((begin, begin + step, quality, wh))
    return points


def _bucket(begin: int, unit: int | str) -> tuple[int, int]:
    """The period of an aggregation unit (seconds, or a Danish day, month or year) holding `begin`."""
    if isinstance(unit, int):
        return begin - begin % unit, begin - begin % unit + unit
    return _local_bucket(begin - begin % 3600, unit)


@functools.lru_cache(maxsize=1024)
def _local_bucket(hour_s: int, unit: str) -> tuple[int, int]:
    """The Danish day, month or year holding the hour that starts at hour_s (Danish time is a
    whole number of hours from UTC: every hour of a bucket is in it whole)."""
    day = danish_date(hour_s)
    first = {"day": day, "month": day.replace(day=1), "year": day.replace(month=1, day=1)}[unit]
    after = {"day": first + timedelta(days=1), "month": (first + timedelta(days=32)).replace(day=1),
             "year": first.replace(year=first.year + 1)}[unit]  # fmt: skip
    return local_midnight_s(first), local_midnight_s(after)


def _aggregate(points: list[tuple[int, int, str, int | None]], meter: FakeMeter,
               aggregation: str) -> list[tuple[int, int, str, int | None, str]]:  # fmt: skip
    """Points summed to the aggregation's periods, with the resolution each period is."""
    unit = AGGREGATIONS[aggregation] or RESOLUTION_S[meter.resolution]
    names = {900: "PT15M", 3600: "PT1H", "day": "PT1D", "month": "P1M", "year": "P1Y"}
    sums: dict[tuple[int, int], list[Any]] = {}
    for begin, _, quality, wh in points:
        bucket = sums.setdefault(_bucket(begin, unit), [0, "A04"])
        bucket[0] = None if wh is None or bucket[0] is None else bucket[0] + wh
        bucket[1] = quality if quality != "A04" else bucket[1]
    return [(b, e, q, wh, names[unit]) for (b, e), (wh, q) in sums.items()]


def _time_series(
    meter: FakeMeter, points: list[tuple[int, int, str, int | None, str]], business: str
) -> dict[str, Any]:
    """One TimeSeries: a Period for each Danish day (or month, year) of points."""
    periods: dict[tuple[int, int, str], list[dict[str, str]]] = {}
    for begin, _, quality, wh, resolution in points:
        unit = "day" if resolution in ("PT15M", "PT1H") else {"PT1D": "month", "P1M": "year", "P1Y": "year"}[resolution]
        start, end = _bucket(begin, unit)
        period = periods.setdefault((start, end, resolution), [])
        point = {"position": str(len(period) + 1), "out_Quantity.quality": quality}
        if wh is not None:
            point["out_Quantity.quantity"] = str(Decimal(wh) / 1000)
        period.append(point)
    return {"mRID": meter.gsrn, "businessType": business, "curveType": "A01", "measurement_Unit.name": "KWH",
            "MarketEvaluationPoint": {"mRID": {"codingScheme": "A10", "name": meter.gsrn}},
            "Period": [{"resolution": r, "timeInterval": {"start": _z(s), "end": _z(e)}, "Point": p}
                       for (s, e, r), p in periods.items()]}  # fmt: skip
