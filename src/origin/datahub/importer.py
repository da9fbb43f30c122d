"""The importer: measurements from the DataHub onto the ledger, each published exactly once,
none stranded.

1. Sync the meters with the DataHub's authorisations (`meters.sync`).
2. Fetch the period's readings of every meter; store each certified one once (its ledger
   address derived from the meter's xpub and its begin), if its period has ended and the
   meter's authorisation covers it; record gaps (uncertified or missing points) and late
   corrections (a stored reading whose amount the DataHub now reports differently: the ledger is
   append-only, so they are reported, not applied).
3. Publish the measurements of ready meters (`meters.ready`) not yet in a batch, a meter after
   another (those left unclaimed by earlier runs, then each as it is stored): batches of
   publish_measurement, plus issue_ggo for production over 0 Wh whose GGO would not already be
   expired (older ones are published, not issued, and reported), signed with the issuing
   body's key, sized to the ledger's 65,000 bytes. Each batch's exact bytes are written with the
   claim on its measurements *before* it is submitted: a killed import resubmits those bytes,
   and the ledger applies a batch at most once.
4. A refused batch strands nothing: the meter of the refused transaction is quarantined with
   the ledger's code and message and the batch's other measurements go back to be published in
   the next batch; a refusal that is no meter's fault (the issuing body's key, the ledger id) stops
   the import with the reason, leaving every measurement unclaimed for the run after the fix.
"""

import concurrent.futures
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bip32 import BIP32
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from origin import database
from origin.client import http
from origin.datahub import meters as meters_
from origin.datahub import webhooks
from origin.datahub.db import import_issues, ledger_batches, measurements, meters
from origin.protocol import transactions as tx
from origin.protocol import wallet
from origin.protocol.canonical import sha256_hex
from origin.protocol.genesis import Config, parse_genesis
from origin.protocol.times import format_time

TRANSACTIONS_PER_BATCH = 1024
SUBMIT_RETRIES = 20
RETRY_S = 0.5
# Refusals that are no one meter's fault: the issuing body's key or the ledger id is wrong.
CONFIGURATION_CODES = frozenset({"unauthorized", "bad_signature", "invalid_batch"})


STORE_ROWS = 2000  # measurements stored a transaction: claims and records wait for no longer write
CLAIM_TRIES = 1000  # claims lost in a row to other importers (each one theirs to publish) before giving up
CLAIM_ROWS_MAX = 128  # read for a batch: about 65 publications with their issues fill 65,000 bytes
FETCH_METERS = 10  # meters fetched (one call's) and stored at a time, while the stored ones are published
IN_FLIGHT = 4  # batches submitted at once: the ledger commits them in one group
# A meter's claimable measurements from one begin to another, claimed for a batch: those read for
# it, exactly, if the begins it answers are theirs (nobody claimed one of them first, nobody stored
# a new one between them meanwhile). One statement a meter of the batch, not one a row.
_CLAIM = (update(measurements)
          .where(measurements.c.gsrn == bindparam("g"), measurements.c.begin_s.between(bindparam("first"), bindparam("last")),
                 measurements.c.batch.is_(None), measurements.c.address.is_not(None))
          .values(batch=bindparam("batch_id")).returning(measurements.c.begin_s))  # fmt: skip


class _Overtaken(Exception):
    """Another importer claimed measurements this one was about to."""


def _insert_new(conn: Connection, table: Any) -> Any:
    """An insert that leaves rows already there (by primary key) as they are."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class _Submissions:
    """Batches submitted and recorded in worker threads, at most IN_FLIGHT at a time; the
    first failure of any is raised in the caller's thread, once all have ended."""

    def __init__(self, importer: "Importer", report: "Report"):
        self.importer, self.report = importer, report
        self.pool = concurrent.futures.ThreadPoolExecutor(IN_FLIGHT, "submit")
        self.futures: deque[concurrent.futures.Future[None]] = deque()

    def submit(self, batch_id: str, body: bytes) -> None:
        """Submit a claimed batch -- always, even after another failed, so that its refusal
        releases what it claimed -- then wait while too many are in flight."""
        self.futures.append(self.pool.submit(self.importer._submit, batch_id, body, self.report))
        self.settle(IN_FLIGHT)

    def settle(self, in_flight: int = 0) -> None:
        """Until no more than `in_flight` batches submitted are still to be answered and recorded."""
        while len(self.futures) > in_flight:
            self.futures.popleft().result()

    def __enter__(self) -> "_Submissions":
        return self

    def __exit__(self, *exc: object) -> None:
        failure: BaseException | None = None
        for future in self.futures:
            try:
                future.result()
            except BaseException as error:  # Kill (tests) included: the first one is raised
                failure = failure or error
        self.pool.shutdown()
        if failure is not None and exc[0] is None:
            raise failure


