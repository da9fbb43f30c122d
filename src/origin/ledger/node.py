"""The ledger node: one sequencer per ledger that turns submitted batches into log entries.

A submitted batch's signatures are verified at once in a pool of processes (or of threads:
libsecp256k1 releases the GIL, but the Python around it does not), while the batch waits in a
bounded queue: verification overlaps the writer's work.
The sequencer takes what is waiting as one commit group, applies the rules to one batch after
another (each seeing the group's earlier batches), and writes the whole group -- entries,
records, tree nodes, one signed checkpoint, outcomes -- in one database transaction. Only then
are the submitters answered.
"""

import concurrent.futures
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from origin.ledger import rules
from origin.ledger.genesis import Config, parse_genesis
from origin.ledger.log import batch_entry, genesis_entry
from origin.ledger.store import Group, Outcome, Store
from origin.protocol import merkle, note
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.times import parse_time
from origin.protocol.transactions import Batch, signature_checks, verify_checks

log = logging.getLogger("origin.ledger")

QUEUE_BATCHES_MAX = 4096
GROUP_BATCHES_MAX = 256
GROUP_TRANSACTIONS_MAX = 16384


class Busy(Exception):
    """The queue is full: the client should retry later."""


class Stopped(Exception):
    """The node is stopping and takes no more batches."""


class Standby(Exception):
    """Another node is the ledger's writer; this one serves reads until it takes over."""


WRITER_POLL_S = 0.5


def create(store: Store, signer: note.Signer, genesis: dict, time_s: int) -> None:
    """Write entry 0 (the genesis), its tree node and the first checkpoint."""
    config = parse_genesis(genesis)
    if str(signer.verifier) != genesis["log_key"] or config.ledger != signer.name:
        raise ValueError("the log key does not match the genesis")
    if store.size():
        raise ValueError("the store already holds a ledger")
    entry = genesis_entry(genesis, time_s)
    frontier = merkle.Frontier()
    nodes = frontier.append(entry)
    checkpoint = signer.sign(note.Checkpoint(config.ledger, 1, frontier.root()).text())
    store.commit(Group(entries=[(0, entry)], nodes=nodes, checkpoint=(1, checkpoint)))


@dataclass
class _Submission:
    batch: Batch
    verified: concurrent.futures.Future  # of list[bool], one per transaction
    future: concurrent.futures.Future  # of the Outcome


