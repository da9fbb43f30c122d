"""A fake DataHub speaking the third-party API's format (shared/data/README.md), with the
synthetic meters of `synthetic.fleet`, so the platform runs end to end with no internet:
`origin datahub fake --port P`."""

import secrets
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from origin.datahub import COPENHAGEN, synthetic
from origin.datahub.synthetic import FakeMeter
from origin.protocol.limits import JSON_BODY_BYTES_MAX
from origin.server import BoundedBody

REFRESH_TOKEN = "fake-refresh-token"  # noqa: S105 (the fake's published token)
ACCESS_TOKEN_TTL_S = 24 * 3600
RESOLUTION_S = {"PT1H": 3600, "PT15M": 900}
# The real service matches its paths case-insensitively.
PREFIXES = ["/api/token", "/api/isalive", "/api/authorization/authorization/meteringpoints",
            "/api/meterdata/gettimeseries"]  # fmt: skip


def local_midnight_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=COPENHAGEN).timestamp())


def day_period(meter: FakeMeter, day: date) -> dict:
    """One Period: a Danish calendar day of points (23, 24 or 25 hours)."""
    start, end = local_midnight_s(day), local_midnight_s(day + timedelta(days=1))
    step = RESOLUTION_S[meter.resolution]
    points = []
    for position, begin in enumerate(range(start, end, step), start=1):
        quality = synthetic.quality(meter, begin)
        point = {"position": str(position), "out_Quantity.quality": quality}
        if quality != "A02":
            wh = synthetic.hourly_wh(meter, begin) if step == 3600 else synthetic.quarter_wh(meter, begin)
            point["out_Quantity.quantity"] = str(Decimal(wh) / 1000)
        points.append(point)
    return {"resolution": meter.resolution, "timeInterval": {"start": _z(start), "end": _z(end)}, "Point": points}


def _z(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_fake_app(meters: list[FakeMeter] | None = None, clock=time.time, token_ttl_s=ACCESS_TOKEN_TTL_S) -> FastAPI:
    by_gsrn = {m.gsrn: m for m in (meters or synthetic.fleet())}
    tokens: dict[str, float] = {}  # access token -> expiry
    app = FastAPI(title="Fake DataHub (third-party API)")
    app.add_middleware(BoundedBody, bytes_max=JSON_BODY_BYTES_MAX)

    @app.middleware("http")
    async def case_insensitive(request: Request, call_next):
        path = request.scope["path"]
        for prefix in PREFIXES:
            if path.lower().startswith(prefix.lower()):
                request.scope["path"] = prefix + path[len(prefix) :]
        return await call_next(request)

    def bearer(request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def authorised(request: Request) -> bool:
        return tokens.get(bearer(request), 0) > clock()

    @app.get("/api/isalive")
    def isalive():
        return True

    @app.get("/api/token")
    def token(request: Request):
        if bearer(request) != REFRESH_TOKEN:
            return JSONResponse({"error": "unknown refresh token"}, 401)
        access = secrets.token_urlsafe(24)
        tokens[access] = clock() + token_ttl_s
        return {"result": access}

    @app.get("/api/authorization/authorization/meteringpoints/{scope}/{identifier}")
    def metering_points(scope: str, identifier: str, request: Request):
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, 401)
        if scope.lower() not in ("authorizationid", "customercvr", "customerkey"):
            return JSONResponse({"error": f"unknown scope {scope}"}, 400)
        found = [m for m in by_gsrn.values() if scope.lower() != "customerkey" or m.owner == identifier]
        return {"result": [{
            "meteringPointId": m.gsrn, "typeOfMP": m.type_of_mp, "streetName": "Vindmøllevej",
            "buildingNumber": str(int(m.gsrn[-4:-1])), "postcode": "7000", "cityName": "Fredericia",
            "municipalityCode": "607", "accessFrom": "2020-01-01T00:00:00", "accessTo": "2099-12-31T00:00:00",
            "meterReadingOccurrence": m.resolution, "childMeteringPoints": []} for m in found]}  # fmt: skip

    @app.post("/api/meterdata/gettimeseries/{date_from}/{date_to}/{aggregation}")
    async def timeseries(date_from: str, date_to: str, aggregation: str, request: Request):
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, 401)
        body = await request.json()
        wanted = body["meteringPoints"]["meteringPoint"]
        try:
            first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
        except ValueError:
            return {"result": [_error(g, 30004, "InvalidDateFormat") for g in wanted]}
        if first > last:
            return {"result": [_error(g, 30001, "FromDateIsGreaterThanToDate") for g in wanted]}
        if first == last:
            return {"result": [_error(g, 30002, "ToDateCanNotBeEqualToFromDate") for g in wanted]}
        days = [first + timedelta(days=i) for i in range((last - first).days)]  # dateTo is not included
        result = []
        for gsrn in wanted:
            meter = by_gsrn.get(gsrn)
            if len(gsrn) != 18:
                result.append(_error(gsrn, 20003, "MeteringPointIdNot18CharsLong"))
            elif meter is None:
                result.append(_error(gsrn, 30005, "InvalidRequestParameters"))
            else:
                result.append(_series(meter, days))
        return {"result": result}

    return app


def _error(gsrn: str, code: int, text: str) -> dict:
    return {"success": False, "errorCode": code, "errorText": text, "id": gsrn, "stackTrace": None,
            "MyEnergyData_MarketDocument": None}  # fmt: skip


def _series(meter: FakeMeter, days: list[date]) -> dict:
    periods = [day_period(meter, d) for d in days]
    business = "A01" if meter.type_of_mp == "E18" else "A04"
    return {
        "success": True, "errorCode": 10000, "errorText": "NoError", "id": meter.gsrn, "stackTrace": None,
        "MyEnergyData_MarketDocument": {
            "mRID": secrets.token_hex(8), "createdDateTime": _z(int(time.time())),
            "sender_MarketParticipant.name": "", "sender_MarketParticipant.mRID": {"codingScheme": None, "name": None},
            "period.timeInterval": {"start": periods[0]["timeInterval"]["start"] if periods else None,
                                    "end": periods[-1]["timeInterval"]["end"] if periods else None},
            "TimeSeries": [{
                "mRID": meter.gsrn, "businessType": business, "curveType": "A01", "measurement_Unit.name": "KWH",
                "MarketEvaluationPoint": {"mRID": {"codingScheme": "A10", "name": meter.gsrn}},
                "Period": periods}]}}  # fmt: skip