class _Fetcher:
    """Readings fetched and stored, FETCH_METERS meters at a time, in a thread of their own, so
    that the DataHub's answers are parsed and stored while stored measurements are published.
    Its failure is raised in the caller's thread, at `take`."""

    def __init__(self, importer: "Importer", gsrns: list[str], begin_s: int, end_s: int, report: "Report",
                 progress: Callable[[str, int, int], None]):  # fmt: skip
        self.importer, self.gsrns, self.begin_s, self.end_s = importer, gsrns, begin_s, end_s
        self.report, self.progress = report, progress
        self.changed = threading.Condition()
        self.stored: list[str] = []  # meters stored since the caller last took them
        self.finished, self.stopping = False, False
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._fetch, name="fetch", daemon=True)

    def _fetch(self) -> None:
        try:
            for i in range(0, len(self.gsrns), FETCH_METERS):
                if self.stopping:
                    break
                readings, errors = self.importer.datahub.timeseries(self.gsrns[i : i + FETCH_METERS], self.begin_s,
                                                                    self.end_s)  # fmt: skip
                self.report.readings += len(readings)
                self.report.errors += errors
                stored = self.importer.store(readings, self.report)
                self.progress("importing meters", min(i + FETCH_METERS, len(self.gsrns)), len(self.gsrns))
                with self.changed:
                    self.stored += stored
                    self.changed.notify_all()
        except BaseException as error:  # Kill (tests) included: the caller's thread raises it
            self.failure = error
        with self.changed:
            self.finished = True
            self.changed.notify_all()

    def take(self) -> tuple[list[str], bool]:
        """(the meters stored since the last take, whether all are): before a pass over them."""
        with self.changed:
            if self.failure is not None:
                raise self.failure
            stored, self.stored = self.stored, []
            return stored, self.finished

    def wait(self) -> None:
        """Until more meters are stored than were taken, or the fetching has ended."""
        with self.changed:
            self.changed.wait_for(lambda: self.stored or self.finished)

    def __enter__(self) -> "_Fetcher":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True  # after a failure of the caller's, the share being fetched is the last
        self.thread.join()


def _in_meter_spans(conn: Connection, table: Any, keys: list[tuple[str, int]], *columns: Any) -> list[Any]:
    """Rows of a table keyed by (gsrn, begin_s, ...) at or around those keys: one range read per
    meter on the primary key (a row-value IN list would make SQLite read the whole table)."""
    spans: dict[str, list[int]] = {}
    for gsrn, begin_s in keys:
        span = spans.setdefault(gsrn, [begin_s, begin_s])
        span[0], span[1] = min(span[0], begin_s), max(span[1], begin_s)
    found: list[Any] = []
    for gsrn, (first, last) in spans.items():
        found += conn.execute(select(table.c.gsrn, table.c.begin_s, *columns).where(
            table.c.gsrn == gsrn, table.c.begin_s >= first, table.c.begin_s <= last)).fetchall()  # fmt: skip
    return found


class LedgerUnavailable(Exception):
    """The ledger did not answer; the batch stays PENDING and the next run resubmits it."""


class LedgerRefusesIssuer(Exception):
    """The ledger refuses the issuing body's batches as such; nothing is published until the
    configuration is fixed (the message says what the ledger said)."""


