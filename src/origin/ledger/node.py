"""The ledger node: one sequencer per ledger that turns submitted batches into log entries.

A submitted batch's signatures are verified at once in a pool of processes (or of threads:
libsecp256k1 releases the GIL, but the Python around it does not), while the batch waits in a
bounded queue: verification overlaps the writer's work.
The sequencer takes what is waiting as one commit group, applies the rules to one batch after
another (each seeing the group's earlier batches) in a pure step, `apply_group`, and writes
what it gives -- entries, records, tree nodes, one signed checkpoint, the committed outcomes --
in one database transaction. Only then are the submitters answered. Refused batches are kept in
memory only (the newest REFUSED_KEPT_MAX): a group of junk costs no database write at all.
"""

import concurrent.futures
import itertools
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from origin.ledger.store import Group, Outcome, Store, Unavailable
from origin.protocol import log, merkle, note, rules
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import Config, parse_genesis
from origin.protocol.limits import GROUP_BATCHES_MAX, GROUP_TRANSACTIONS_MAX, QUEUE_BATCHES_MAX, REFUSED_KEPT_MAX
from origin.protocol.transactions import Batch, SignatureCheck, signature_checks, verify_checks

logger = logging.getLogger("origin.ledger")

Answer = concurrent.futures.Future[Outcome]  # a batch's final outcome
Verified = concurrent.futures.Future[tuple[list[bool], float]]  # its signatures' validity, and the seconds taken

WRITER_POLL_S = 0.5  # a standby's attempts at the writer role
WRITER_CHECK_S = 1.0  # an idle writer's check that it still holds its database session
PARENT_CHECK_S = 1.0


class Busy(Exception):
    """The queue is full: the client should retry later."""


class Stopped(Exception):
    """The node is stopping and takes no more batches."""


class Standby(Exception):
    """Another node is the ledger's writer; this one serves reads until it takes over."""


class CommitFailed(Exception):
    """The commit of a batch's group failed (the database went away, the disk is full): it may
    or may not be durable. Ask for the batch's status, or submit it again (a batch is applied
    at most once)."""


def create(store: Store, signer: note.Signer, genesis: dict[str, Any], time_s: int) -> None:
    """Write entry 0 (the genesis), its tree node and the first checkpoint."""
    config = parse_genesis(genesis)
    if str(signer.verifier) != genesis["log_key"] or config.ledger != signer.name:
        raise ValueError("the log key does not match the genesis")
    if store.size():
        raise ValueError("the store already holds a ledger")
    entry = log.genesis_entry(genesis, time_s)
    frontier = merkle.Frontier()
    nodes = frontier.append(entry)
    checkpoint = signer.sign(note.Checkpoint(config.ledger, 1, frontier.root()).text())
    store.commit(Group(entries=[(0, entry)], nodes=nodes, checkpoint=(1, checkpoint)))


# The pure step of a commit group.


@dataclass
class Applied:
    """What applying a group gives: the writes for storage (committed batches only), each
    batch's outcome in order, and the tree after it."""

    group: Group
    outcomes: list[Outcome]
    frontier: merkle.Frontier


def apply_group(
    batches: Sequence[Batch],
    valid: Sequence[Sequence[bool]],
    config: Config,
    stored: dict[str, bytes],
    known: dict[str, Outcome],
    frontier: merkle.Frontier,
    now_s: int,
) -> Applied:
    """Apply batches in order under the rules, each seeing the group's earlier writes over
    `stored` (the records at every address the batches name); `known` holds the outcomes of
    batch ids decided before, which are answered again, not applied. Pure."""
    frontier = frontier.copy()
    written: dict[str, rules.Record] = {}
    group = Group()
    outcomes: list[Outcome] = []
    known = dict(known)

    def read(address: str) -> rules.Record | None:
        if address in written:
            return written[address]
        raw = stored.get(address)
        return None if raw is None else parse(raw)

    for batch, batch_valid in zip(batches, valid, strict=True):
        outcome = known.get(batch.id)
        if outcome is None:  # a batch is applied at most once
            try:
                writes = rules.apply_batch(batch, batch_valid, config, read, now_s)
            except ProtocolError as exc:
                outcome = Outcome(batch.id, "INVALID", error=exc.to_json())
            else:
                seq = frontier.size
                entry = log.batch_entry(seq, now_s, batch.canonical)
                group.entries.append((seq, entry))
                group.nodes.extend(frontier.append(entry))
                written.update(writes)
                for address, record in writes.items():
                    first = group.records[address][2] if address in group.records else seq
                    group.records[address] = (canonical(record), seq, first)
                outcome = Outcome(batch.id, "COMMITTED", seq=seq)
                group.outcomes.append(outcome)
            known[batch.id] = outcome
        outcomes.append(outcome)
    return Applied(group, outcomes, frontier)


