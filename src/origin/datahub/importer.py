"""The importer: measurements from the DataHub onto the ledger, each published exactly once.

1. Fetch the period's readings of every meter; store each certified one once (its ledger
   address derived from the meter's xpub and its begin); record gaps (uncertified or missing
   points) and late corrections (a stored reading whose amount the DataHub now reports
   differently: the ledger is append-only, so they are reported, not applied).
2. Publish: the measurements not yet in a batch go into batches of publish_measurement, plus
   issue_ggo for production over 0 Wh, signed with the issuing body's key. Each batch's exact
   bytes are written to the database, with the claim on its measurements, *before* it is
   submitted; a killed import resubmits those bytes, and the ledger applies a batch at most once.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bip32 import BIP32
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.engine import Engine

from origin.client import http
from origin.datahub import webhooks
from origin.datahub.db import import_issues, ledger_batches, measurements, meters
from origin.protocol import transactions as tx
from origin.protocol import wallet
from origin.protocol.canonical import canonical, sha256_hex
from origin.protocol.limits import SQL_PARAMETERS_MAX
from origin.protocol.times import format_time

TRANSACTIONS_PER_BATCH = 300
SUBMIT_RETRIES = 20
RETRY_S = 0.5


class LedgerUnavailable(Exception):
    """The ledger did not answer; the batch stays PENDING and the next run resubmits it."""


@dataclass
class Report:
    readings: int = 0
    stored: int = 0
    gaps: int = 0
    corrections: int = 0
    errors: list = field(default_factory=list)  # per-meter DataHub errors
    batches: int = 0
    published: int = 0
    refused: list = field(default_factory=list)  # ledger refusals: a bug or a misconfiguration

    def lines(self) -> list[str]:
        out = [f"{self.readings} readings: {self.stored} new measurements stored, {self.gaps} gaps, "
               f"{self.corrections} late corrections; {self.published} measurements published in "
               f"{self.batches} batches"]  # fmt: skip
        out += [f"  DataHub error for {e.gsrn}: {e.code} {e.text}" for e in self.errors]
        out += [f"  LEDGER REFUSED batch {b}: {e}" for b, e in self.refused]
        return out


class Importer:
    def __init__(self, engine: Engine, datahub, ledger_url: str, ledger_id: str, issuer_key: bytes,
                 clock: Callable[[], float] = time.time, post: Callable = http, sleep=time.sleep,
                 transactions_per_batch: int = TRANSACTIONS_PER_BATCH):  # fmt: skip
        self.engine, self.datahub, self.ledger_url, self.ledger_id = engine, datahub, ledger_url.rstrip("/"), ledger_id
        self.issuer_key, self.clock, self.post, self.sleep = issuer_key, clock, post, sleep
        self.transactions_per_batch = transactions_per_batch

    def run(self, begin_s: int, end_s: int, progress: Callable[[str, int, int], None] = lambda *a: None) -> Report:
        report = Report()
        with self.engine.connect() as conn:
            gsrns = [row.gsrn for row in conn.execute(select(meters.c.gsrn).order_by(meters.c.gsrn))]
        progress("fetching", 0, len(gsrns))
        readings, report.errors = self.datahub.timeseries(gsrns, begin_s, end_s)
        report.readings = len(readings)
        progress("fetching", len(gsrns), len(gsrns))
        self.store(readings, report)
        self.publish(report, progress)
        return report

    def store(self, readings, report: Report) -> None:
        now_s = int(self.clock())
        with self.engine.begin() as conn:
            known = {row.gsrn: row for row in conn.execute(select(meters))}
            views = {g: BIP32.from_xpub(m.meter_xpub) for g, m in known.items() if m.meter_xpub}
            keys = [(r.gsrn, r.begin_s) for r in readings]
            stored = {}
            for i in range(0, len(keys), SQL_PARAMETERS_MAX):
                rows = conn.execute(select(measurements.c.gsrn, measurements.c.begin_s, measurements.c.amount_wh)
                                    .where(tuple_(measurements.c.gsrn, measurements.c.begin_s).in_(keys[i : i + SQL_PARAMETERS_MAX])))  # fmt: skip
                stored.update({(row.gsrn, row.begin_s): row.amount_wh for row in rows})
            new, issues = [], []
            for r in readings:
                if r.gsrn not in known:
                    continue
                if not r.certified:
                    issues.append({"gsrn": r.gsrn, "begin_s": r.begin_s, "kind": "gap", "seen_s": now_s,
                                   "detail": f"quality {r.quality}, amount {r.amount_wh}"})  # fmt: skip
                    continue
                previous = stored.get((r.gsrn, r.begin_s))
                if previous is None:
                    view = views.get(r.gsrn)
                    address = None if view is None else wallet.measurement_address(view, r.begin_s)
                    new.append({"gsrn": r.gsrn, "begin_s": r.begin_s, "end_s": r.end_s,
                                "amount_wh": r.amount_wh, "address": address})  # fmt: skip
                    stored[(r.gsrn, r.begin_s)] = r.amount_wh
                elif previous != r.amount_wh:
                    issues.append({"gsrn": r.gsrn, "begin_s": r.begin_s, "kind": "correction", "seen_s": now_s,
                                   "detail": f"published {previous} Wh, the DataHub now says {r.amount_wh} Wh"})  # fmt: skip
            if new:
                conn.execute(insert(measurements), new)
            seen = {(i["gsrn"], i["begin_s"], i["kind"]) for i in self._known_issues(conn, issues)}
            fresh = [i for i in issues if (i["gsrn"], i["begin_s"], i["kind"]) not in seen]
            if fresh:
                conn.execute(insert(import_issues), fresh)
        report.stored += len(new)
        report.gaps += sum(i["kind"] == "gap" for i in fresh)
        report.corrections += sum(i["kind"] == "correction" for i in fresh)

    @staticmethod
    def _known_issues(conn, issues):
        keys = [(i["gsrn"], i["begin_s"], i["kind"]) for i in issues]
        for i in range(0, len(keys), SQL_PARAMETERS_MAX):
            yield from conn.execute(select(import_issues.c.gsrn, import_issues.c.begin_s, import_issues.c.kind)
                                    .where(tuple_(import_issues.c.gsrn, import_issues.c.begin_s,
                                                  import_issues.c.kind).in_(keys[i : i + SQL_PARAMETERS_MAX]))).mappings()  # fmt: skip

    def publish(self, report: Report, progress=lambda *a: None) -> None:
        with self.engine.connect() as conn:
            pending = conn.execute(select(ledger_batches.c.id, ledger_batches.c.body)
                                   .where(ledger_batches.c.status == "PENDING").order_by(ledger_batches.c.created_s)).fetchall()  # fmt: skip
            total = report.published + len(conn.execute(select(measurements.c.address).where(
                measurements.c.address.is_not(None), measurements.c.seq.is_(None))).fetchall())  # fmt: skip
        for row in pending:  # first what a killed run left unanswered: the same bytes again
            self._submit(row.id, row.body, report)
            progress("publishing", report.published, total)
        while (claimed := self._claim_batch()) is not None:
            self._submit(*claimed, report)
            progress("publishing", report.published, total)

    def _claim_batch(self) -> tuple[str, bytes] | None:
        """Build the next batch and record it, with its measurements, before it is submitted."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(measurements, meters.c.type, meters.c.sector, meters.c.tech_type, meters.c.fuel_type)
                .join(meters, meters.c.gsrn == measurements.c.gsrn)
                .where(measurements.c.address.is_not(None), measurements.c.batch.is_(None))
                .order_by(measurements.c.begin_s, measurements.c.gsrn)
                .limit(self.transactions_per_batch // 2)
            ).fetchall()
            if not rows:
                return None
            units = [tx.publish_and_issue(self.ledger_id, self.issuer_key, address=r.address, sector=r.sector,
                                          type=r.type, amount=r.amount_wh, tech_type=r.tech_type, fuel_type=r.fuel_type,
                                          begin=format_time(r.begin_s), end=format_time(r.end_s)) for r in rows]  # fmt: skip
            rows = rows[: tx.units_that_fit(units)]
            body = canonical(tx.batch(*(t for unit in units[: len(rows)] for t in unit)))
            batch_id = sha256_hex(body)
            conn.execute(insert(ledger_batches).values(id=batch_id, body=body, status="PENDING",
                                                       created_s=int(self.clock())))  # fmt: skip
            conn.execute(update(measurements).where(
                tuple_(measurements.c.gsrn, measurements.c.begin_s).in_([(r.gsrn, r.begin_s) for r in rows]))
                .values(batch=batch_id))  # fmt: skip
        return batch_id, body

    def _submit(self, batch_id: str, body: bytes, report: Report) -> None:
        for _ in range(SUBMIT_RETRIES):
            try:
                status, answer = self.post("POST", f"{self.ledger_url}/v1/batches?wait=true", body)
            except OSError:
                status, answer = 0, b""
            if status == 200:
                outcome = json.loads(answer)
                if outcome["status"] in ("COMMITTED", "INVALID"):
                    self._record(batch_id, body, outcome, report)
                    return
            self.sleep(RETRY_S)  # 503, PENDING after the wait, or no answer: it stays PENDING here
        raise LedgerUnavailable(f"the ledger did not answer for batch {batch_id}; it will be resubmitted")

    def _record(self, batch_id: str, body: bytes, outcome: dict, report: Report) -> None:
        now_s = int(self.clock())
        with self.engine.begin() as conn:
            if outcome["status"] == "INVALID":
                conn.execute(update(ledger_batches).where(ledger_batches.c.id == batch_id)
                             .values(status="INVALID", error=json.dumps(outcome["error"])))  # fmt: skip
                report.refused.append((batch_id, outcome["error"]))
                return
            seq = outcome["seq"]
            conn.execute(
                update(ledger_batches).where(ledger_batches.c.id == batch_id).values(status="COMMITTED", seq=seq)
            )
            conn.execute(update(measurements).where(measurements.c.batch == batch_id).values(seq=seq))
            published, issued = [], []
            for t in json.loads(body)["transactions"]:
                p = t["payload"]
                if t["type"] == "publish_measurement":
                    published.append({"address": p["address"], "begin": p["begin"], "end": p["end"], "type": p["type"],
                                      "sector": p["sector"], "amount": p["amount"], "seq": seq})  # fmt: skip
                else:
                    issued.append({"address": p["address"], "measurement": p["measurement"], "seq": seq,
                                   "tech_type": p["tech_type"], "fuel_type": p["fuel_type"]})  # fmt: skip
            webhooks.enqueue(conn, "measurement.published", published, now_s)
            webhooks.enqueue(conn, "ggo.issued", issued, now_s)
        report.batches += 1
        report.published += len(published)