@dataclass
class Report:
    meters: meters_.SyncReport | None = None
    readings: int = 0
    stored: int = 0
    gaps: int = 0
    corrections: int = 0
    future: int = 0  # readings for periods that had not ended: not stored
    outside_access: int = 0  # readings the authorisation does not cover: not stored
    errors: list[Any] = field(default_factory=list)  # per-meter DataHub errors
    batches: int = 0
    published: int = 0
    expired: int = 0  # published without a GGO: it would be expired already
    quarantined: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (gsrn, ledger error)

    def lines(self) -> list[str]:
        out = self.meters.lines() if self.meters else []
        out.append(f"{self.readings} readings: {self.stored} new measurements stored, {self.gaps} gaps, "
                   f"{self.corrections} late corrections, {self.future} not yet ended and {self.outside_access} "
                   f"outside their authorisation left out; {self.published} measurements published in "
                   f"{self.batches} batches ({self.expired} too old for a GGO)")  # fmt: skip
        out += [f"  DataHub error for {e.gsrn}: {e.code} {e.text}" for e in self.errors]
        out += [f"  QUARANTINED {g}: the ledger refused it: {e['code']}: {e['message']}" for g, e in self.quarantined]
        return out


class Importer:
    def __init__(self, engine: Engine, datahub: Any, ledger_url: str, ledger_id: str, issuer_key: bytes,
                 clock: Callable[[], float] = time.time, post: Callable[..., tuple[int, bytes]] = http,
                 sleep: Callable[[float], None] = time.sleep,
                 transactions_per_batch: int = TRANSACTIONS_PER_BATCH):  # fmt: skip
        self.engine, self.datahub, self.ledger_url, self.ledger_id = engine, datahub, ledger_url.rstrip("/"), ledger_id
        self.issuer_key, self.clock, self.post, self.sleep = issuer_key, clock, post, sleep
        self.transactions_per_batch = transactions_per_batch
        self._lock = threading.Lock()
        self._released: list[str] = []  # meters whose measurements a refusal gave back, to claim again

    def ledger_config(self) -> Config:
        """The ledger's genesis: its sectors and the GGO lifetime decide what is certified."""
        status, body = self._get("/v1/genesis")
        if status != 200:
            raise LedgerUnavailable(f"the ledger at {self.ledger_url} answered {status} for its genesis")
        config = parse_genesis(json.loads(body))
        if config.ledger != self.ledger_id:
            raise LedgerRefusesIssuer(f"the ledger at {self.ledger_url} is {config.ledger!r}, not {self.ledger_id!r}")
        return config

    def entry_of(self, address: str) -> int | None:
        """The ledger entry that wrote the record at an address; None if the address is empty."""
        status, body = self._get(f"/v1/state/{address}")
        if status == 404:
            return None
        if status != 200:
            raise LedgerUnavailable(f"the ledger at {self.ledger_url} answered {status} for {address}")
        return int(json.loads(body)["seq"])

    def _get(self, path: str) -> tuple[int, bytes]:
        try:
            status, body = self.post("GET", self.ledger_url + path)
        except OSError as exc:
            raise LedgerUnavailable(f"the ledger at {self.ledger_url} cannot be reached: {exc}") from None
        return status, body

    def run(self, begin_s: int, end_s: int, progress: Callable[[str, int, int], None] = lambda *a: None,
            sync: bool = True) -> Report:  # fmt: skip
        """Import [begin_s, end_s): meters fetched and stored a call's worth at a time (in a
        thread), while what is stored is built and signed into batches (in this one) and
        submitted (IN_FLIGHT at once)."""
        report = Report()
        config = self.ledger_config()
        if sync:
            report.meters = meters_.sync(self.engine, self.datahub)
        with self.engine.connect() as conn:
            gsrns = [row.gsrn for row in conn.execute(select(meters.c.gsrn).order_by(meters.c.gsrn))]
            pending = conn.execute(select(ledger_batches.c.id, ledger_batches.c.body).where(
                ledger_batches.c.status == "PENDING").order_by(ledger_batches.c.created_s)).fetchall()  # fmt: skip
            # Meters with measurements left unclaimed before: by a refusal, or waiting to be ready.
            todo = deque(conn.execute(select(measurements.c.gsrn).distinct().where(measurements.c.batch.is_(None))
                                      .order_by(measurements.c.gsrn)).scalars())  # fmt: skip
        with _Submissions(self, report) as submissions:
            for row in pending:  # first what a killed run left unanswered: the same bytes again
                submissions.submit(row.id, row.body)
            with _Fetcher(self, gsrns, begin_s, end_s, report, progress) as fetcher:
                while True:
                    stored, finished = fetcher.take()
                    todo += stored + self._take_released()
                    while (claimed := self._claim_batch(config, report, todo)) is not None:
                        submissions.submit(*claimed)
                    if finished:  # everything was stored before this pass: what is in flight may be refused
                        submissions.settle()
                        if not self._released:
                            break
                    else:
                        fetcher.wait()
        return report

    def _take_released(self) -> list[str]:
        with self._lock:
            released, self._released = self._released, []
        return released

    def store(self, readings: list[Any], report: Report) -> list[str]:
        """Store the readings: what is new is read and its addresses derived first, with no
        transaction open; the write only adds what is not there (another importer may have).
        The meters of the measurements stored."""
        now_s = int(self.clock())
        with self.engine.connect() as conn:
            known = {row.gsrn: row for row in conn.execute(
                select(meters).where(meters.c.gsrn.in_({r.gsrn for r in readings})))}  # fmt: skip
            stored = self._stored(conn, [(r.gsrn, r.begin_s) for r in readings])
        views = {g: BIP32.from_xpub(m.meter_xpub) for g, m in known.items() if m.meter_xpub}
        new, issues = [], []
        for r in readings:
            meter = known.get(r.gsrn)
            if meter is None:
                continue
            if r.end_s > now_s:  # a DataHub must not know the future; never certify it
                report.future += 1
                continue
            if (meter.access_from_s is not None and r.begin_s < meter.access_from_s) or (
                    meter.access_to_s is not None and r.end_s > meter.access_to_s):  # fmt: skip
                report.outside_access += 1
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
        for i in range(0, len(new), STORE_ROWS):  # another importer may have stored some
            with database.writes(self.engine) as conn:
                conn.execute(_insert_new(conn, measurements), new[i : i + STORE_ROWS])
        if issues:
            with database.writes(self.engine) as conn:
                gaps, corrections = self._record_issues(conn, issues)
            report.gaps += gaps
            report.corrections += corrections
        report.stored += len(new)
        return list(dict.fromkeys(row["gsrn"] for row in new))

    @staticmethod
    def _stored(conn: Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The amounts stored at those (GSRN, begin)."""
        rows = _in_meter_spans(conn, measurements, keys, measurements.c.amount_wh)
        return {(r.gsrn, r.begin_s): r.amount_wh for r in rows}

    @staticmethod
    def _record_issues(conn: Connection, issues: list[dict[str, Any]]) -> tuple[int, int]:
        """Store the issues not known yet; how many new gaps and corrections."""
        rows = _in_meter_spans(conn, import_issues, [(i["gsrn"], i["begin_s"]) for i in issues], import_issues.c.kind)
        seen = {(r.gsrn, r.begin_s, r.kind) for r in rows}
        fresh = [i for i in issues if (i["gsrn"], i["begin_s"], i["kind"]) not in seen]
        if fresh:
            conn.execute(_insert_new(conn, import_issues), fresh)
        return sum(i["kind"] == "gap" for i in fresh), sum(i["kind"] == "correction" for i in fresh)

    def _claim_batch(self, config: Config, report: Report, todo: deque[str]) -> tuple[str, bytes] | None:
        """Build the next batch of the meters to do, in order, then record it, with its
        measurements, before it is submitted; the meters it drains leave `todo`. Another importer
        that claimed some of them first makes this one try again (on rows it has not claimed: each
        try lost is another's progress)."""
        for _ in range(CLAIM_TRIES):
            try:
                return self._try_claim(config, report, todo)
            except _Overtaken:
                continue
        raise LedgerUnavailable("other importers keep claiming the same measurements; run the import again")

    def _try_claim(self, config: Config, report: Report, todo: deque[str]) -> tuple[str, bytes] | None:
        """Read, build and sign outside any transaction (the write lock is held only to claim:
        the recording of committed batches does not wait for a batch being signed); the claim
        checks that nobody took the rows meanwhile. A measurement's amount and address never
        change once stored. Rows are read one meter at a time, a plan no statistics can change."""
        now_s = int(self.clock())
        rows: list[Any] = []
        drained = 0  # the meters at the head of todo whose every ready unclaimed row was read
        with self.engine.connect() as conn:
            for gsrn in todo:
                if gsrn in (r.gsrn for r in rows):  # listed twice (stored again, given back): read once
                    drained += 1
                    continue
                wanted = CLAIM_ROWS_MAX - len(rows)
                more = conn.execute(
                    select(measurements, meters.c.type, meters.c.sector, meters.c.tech_type, meters.c.fuel_type)
                    .join(meters, meters.c.gsrn == measurements.c.gsrn)
                    .where(measurements.c.gsrn == gsrn, measurements.c.batch.is_(None),
                           measurements.c.address.is_not(None), meters_.ready(config.sectors))
                    .order_by(measurements.c.begin_s).limit(wanted)
                ).fetchall()  # fmt: skip
                rows += more
                if len(more) == wanted:
                    break
                drained += 1
        if not rows:
            todo.clear()
            return None
        packer = tx.BatchPacker(transactions_max=self.transactions_per_batch)
        taken = 0
        while taken < len(rows) and packer.add(self._unit(rows[taken], config, now_s)):
            taken += 1
        if taken < len(rows):  # the meter of the first row left out is not drained
            drained = min(drained, todo.index(rows[taken].gsrn))
        rows = rows[:taken]
        expired = [r for r in rows if _born_expired(r, config, now_s)]
        body = packer.body()
        batch_id = sha256_hex(body)
        with database.writes(self.engine) as conn:
            for gsrn, group in itertools.groupby(rows, key=lambda r: r.gsrn):  # each meter's rows, read in order
                begins = [r.begin_s for r in group]
                claimed = conn.execute(
                    _CLAIM, {"g": gsrn, "first": begins[0], "last": begins[-1], "batch_id": batch_id}
                )
                if sorted(claimed.scalars()) != begins:  # another importer was first: roll back, claim anew
                    raise _Overtaken()
            self._record_issues(conn, [{"gsrn": r.gsrn, "begin_s": r.begin_s, "kind": "expired", "seen_s": now_s,
                                        "detail": "published without a GGO: it would be expired already"}
                                       for r in expired])  # fmt: skip
            conn.execute(_insert_new(conn, ledger_batches).values(id=batch_id, body=body, status="PENDING",
                                                                  created_s=now_s))  # fmt: skip
        report.expired += len(expired)
        for _ in range(drained):
            todo.popleft()
        return batch_id, body

    def _unit(self, r: Any, config: Config, now_s: int) -> list[dict[str, Any]]:
        """A measurement's publication and, for production, the GGO issued from it -- unless the
        GGO would be born expired: such a measurement is published only."""
        period = {"begin": format_time(r.begin_s), "end": format_time(r.end_s)}
        if _born_expired(r, config, now_s):
            return [tx.publish_measurement(self.ledger_id, self.issuer_key, address=r.address, sector=r.sector,
                                           type=r.type, amount=r.amount_wh, **period)]  # fmt: skip
        return tx.publish_and_issue(
            self.ledger_id,
            self.issuer_key,
            address=r.address,
            sector=r.sector,
            type=r.type,
            amount=r.amount_wh,
            tech_type=r.tech_type,
            fuel_type=r.fuel_type,
            **period,
        )

    def _submit(self, batch_id: str, body: bytes, report: Report) -> None:
        for _ in range(SUBMIT_RETRIES):
            try:
                status, answer = self.post("POST", f"{self.ledger_url}/v1/batches?wait=true", body)
            except OSError:
                status, answer = 0, b""
            if status == 200:
                outcome = json.loads(answer)
                if outcome["status"] == "COMMITTED":
                    self._record(batch_id, body, outcome["seq"], report)
                    return
                if outcome["status"] == "INVALID":
                    self._refused(batch_id, body, outcome["error"], report)
                    return
            self.sleep(RETRY_S)  # 503, PENDING after the wait, or no answer: it stays PENDING here
        raise LedgerUnavailable(f"the ledger did not answer for batch {batch_id}; it will be resubmitted")

    def _refused(self, batch_id: str, body: bytes, error: dict[str, Any], report: Report) -> None:
        """Nothing stranded: the refused transaction's meter is quarantined, the rest of the batch
        goes back to be published; a refusal of the issuing body as such stops the import."""
        now_s = int(self.clock())
        transactions = json.loads(body)["transactions"]
        index = error.get("transaction")
        of_a_meter = error["code"] not in CONFIGURATION_CODES and index is not None
        row = None
        with database.writes(self.engine) as conn:
            conn.execute(update(ledger_batches).where(ledger_batches.c.id == batch_id)
                         .values(status="INVALID", error=json.dumps(error)))  # fmt: skip
            if of_a_meter:  # found among the batch's rows, before they are released
                row = self._quarantine(conn, batch_id, transactions[index], error, now_s)
            else:
                self._record_issues(conn, [{"gsrn": "*", "begin_s": now_s, "kind": "refused", "seen_s": now_s,
                                            "detail": f"{error['code']}: {error['message']}"}])  # fmt: skip
            released = list(conn.execute(select(measurements.c.gsrn).distinct().where(measurements.c.batch == batch_id))
                            .scalars())  # fmt: skip
            conn.execute(update(measurements).where(measurements.c.batch == batch_id).values(batch=None))
        if not of_a_meter:  # after the commit: the batch's measurements are back, unclaimed
            raise LedgerRefusesIssuer(f"the ledger refuses the issuing body's batches: {error['code']}: "
                                      f"{error['message']} -- check ledger_id and the issuer key, then import "
                                      f"again (nothing was published, nothing is lost)")  # fmt: skip
        with self._lock:  # the others are claimed again in this run if it is still claiming, else in the next
            self._released += released
            if row is not None:
                report.quarantined.append((row, error))

    def _quarantine(self, conn: Connection, batch_id: str, transaction: dict[str, Any], error: dict[str, Any],
                    now_s: int) -> str | None:  # fmt: skip
        """Quarantine the meter of the refused transaction; its GSRN. None if the batch's rows
        were released already, by another importer that submitted the same batch."""
        payload = transaction["payload"]
        address = payload["address"] if transaction["type"] == "publish_measurement" else payload["measurement"]
        row = conn.execute(select(measurements.c.gsrn, measurements.c.begin_s).where(
            measurements.c.batch == batch_id, measurements.c.address == address)).first()  # fmt: skip
        if row is None:
            return None
        meters_.quarantine(conn, row.gsrn, error["code"], error["message"])
        self._record_issues(conn, [{"gsrn": row.gsrn, "begin_s": row.begin_s, "kind": "refused", "seen_s": now_s,
                                    "detail": f"{error['code']}: {error['message']}"}])  # fmt: skip
        return str(row.gsrn)

    def _record(self, batch_id: str, body: bytes, seq: int, report: Report) -> None:
        now_s = int(self.clock())
        with database.writes(self.engine) as conn:
            first = conn.execute(update(ledger_batches).where(ledger_batches.c.id == batch_id,
                                                              ledger_batches.c.status == "PENDING")
                                 .values(status="COMMITTED", seq=seq)).rowcount  # fmt: skip
            if not first:  # another importer resubmitted it too, and recorded it: once is enough
                return
            published_n = conn.execute(update(measurements).where(measurements.c.batch == batch_id)
                                       .values(seq=seq)).rowcount  # fmt: skip
            if webhooks.listening(conn, webhooks.EVENTS):
                self._tell(conn, batch_id, body, seq, now_s)
        with self._lock:  # submissions are recorded in several threads
            report.batches += 1
            report.published += published_n

    @staticmethod
    def _tell(conn: Connection, batch_id: str, body: bytes, seq: int, now_s: int) -> None:
        """The webhooks' events of a committed batch, in the transaction that records it."""
        owner_of = {r.address: r.owner for r in conn.execute(
            select(measurements.c.address, meters.c.owner).join(meters).where(measurements.c.batch == batch_id))}  # fmt: skip
        published: list[tuple[str, dict[str, Any]]] = []
        issued: list[tuple[str, dict[str, Any]]] = []
        for t in json.loads(body)["transactions"]:
            p = t["payload"]
            if t["type"] == "publish_measurement":
                published.append((owner_of[p["address"]], {
                    "address": p["address"], "begin": p["begin"], "end": p["end"], "type": p["type"],
                    "sector": p["sector"], "amount": p["amount"], "seq": seq}))  # fmt: skip
            else:
                issued.append((owner_of[p["measurement"]], {
                    "address": p["address"], "measurement": p["measurement"], "seq": seq,
                    "tech_type": p["tech_type"], "fuel_type": p["fuel_type"]}))  # fmt: skip
        webhooks.enqueue(conn, "measurement.published", published, now_s)
        webhooks.enqueue(conn, "ggo.issued", issued, now_s)


def _born_expired(r: Any, config: Config, now_s: int) -> bool:
    """A production measurement whose GGO would be expired when issued."""
    return bool(r.type == tx.PRODUCTION and r.amount_wh > 0 and now_s >= r.end_s + config.ggo_lifetime_s)