@dataclass
class Timings:
    """Seconds spent in each step, for the benchmark's account. `verify` is thread time in the
    verification pool; the others are the sequencer's, `verify_wait` its wait for them."""

    verify: float = 0.0
    verify_wait: float = 0.0
    rules: float = 0.0
    log: float = 0.0
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
        self._queue: queue.Queue = queue.Queue(maxsize=queue_batches_max)
        self._pending: dict[str, concurrent.futures.Future] = {}
        self._pending_lock = threading.Lock()
        self._workers = verify_workers or os.cpu_count() or 1
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
        self._last_time_s = parse_time_of(self.store.entry(size - 1))

    # Submitting and asking

    def submit(self, batch: Batch) -> concurrent.futures.Future:
        """A future of the batch's final Outcome. Raises Busy when the queue is full."""
        if self._stopping:
            raise Stopped("the node is stopping")
        if self.role != "active":
            raise Standby("this node is a standby: another node writes the ledger")
        with self._pending_lock:
            future = self._pending.get(batch.id)
        if future is not None:
            return future
        # Read outside the lock the sequencer answers under; a batch that commits meanwhile
        # is found again by the sequencer, which checks known outcomes before applying.
        known = self.store.outcome(batch.id)
        if known is not None:
            future = concurrent.futures.Future()
            future.set_result(known)
            return future
        with self._pending_lock:
            future = self._pending.get(batch.id)
            if future is not None:
                return future
            if self._queue.full():
                raise Busy(f"{self._queue.maxsize} batches are waiting")
            future = concurrent.futures.Future()
            verified = self._pool.submit(timed_verify, signature_checks(batch.transactions))
            self._queue.put_nowait(_Submission(batch, verified, future))
            self._pending[batch.id] = future
            return future

    def outcome(self, batch_id: str) -> Outcome:
        with self._pending_lock:
            if batch_id in self._pending:
                return Outcome(batch_id, "PENDING")
        return self.store.outcome(batch_id) or Outcome(batch_id, "UNKNOWN")

    def read_record(self, address: str) -> dict | None:
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
            acquired = self.store.acquire_writer(self.ledger)
            if acquired:
                self._load()
                self.role = "active"
                log.info("ledger %s: this node is the writer at size %d", self.ledger, self.frontier.size)
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
            first = self._queue.get()
            if first is None:
                self.store.release_writer()
                return
            group, transactions = [first], first.batch.size
            for item in self._waiting():
                group.append(item)
                transactions += item.batch.size
                if len(group) >= GROUP_BATCHES_MAX or transactions >= GROUP_TRANSACTIONS_MAX:
                    break
            try:
                outcomes = self.commit_group([s.batch for s in group], [s.verified for s in group])
            except Exception as exc:  # the group was rolled back: nothing of it is written
                log.exception("commit group failed; giving the writer role up")
                self._finish(group, exc)
                self._step_down()
                if not self._become_writer():
                    return
            else:
                self._finish(group, outcomes)

    def _step_down(self) -> None:
        """Give the writer role up and answer what waits: it may be another node's turn."""
        self.role = "standby"
        self.store.release_writer()
        for item in self._waiting():
            self._finish([item], Standby("the node lost the writer role; try again"))

    def _waiting(self):
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

    def _finish(self, group: list[_Submission], result) -> None:
        with self._pending_lock:
            for i, submission in enumerate(group):
                self._pending.pop(submission.batch.id, None)
                if isinstance(result, Exception):
                    submission.future.set_exception(result)
                else:
                    submission.future.set_result(result[i])

    def _record_bytes(self, address: str) -> bytes | None:
        found = self.store.record(address)
        return None if found is None else found[0]

    def _verify_group(self, batches: list[Batch]) -> list[list[bool]]:
        """Every signature of a group, one even chunk per worker."""
        checks = signature_checks([tx for b in batches for tx in b.transactions])
        step = max(1, -(-len(checks) // self._workers))
        chunks = [checks[i : i + step] for i in range(0, len(checks), step)]
        valid = []
        for chunk_valid, seconds in self._pool.map(timed_verify, chunks):
            valid.extend(chunk_valid)
            self.timings.verify += seconds
        result, offset = [], 0
        for batch in batches:
            result.append(valid[offset : offset + batch.size])
            offset += batch.size
        return result

    def commit_group(self, batches: list[Batch], verified=None) -> list[Outcome]:
        """Apply and durably commit a group of batches; their outcomes, in order. `verified`
        holds a future of each batch's `timed_verify`, if they were started already.

        Called by the sequencer thread only (or directly, with the sequencer not running)."""
        t0 = time.perf_counter()
        if verified is None:
            valid = self._verify_group(batches)
        else:
            valid = []
            for future in verified:
                batch_valid, seconds = future.result()
                valid.append(batch_valid)
                self.timings.verify += seconds
        t1 = time.perf_counter()

        now_s = max(self._last_time_s, int(self.clock()))
        frontier = self.frontier.copy()
        written: dict[str, dict] = {}
        group = Group()
        outcomes: list[Outcome] = []
        seen: dict[str, Outcome] = {}
        log_s = 0.0

        # One read for every record the group's transactions name, not one per rule check.
        named = set().union(*(rules.addresses_named(b) for b in batches))
        stored = self.store.records_at(sorted(named))

        def read(address: str) -> dict | None:
            record = written.get(address)
            if record is None:
                raw = stored.get(address) if address in named else self._record_bytes(address)
                record = None if raw is None else parse(raw)
            return record

        for batch, batch_valid in zip(batches, valid, strict=True):
            known = seen.get(batch.id) or self.store.outcome(batch.id)
            if known is not None:  # resubmitted: applied at most once
                outcomes.append(known)
                continue
            try:
                writes = rules.apply_batch(batch, batch_valid, self.config, read, now_s)
            except ProtocolError as exc:
                outcome = Outcome(batch.id, "INVALID", error=exc.to_json())
                group.outcomes.append(outcome)
            else:
                tl = time.perf_counter()
                seq = frontier.size
                entry = batch_entry(seq, now_s, batch.canonical)
                group.entries.append((seq, entry))
                group.nodes.extend(frontier.append(entry))
                log_s += time.perf_counter() - tl
                written.update(writes)
                for address, record in writes.items():
                    first = group.records[address][2] if address in group.records else seq
                    group.records[address] = (canonical(record), seq, first)
                outcome = Outcome(batch.id, "COMMITTED", seq=seq)
                group.outcomes.append(outcome)
            seen[batch.id] = outcome
            outcomes.append(outcome)
        t2 = time.perf_counter()
        if group.entries:
            body = note.Checkpoint(self.ledger, frontier.size, frontier.root()).text()
            group.checkpoint = (frontier.size, self.signer.sign(body))
        t3 = time.perf_counter()
        if group.outcomes:
            self.store.commit(group)
        t4 = time.perf_counter()
        self.frontier = frontier
        self._last_time_s = now_s

        timings = self.timings
        timings.verify_wait += t1 - t0
        timings.rules += t2 - t1 - log_s
        timings.log += log_s + t3 - t2
        timings.storage += t4 - t3
        timings.groups += 1
        timings.batches += len(batches)
        timings.transactions += sum(b.size for b in batches)
        return outcomes


PARENT_CHECK_S = 1.0


def exit_with_parent(parent_pid: int) -> None:
    """In a verification worker: exit once the node is gone. A node killed with SIGKILL cannot
    stop its pool, and a worker blocked on its task queue would live on, an orphan, forever."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def timed_verify(checks) -> tuple[list[bool], float]:
    """Verify signature checks; also the seconds it took (runs in a worker)."""
    started = time.perf_counter()
    return verify_checks(checks), time.perf_counter() - started


def parse_time_of(entry: bytes) -> int:
    return parse_time(parse(entry)["time"])