@dataclass
class _Submission:
    batch: Batch
    verified: Verified
    future: Answer


@dataclass
class Timings:
    """Seconds spent in each step, for the benchmark's account. `verify` is worker time in the
    verification pool; the others are the sequencer's, `verify_wait` its wait for them,
    `read` the records and outcomes it reads, `apply` the pure step (rules and tree)."""

    verify: float = 0.0
    verify_wait: float = 0.0
    read: float = 0.0
    apply: float = 0.0
    sign: float = 0.0
    storage: float = 0.0
    groups: int = 0
    batches: int = 0
    transactions: int = 0


class Node:
    def __init__(
        self,
        store: Store,
        signer: note.Signer,
        clock: Callable[[], float] = time.time,
        verify_workers: int | None = None,
        verify_processes: bool = False,
        queue_batches_max: int = QUEUE_BATCHES_MAX,
    ):
        self.store = store
        self.signer = signer
        self.clock = clock
        entry0 = store.entry(0)
        if entry0 is None:
            raise ValueError("the store holds no ledger")
        self.config: Config = parse_genesis(parse(entry0)["genesis"])
        if str(signer.verifier) != self.config.genesis["log_key"]:
            raise ValueError("the log key does not match the ledger's genesis")
        self._load()
        self.role = "standby"  # until the sequencer holds the writer role
        self.writer_poll_s = WRITER_POLL_S
        self.writer_check_s = WRITER_CHECK_S
        self._queue: queue.Queue[_Submission | None] = queue.Queue(maxsize=queue_batches_max)
        self._pending: dict[str, Answer] = {}
        self._refused: OrderedDict[str, Outcome] = OrderedDict()  # the newest INVALID outcomes
        self._lock = threading.Lock()  # guards _pending and _refused
        self._workers = verify_workers or _cpus()
        self._pool: concurrent.futures.Executor
        if verify_processes:  # spawned, not forked: the node runs threads
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent, initargs=(os.getpid(),),
            )  # fmt: skip
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(self._workers, "verify")
        self._thread: threading.Thread | None = None
        self._first_attempt = threading.Event()
        self._stopping = False
        self.timings = Timings()

    @property
    def ledger(self) -> str:
        return self.config.ledger

    def _load(self) -> None:
        """The tree and time as the database has them (another writer may have moved them)."""
        size = self.store.size()
        self.frontier = merkle.Frontier.load(self.store.node, size)
        last = self.store.entry(size - 1)
        assert last is not None, f"the store lacks entry {size - 1} of {size}"
        self._last_time_s = log.time_of(last)

    # Submitting and asking

    def submit(self, batch: Batch) -> Answer:
        """A future of the batch's final Outcome. Raises Busy when the queue is full."""
        if self._stopping:
            raise Stopped("the node is stopping")
        if self.role != "active":
            raise Standby("this node is a standby: another node writes the ledger")
        known = self._known_here(batch.id)
        if known is not None:
            return known
        # Read outside the lock the sequencer answers under; a batch that commits meanwhile
        # is found again by the sequencer, which checks known outcomes before applying.
        committed = self.store.outcome(batch.id)
        if committed is not None:
            return _done(committed)
        with self._lock:
            if batch.id in self._pending:
                return self._pending[batch.id]
            if self._queue.full():
                raise Busy(f"{self._queue.maxsize} batches are waiting")
            future: Answer = concurrent.futures.Future()
            verified = self._pool.submit(timed_verify, signature_checks(batch.transactions))
            self._queue.put_nowait(_Submission(batch, verified, future))
            self._pending[batch.id] = future
            return future

    def _known_here(self, batch_id: str) -> Answer | None:
        """The future of a batch waiting here, or of its refusal kept in memory."""
        with self._lock:
            if batch_id in self._pending:
                return self._pending[batch_id]
            refused = self._refused.get(batch_id)
        return None if refused is None else _done(refused)

    def outcome(self, batch_id: str) -> Outcome:
        with self._lock:
            if batch_id in self._pending:
                return Outcome(batch_id, "PENDING")
            refused = self._refused.get(batch_id)
        return refused or self.store.outcome(batch_id) or Outcome(batch_id, "UNKNOWN")

    def read_record(self, address: str) -> rules.Record | None:
        found = self.store.record(address)
        return None if found is None else parse(found[0])

    # The sequencer

    def start(self) -> "Node":
        """Start the sequencer; return once it has tried for the writer role (it keeps trying
        in the background if another node has it)."""
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._thread.start()
        self._first_attempt.wait()
        return self

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._stopping = True
        self.role = "stopped"
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._pool.shutdown()

    def _become_writer(self) -> bool:
        """Wait for the writer role; False if the node stops first."""
        while not self._stopping:
            try:
                acquired = self.store.acquire_writer(self.ledger)
                if acquired:
                    self._load()
            except Unavailable as exc:
                logger.warning("ledger %s: cannot reach the database for the writer role: %s", self.ledger, exc)
                self.store.release_writer()
                acquired = False
            if acquired:
                self.role = "active"
                logger.info("ledger %s: this node is the writer at size %d", self.ledger, self.frontier.size)
            self._first_attempt.set()
            if acquired:
                return True
            time.sleep(self.writer_poll_s)
        self._first_attempt.set()
        return False

    def _run(self) -> None:
        if not self._become_writer():
            return
        while True:
            group = self._next_group()
            if group is None:
                if not self._still_writer():
                    return
                continue
            if not group:
                self.store.release_writer()
                return
            try:
                outcomes = self.commit_group([s.batch for s in group], [s.verified for s in group])
            except Exception as exc:  # the transaction failed: the group may or may not be durable
                logger.exception("commit group failed; giving the writer role up")
                self._finish(
                    group, CommitFailed(f"the commit failed ({exc}); ask for the batch's status or submit it again")
                )
                self._step_down()
                if not self._become_writer():
                    return
            else:
                self._finish(group, outcomes)

    def _next_group(self) -> list[_Submission] | None:
        """What waits, as one commit group; None after an idle check interval, [] at the stop."""
        try:
            first = self._queue.get(timeout=self.writer_check_s)
        except queue.Empty:
            return None
        if first is None:
            return []
        group, transactions = [first], first.batch.size
        for item in self._waiting():
            group.append(item)
            transactions += item.batch.size
            if len(group) >= GROUP_BATCHES_MAX or transactions >= GROUP_TRANSACTIONS_MAX:
                break
        return group

    def _still_writer(self) -> bool:
        """An idle writer checks its database session, on which its writer role rests; having
        lost it, it steps down and waits for the role again. False if the node stops."""
        if self.store.holds_writer():
            return True
        logger.warning("ledger %s: the writer lost its database session; stepping down", self.ledger)
        self._step_down()
        return self._become_writer()

    def _step_down(self) -> None:
        """Give the writer role up and answer what waits: it may be another node's turn."""
        self.role = "standby"
        self.store.release_writer()
        for item in self._waiting():
            self._finish([item], Standby("the node lost the writer role; try again"))

    def _waiting(self) -> Iterator[_Submission]:
        """What is queued already, without waiting; it stops at the stop mark, left in place."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._queue.put(None)
                return
            yield item

    def _finish(self, group: list[_Submission], result: list[Outcome] | Exception) -> None:
        with self._lock:
            for i, submission in enumerate(group):
                self._pending.pop(submission.batch.id, None)
                if isinstance(result, Exception):
                    submission.future.set_exception(result)
                else:
                    submission.future.set_result(result[i])

    def _verify_group(self, batches: list[Batch]) -> list[list[bool]]:
        """Every signature of a group, one even chunk per worker."""
        checks = signature_checks([tx for b in batches for tx in b.transactions])
        step = max(1, -(-len(checks) // self._workers))
        chunks = [checks[i : i + step] for i in range(0, len(checks), step)]
        valid: list[bool] = []
        for chunk_valid, seconds in self._pool.map(timed_verify, chunks):
            valid.extend(chunk_valid)
            self.timings.verify += seconds
        result, offset = [], 0
        for batch in batches:
            result.append(valid[offset : offset + batch.size])
            offset += batch.size
        return result

    def _verified(self, batches: list[Batch], verified: list[Verified] | None) -> list[list[bool]]:
        if verified is None:
            return self._verify_group(batches)
        valid = []
        for future in verified:
            batch_valid, seconds = future.result()
            valid.append(batch_valid)
            self.timings.verify += seconds
        return valid

    def _known(self, batches: list[Batch]) -> dict[str, Outcome]:
        """Outcomes decided before for any of these batch ids: committed, or refused here."""
        ids = [b.id for b in batches]
        known = self.store.outcomes(ids)
        with self._lock:
            known.update({i: self._refused[i] for i in ids if i in self._refused and i not in known})
        return known

    def _keep_refusals(self, outcomes: list[Outcome]) -> None:
        """INVALID outcomes live in memory only, the newest REFUSED_KEPT_MAX: refusing junk
        costs no write and no fsync, and junk cannot grow the database."""
        with self._lock:
            for outcome in outcomes:
                if outcome.status == "INVALID":
                    self._refused[outcome.id] = outcome
                    self._refused.move_to_end(outcome.id)
            while len(self._refused) > REFUSED_KEPT_MAX:
                self._refused.popitem(last=False)

    def commit_group(self, batches: list[Batch], verified: list[Verified] | None = None) -> list[Outcome]:
        """Apply and durably commit a group of batches; their outcomes, in order. `verified`
        holds a future of each batch's `timed_verify`, if they were started already.

        Called by the sequencer thread only (or directly, with the sequencer not running)."""
        t0 = time.perf_counter()
        valid = self._verified(batches, verified)
        t1 = time.perf_counter()
        named = sorted(set().union(*(rules.addresses_named(b) for b in batches)))
        stored, known = self.store.records_at(named), self._known(batches)
        t2 = time.perf_counter()
        now_s = max(self._last_time_s, int(self.clock()))
        applied = apply_group(batches, valid, self.config, stored, known, self.frontier, now_s)
        t3 = time.perf_counter()
        group = applied.group
        if group.entries:
            body = note.Checkpoint(self.ledger, applied.frontier.size, applied.frontier.root()).text()
            group.checkpoint = (applied.frontier.size, self.signer.sign(body))
        t4 = time.perf_counter()
        if group.entries:
            self.store.commit(group)
            self.frontier, self._last_time_s = applied.frontier, now_s
        self._keep_refusals(applied.outcomes)
        t5 = time.perf_counter()
        self._time(batches, t0, t1, t2, t3, t4, t5)
        return applied.outcomes

    def _time(self, batches: list[Batch], *marks: float) -> None:
        timings = self.timings
        steps = ("verify_wait", "read", "apply", "sign", "storage")
        for step, (begin, end) in zip(steps, itertools.pairwise(marks), strict=True):
            setattr(timings, step, getattr(timings, step) + end - begin)
        timings.groups += 1
        timings.batches += len(batches)
        timings.transactions += sum(b.size for b in batches)


def _done(outcome: Outcome) -> Answer:
    future: Answer = concurrent.futures.Future()
    future.set_result(outcome)
    return future


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system has one: a container's
    or a pinned node's, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def exit_with_parent(parent_pid: int) -> None:
    """In a verification worker: exit once the node is gone. A node killed with SIGKILL cannot
    stop its pool, and a worker blocked on its task queue would live on, an orphan, forever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def timed_verify(checks: list[SignatureCheck | None]) -> tuple[list[bool], float]:
    """Verify signature checks; also the seconds it took (runs in a worker)."""
    started = time.perf_counter()
    return verify_checks(checks), time.perf_counter() - started
