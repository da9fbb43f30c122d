"""Hourly matching: how much of an account's consumption was matched, hour by hour, by GGOs of
the same hour and price area retired against it.

For each UTC hour h and sector: consumption C(h), retired R(h) (at most C(h): the ledger's
rules never let a settlement pass its measurement), matched M(h) = min(C(h), R(h)), unmatched
C(h) - M(h). A 15-minute measurement counts in its hour; production in one hour or sector never
counts for another, because a GGO retires only to consumption of its own period and sector.
The score of any span is sum M / sum C.

The database sums each hour and sector (SQL over every matching row); the hours, at most 8,784
a year, are then folded into Europe/Copenhagen calendar buckets: hours, days (of 23, 24 or 25
hours), ISO weeks, months and years, and the average profile by local hour of day.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from origin.accounts import db
from origin.protocol.transactions import CONSUMPTION, PRODUCTION
from origin.webapi import COPENHAGEN, local_period

HOUR_S = 3600


@dataclass
class Hour:
    hour_s: int
    sector: str
    consumption_wh: int
    retired_wh: int

    @property
    def matched_wh(self) -> int:
        return min(self.consumption_wh, self.retired_wh)


@dataclass
class Bucket:
    period: str
    consumption_wh: int = 0
    matched_wh: int = 0
    technologies: dict[str, int] = field(default_factory=dict)

    def out(self) -> dict[str, Any]:
        return {"period": self.period, "consumption_wh": self.consumption_wh, "matched_wh": self.matched_wh,
                "unmatched_wh": self.consumption_wh - self.matched_wh,
                "coverage": None if not self.consumption_wh else self.matched_wh / self.consumption_wh,
                "technologies": dict(sorted(self.technologies.items()))}  # fmt: skip


def _hour(column: Any) -> Any:
    return (column - column % HOUR_S).label("hour")


def _span(query: Any, table: Any, account: str, begin_s: int, end_s: int, sector: str | None) -> Any:
    query = query.where(table.c.account == account, table.c.begin_s >= begin_s, table.c.end_s <= end_s)
    return query if sector is None else query.where(table.c.sector == sector)


def hours(conn: Connection, account: str, begin_s: int, end_s: int, sector: str | None = None) -> list[Hour]:
    """C(h) and R(h) of every hour and sector with consumption, summed in SQL."""
    m = db.measurements
    hour = _hour(m.c.begin_s)
    query = select(hour, m.c.sector, func.sum(m.c.amount_wh), func.sum(m.c.retired_wh)).where(m.c.type == CONSUMPTION)
    query = _span(query, m, account, begin_s, end_s, sector).group_by(hour, m.c.sector).order_by(hour, m.c.sector)
    return [Hour(int(h), s, int(c), int(r)) for h, s, c, r in conn.execute(query)]


def retired_by_technology(conn: Connection, account: str, begin_s: int, end_s: int,
                          sector: str | None = None) -> dict[tuple[int, str], dict[str, int]]:  # fmt: skip
    """(hour, sector) -> {technology: Wh retired against the account's consumption}."""
    r, m, g = db.retirements, db.measurements, db.ggos
    hour = _hour(m.c.begin_s)
    tech = func.coalesce(g.c.tech_type, "unknown").label("tech")
    query = (select(hour, m.c.sector, tech, func.sum(r.c.amount_wh))
             .join(m, m.c.address == r.c.measurement).outerjoin(g, g.c.address == r.c.ggo))  # fmt: skip
    query = _span(query, m, account, begin_s, end_s, sector).group_by(hour, m.c.sector, tech)
    found: dict[tuple[int, str], dict[str, int]] = {}
    for h, s, t, wh in conn.execute(query):
        found.setdefault((int(h), s), {})[t] = int(wh)
    return found


@dataclass
class Matching:
    consumption_wh: int
    matched_wh: int
    periods: list[dict[str, Any]]
    profile: list[dict[str, Any]]
    technologies: dict[str, int]

    def out(self) -> dict[str, Any]:
        return {"score": None if not self.consumption_wh else self.matched_wh / self.consumption_wh,
                "consumption_wh": self.consumption_wh, "matched_wh": self.matched_wh,
                "unmatched_wh": self.consumption_wh - self.matched_wh, "technologies": self.technologies,
                "periods": self.periods, "profile": self.profile}  # fmt: skip


def matching(conn: Connection, account: str, begin_s: int, end_s: int, resolution: str,
             sector: str | None = None) -> Matching:  # fmt: skip
    """The account's matching over [begin, end), in buckets of `resolution`."""
    return matchings(conn, account, begin_s, end_s, (resolution,), sector)[resolution]


def matchings(conn: Connection, account: str, begin_s: int, end_s: int, resolutions: tuple[str, ...],
              sector: str | None = None) -> dict[str, Matching]:  # fmt: skip
    """The matching in buckets of each resolution: the database sums the hours once."""
    found = hours(conn, account, begin_s, end_s, sector)
    by_tech = retired_by_technology(conn, account, begin_s, end_s, sector)
    buckets: dict[str, dict[str, Bucket]] = {r: {} for r in resolutions}
    profile = [Bucket(f"{h:02d}") for h in range(24)]
    total = Bucket("all")
    for h in found:
        local = datetime.fromtimestamp(h.hour_s, UTC).astimezone(COPENHAGEN)
        techs = by_tech.get((h.hour_s, h.sector), {})
        matched_share = h.matched_wh / h.retired_wh if h.retired_wh else 0.0
        keys = [local_period(local, r) for r in resolutions]
        chosen = [buckets[r].setdefault(k, Bucket(k)) for r, k in zip(resolutions, keys, strict=True)]
        for bucket in (*chosen, profile[local.hour], total):
            bucket.consumption_wh += h.consumption_wh
            bucket.matched_wh += h.matched_wh
            for t, wh in techs.items():
                bucket.technologies[t] = bucket.technologies.get(t, 0) + round(wh * matched_share)
    shown_profile, techs_total = [b.out() for b in profile], dict(sorted(total.technologies.items()))
    return {r: Matching(total.consumption_wh, total.matched_wh, [b.out() for b in buckets[r].values()],
                        shown_profile, techs_total) for r in resolutions}  # fmt: skip


def production(conn: Connection, account: str, begin_s: int, end_s: int, resolution: str,
               sector: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """A producer's view per bucket: produced (its production measurements), issued to it,
    received, retired by it, unused (still held), and transferred away. Every GGO the account
    held is a root (issued or received), an inner node (spent onwards inside the account) or a
    leaf (available or retired), so what left the account is issued + received - retired - unused."""
    m, g = db.measurements, db.ggos
    hour_m = _hour(m.c.begin_s)
    query = _span(select(hour_m, func.sum(m.c.amount_wh)).where(m.c.type == PRODUCTION), m, account, begin_s, end_s,
                  sector).group_by(hour_m)  # fmt: skip
    produced = {int(h): int(wh) for h, wh in conn.execute(query)}
    hour_g = _hour(g.c.begin_s)

    def total(condition: Any) -> Any:
        return func.sum(case((condition, g.c.amount_wh), else_=0))

    query = _span(select(hour_g, total(g.c.source == "issued"), total(g.c.source == "received"),
                         total(g.c.state == "retired"), total(g.c.state == "available")), g, account, begin_s, end_s,
                  sector).group_by(hour_g)  # fmt: skip
    buckets: dict[str, dict[str, Any]] = {}
    rows = {int(h): (int(i), int(rc), int(rt), int(u)) for h, i, rc, rt, u in conn.execute(query)}
    for h in sorted(set(produced) | set(rows)):
        issued, received, retired, unused = rows.get(h, (0, 0, 0, 0))
        key = local_period(datetime.fromtimestamp(h, UTC).astimezone(COPENHAGEN), resolution)
        b = buckets.setdefault(key, {"period": key, "produced_wh": 0, "issued_wh": 0, "received_wh": 0,
                                     "retired_wh": 0, "unused_wh": 0, "transferred_wh": 0})  # fmt: skip
        b["produced_wh"] += produced.get(h, 0)
        b["issued_wh"] += issued
        b["received_wh"] += received
        b["retired_wh"] += retired
        b["unused_wh"] += unused
        b["transferred_wh"] += issued + received - retired - unused
    return list(buckets.values())


def retired_ggos(conn: Connection, account: str, begin_s: int, end_s: int, sector: str | None = None,
                 limit: int = 10_000) -> list[dict[str, Any]]:  # fmt: skip
    """The GGOs retired against the account's consumption, oldest first."""
    r, m, g = db.retirements, db.measurements, db.ggos
    query = (select(r.c.ggo, r.c.amount_wh, m.c.begin_s, m.c.sector, g.c.tech_type, g.c.fuel_type, r.c.seq)
             .join(m, m.c.address == r.c.measurement).outerjoin(g, g.c.address == r.c.ggo))  # fmt: skip
    query = _span(query, m, account, begin_s, end_s, sector).order_by(m.c.begin_s, r.c.ggo).limit(limit)
    return [{"ggo": a, "amount_wh": wh, "begin_s": b, "sector": s, "tech_type": t, "fuel_type": f, "seq": q}
            for a, wh, b, s, t, f, q in conn.execute(query)]  # fmt: skip
