"""The DataHub third-party API's time series (`POST /api/meterdata/gettimeseries/...`), parsed
into readings: one per point, in whole watt-hours, exactly (Decimal, never float).

One `Period` per Danish calendar day, starting at local midnight (23:00Z in winter, 22:00Z in
summer), so a day has 24 hourly points, 23 on the last Sunday of March and 25 on the last Sunday
of October (4 times as many at PT15M). A point's begin is its period's start plus
(position - 1) x resolution. Quality: A04 measured and A01 adjusted are certified; A03
estimated, A05 incomplete and A02 not available (no quantity) are gaps. A result item can fail
for one GSRN while the others succeed.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from origin.protocol.errors import ProtocolError
from origin.protocol.times import parse_time

RESOLUTIONS_S = {"PT15M": 900, "PT1H": 3600}
CERTIFIED = frozenset({"A04", "A01"})
QUALITIES = frozenset({"A01", "A02", "A03", "A04", "A05"})
WH_PER_KWH = Decimal(1000)
_KWH = re.compile(r"[0-9]{1,12}(\.[0-9]{1,3})?")  # ASCII digits, no sign or exponent: whole Wh


class FormatError(ValueError):
    """The response is not in the DataHub's format; the message says where."""


@dataclass(frozen=True)
class Reading:
    gsrn: str
    begin_s: int
    end_s: int
    amount_wh: int | None  # None when the point carries no quantity (A02)
    quality: str

    @property
    def certified(self) -> bool:
        return self.quality in CERTIFIED and self.amount_wh is not None


@dataclass(frozen=True)
class ItemError:
    gsrn: str
    code: int
    text: str


def kwh_to_wh(text: str) -> int:
    """'0.123' kWh -> 123 Wh, exactly; FormatError for anything but a plain decimal of whole Wh."""
    if not isinstance(text, str) or not _KWH.fullmatch(text):
        raise FormatError(f"quantity {text!r} is not a kWh decimal with at most 3 decimals")
    return int(Decimal(text) * WH_PER_KWH)


def _time(text, where: str) -> int:
    try:
        return parse_time(text)
    except ProtocolError:
        raise FormatError(f"{where}: {text!r} is not a UTC time") from None


PROFILED = "A64"  # a profiled meter's monthly consumption statement: not metered energy


def parse(response: dict) -> tuple[list[Reading], list[ItemError]]:
    """Readings of every successful item, and the errors of the others: a failed item, or one
    that cannot be read, is that meter's error, never the whole answer's. A profiled meter's
    statement series (A64) is left out."""
    try:
        items = response["result"]
    except (KeyError, TypeError):
        raise FormatError("no result list") from None
    if not isinstance(items, list):
        raise FormatError("the result is not a list")
    readings, errors = [], []
    for item in items:
        gsrn = str(item.get("id", "?")) if isinstance(item, dict) else "?"
        if not isinstance(item, dict) or not item.get("success"):
            code = item.get("errorCode", 0) if isinstance(item, dict) else 0
            errors.append(ItemError(gsrn, code, str(item.get("errorText", "")) if isinstance(item, dict) else ""))
            continue
        try:
            series = item["MyEnergyData_MarketDocument"]["TimeSeries"]
            found = [r for ts in series if ts.get("businessType") != PROFILED for r in _series(ts)]
        except (KeyError, TypeError, AttributeError):
            errors.append(ItemError(gsrn, 0, "unreadable: no TimeSeries"))
        except FormatError as exc:
            errors.append(ItemError(gsrn, 0, f"unreadable: {exc}"))
        else:
            readings.extend(found)
    return readings, errors


def _series(ts: dict) -> list[Reading]:
    gsrn = str(ts.get("mRID"))
    if ts.get("measurement_Unit.name") != "KWH":
        raise FormatError(f"{gsrn}: unit {ts.get('measurement_Unit.name')!r}, not KWH")
    readings = []
    for period in ts.get("Period", []):
        resolution = RESOLUTIONS_S.get(period.get("resolution"))
        if resolution is None:
            raise FormatError(f"{gsrn}: resolution {period.get('resolution')!r} is not PT15M or PT1H")
        start = _time(period["timeInterval"]["start"], f"{gsrn} period start")
        end = _time(period["timeInterval"]["end"], f"{gsrn} period end")
        if end <= start or (end - start) % resolution:
            raise FormatError(f"{gsrn}: period {start} to {end} is not whole {period['resolution']} steps")
        positions = set()
        for point in period.get("Point", []):
            try:
                position = int(point["position"])
            except (KeyError, ValueError):
                raise FormatError(f"{gsrn}: a point without a position") from None
            begin = start + (position - 1) * resolution
            if position < 1 or begin + resolution > end or position in positions:
                raise FormatError(f"{gsrn}: position {position} is outside its period or repeated")
            positions.add(position)
            quality = point.get("out_Quantity.quality")
            if quality not in QUALITIES:
                raise FormatError(f"{gsrn}: quality {quality!r} at position {position}")
            quantity = point.get("out_Quantity.quantity")
            amount = None if quantity is None or quality == "A02" else kwh_to_wh(quantity)
            readings.append(Reading(gsrn, begin, begin + resolution, amount, quality))
    return readings
