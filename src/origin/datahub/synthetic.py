"""Synthetic metering points with realistic profiles, shaped like Energinet's open data:
solar's daily and seasonal curve, wind's multi-day swings and gusts (offshore steadier and
stronger), households' morning and evening peaks and weekends, a factory's working days.
Values are a deterministic function of the meter and the hour, so a fake DataHub answers the
same question the same way every time."""

import functools
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from origin.datahub import COPENHAGEN
from origin.datahub import gsrn as gsrn_

HOUR_S = 3600

# kind -> (DataHub type of metering point, EECS technology, EECS fuel, Wh in a peak hour)
KINDS = {
    "solar": ("E18", "T010000", "F01040100", 400_000),
    "wind": ("E18", "T020000", "F01050100", 2_000_000),
    "offshore": ("E18", "T020002", "F01050100", 8_000_000),
    "household": ("E17", None, None, 1_200),
    "factory": ("E17", None, None, 900_000),
}


@dataclass(frozen=True)
class FakeMeter:
    gsrn: str
    kind: str
    sector: str
    resolution: str  # PT1H or PT15M
    owner: str  # the customer key the fake authorises it under
    profiled: bool = False  # flex-settled from a profile: the DataHub adds a monthly A64 series

    @property
    def type_of_mp(self) -> str:
        return KINDS[self.kind][0]


def _noise(*parts) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@functools.lru_cache(maxsize=1024)  # a quarter-hourly meter's four quarters share their hour's
def hourly_wh(meter: FakeMeter, begin_s: int) -> int:
    _, _, _, peak = KINDS[meter.kind]
    local = datetime.fromtimestamp(begin_s, UTC).astimezone(COPENHAGEN)
    hour, day, weekday = local.hour + 0.5, begin_s // 86400, local.weekday()
    n = _noise(meter.gsrn, begin_s // HOUR_S)
    if meter.kind == "solar":
        season = 0.25 + 0.75 * max(0.0, math.sin(math.pi * (local.timetuple().tm_yday - 80) / 365 + math.pi / 6))
        sun = math.sin(math.pi * (hour - 5) / 15) if 5 <= hour <= 20 else 0.0
        clouds = 0.45 + 0.55 * _noise(meter.gsrn, "clouds", day)
        return int(peak * season * max(0.0, sun) * clouds * (0.9 + 0.1 * n))
    if meter.kind in ("wind", "offshore"):
        phase = 2 * math.pi * _noise(meter.gsrn, "phase")
        weather = 0.5 + 0.4 * math.sin(2 * math.pi * begin_s / (5.3 * 86400) + phase)
        weather += 0.15 * math.sin(2 * math.pi * begin_s / (1.7 * 86400) + 2 * phase)
        steadiness = 0.1 if meter.kind == "offshore" else 0.3
        return int(peak * max(0.0, min(1.0, weather + steadiness * (n - 0.5))))
    if meter.kind == "household":
        shape = 0.35 + 0.35 * math.exp(-((hour - 7.5) ** 2) / 3) + 0.8 * math.exp(-((hour - 18.5) ** 2) / 5)
        return int(peak * shape * (1.15 if weekday >= 5 else 1.0) * (0.8 + 0.4 * n))
    working = weekday < 5 and 6 <= hour <= 22
    return int(peak * (0.85 if working else 0.2) * (0.9 + 0.2 * n))


def quality(meter: FakeMeter, begin_s: int) -> str:
    """Mostly measured; now and then estimated (A03) or missing (A02)."""
    n = _noise(meter.gsrn, "quality", begin_s)
    return "A02" if n < 0.004 else "A03" if n < 0.012 else "A04"


def quarter_wh(meter: FakeMeter, begin_s: int) -> int:
    """A quarter of the hour's energy, rounded to the nearest Wh, shaded within the hour."""
    hour_start = begin_s - begin_s % HOUR_S
    return round(hourly_wh(meter, hour_start) * _quarter_shares(meter.gsrn, hour_start)[(begin_s - hour_start) // 900])


@functools.lru_cache(maxsize=1024)
def _quarter_shares(gsrn: str, hour_start: int) -> tuple[float, ...]:
    """The shares of an hour's four quarters."""
    weights = [1.0 + 0.1 * (_noise(gsrn, "q", hour_start, q) - 0.5) for q in range(4)]
    total = sum(weights)
    return tuple(w / total for w in weights)


def fleet(count: int = 12, sector: str = "DK1", resolution: str | None = None) -> list[FakeMeter]:
    """A neighbourhood: solar, onshore and offshore wind, households and a factory; offshore wind
    and the factory read every 15 minutes, the rest every hour, unless `resolution` says."""
    kinds = ["solar", "wind", "household", "household", "solar", "offshore", "household", "factory"]
    meters = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        reads = resolution or ("PT15M" if kind in ("offshore", "factory") else "PT1H")
        meters.append(FakeMeter(gsrn_.make(f"5713130000{i:07d}"), kind, sector, reads, f"customer-{i % 4}",
                                profiled=i == 3))  # fmt: skip
    return meters
