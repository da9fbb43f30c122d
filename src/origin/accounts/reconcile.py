"""`origin accounts reconcile`: the inventory compared with the ledger's state, record by record.
Every GGO the inventory holds must be on the ledger with the same amount, period, sector,
technology, fuel and `next`; every measurement with its amount, and the consumption's retired
Wh equal to its settlement's parts. Each difference is one line."""

import concurrent.futures
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from origin.accounts import db
from origin.accounts.ledger import LedgerClient
from origin.protocol import addresses
from origin.protocol.canonical import parse
from origin.protocol.times import format_time

WORKERS = 8
CHUNK = 2000


@dataclass
class Report:
    size: int = 0
    checked: int = 0
    differences: list[str] = field(default_factory=list)


def _ggo(row: Any, record: dict[str, Any] | None) -> list[str]:
    where = f"GGO {row['address']}"
    if record is None:
        return [f"{where}: in the inventory, not on the ledger"]
    expected = {"origin": row["origin"], "begin": format_time(row["begin_s"]), "end": format_time(row["end_s"]),
                "amount": row["amount_wh"], "sector": row["sector"], "tech_type": row["tech_type"],
                "fuel_type": row["fuel_type"], "next": None if row["next"] is None else parse(row["next"])}  # fmt: skip
    return [f"{where}: {k} is {expected[k]!r} in the inventory, {record.get(k)!r} on the ledger"
            for k in expected if record.get(k) != expected[k]]  # fmt: skip


def _measurement(row: Any, record: dict[str, Any] | None, settlement: dict[str, Any] | None) -> list[str]:
    where = f"measurement {row['address']}"
    if record is None:
        return [f"{where}: in the inventory, not on the ledger"]
    found = []
    for k, v in (("amount", row["amount_wh"]), ("type", row["type"]), ("sector", row["sector"]),
                 ("begin", format_time(row["begin_s"])), ("end", format_time(row["end_s"]))):  # fmt: skip
        if record.get(k) != v:
            found.append(f"{where}: {k} is {v!r} in the inventory, {record.get(k)!r} on the ledger")
    retired = sum(p["amount"] for p in (settlement or {}).get("parts", []))
    if retired != row["retired_wh"]:
        found.append(f"{where}: {row['retired_wh']} Wh retired in the inventory, {retired} in its settlement")
    return found


def _pages(engine: Engine, table: Any) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in pages of CHUNK, by address (memory stays flat however many)."""
    after = ""
    while True:
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(table).where(table.c.address > after)
                                                  .order_by(table.c.address).limit(CHUNK)).mappings()]  # fmt: skip
        if not rows:
            return
        yield rows
        after = rows[-1]["address"]


def reconcile(engine: Engine, ledger: LedgerClient,
              progress: Callable[[int, int], None] = lambda done, total: None) -> Report:  # fmt: skip
    report = Report(size=ledger.checkpoint().size)
    with engine.connect() as conn:
        total = sum(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (db.ggos, db.measurements))

    def check_ggo(row: dict[str, Any]) -> list[str]:
        return _ggo(row, ledger.state(row["address"]))

    def check_measurement(row: dict[str, Any]) -> list[str]:
        settlement = None
        if row["type"] == "CONSUMPTION":
            settlement = ledger.state(addresses.in_namespace(addresses.SETTLEMENT, row["address"]))
        return _measurement(row, ledger.state(row["address"]), settlement)

    with concurrent.futures.ThreadPoolExecutor(WORKERS, "reconcile") as pool:
        for table, check in ((db.ggos, check_ggo), (db.measurements, check_measurement)):
            for rows in _pages(engine, table):
                for lines in pool.map(check, rows):
                    report.differences += lines
                report.checked += len(rows)
                progress(report.checked, total)
    return report
