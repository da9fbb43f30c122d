"""The ledger node: one sequencer per ledger that turns submitted batches into log entries.

A submitted batch waits in a bounded queue. The sequencer takes what is waiting as one commit
group, verifies every signature of the group in a thread pool (libsecp256k1 releases the GIL),
applies the rules to one batch after another (each seeing the group's earlier batches), and
writes the whole group -- entries, records, tree nodes, one signed checkpoint, outcomes -- in
one database transaction. Only then are the submitters answered.
"""

import concurrent.futures
import logging
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
from origin.protocol.transactions import Batch, verify_signatures

log = logging.getLogger("origin.ledger")

QUEUE_BATCHES_MAX = 4096
GROUP_BATCHES_MAX = 256
GROUP_TRANSACTIONS_MAX = 16384


class Busy(Exception):
    """The queue is full: the client should retry later."""


class Stopped(Exception):
    """The node is stopping and takes no more batches."""


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
    future: concurrent.futures.Future


@dataclass
class Timings:
    """Seconds the sequencer spent in each step, for the benchmark's account."""

    verify: float = 0.0
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
        verify_threads: int | None = None,
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
        size = store.size()
        self.frontier = merkle.Frontier.load(store.node, size)
        self._last_time_s = parse_time_of(store.entry(size - 1))
        self._queue: queue.Queue = queue.Queue(maxsize=queue_batches_max)
        self._pending: dict[str, concurrent.futures.Future] = {}
        self._pending_lock = threading.Lock()
        self._workers = verify_threads or os.cpu_count() or 1
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="verify"
        )
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.timings = Timings()

    @property
    def ledger(self) -> str:
        return self.config.ledger

    # Submitting and asking

    def submit(self, batch: Batch) -> concurrent.futures.Future:
        """A future of the batch's final Outcome. Raises Busy when the queue is full."""
        if self._stopping:
            raise Stopped("the node is stopping")
        with self._pending_lock:
            future = self._pending.get(batch.id)
            if future is not None:
                return future
            known = self.store.outcome(batch.id)
            if known is not None:
                future = concurrent.futures.Future()
                future.set_result(known)
                return future
            future = concurrent.futures.Future()
            try:
                self._queue.put_nowait(_Submission(batch, future))
            except queue.Full:
                raise Busy(f"{self._queue.maxsize} batches are waiting") from None
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
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._stopping = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._pool.shutdown()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, transactions = [first], first.batch.size
            while len(group) < GROUP_BATCHES_MAX and transactions < GROUP_TRANSACTIONS_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
                transactions += item.batch.size
            try:
                outcomes = self.commit_group([s.batch for s in group])
            except Exception as exc:  # the group was rolled back: nothing of it is written
                log.exception("commit group failed")
                self._finish(group, exc)
            else:
                self._finish(group, outcomes)

    def _finish(self, group: list[_Submission], result) -> None:
        with self._pending_lock:
            for i, submission in enumerate(group):
                self._pending.pop(submission.batch.id, None)
                if isinstance(result, Exception):
                    submission.future.set_exception(result)
                else:
                    submission.future.set_result(result[i])

    def commit_group(self, batches: list[Batch]) -> list[Outcome]:
        """Apply and durably commit a group of batches; their outcomes, in order.

        Called by the sequencer thread only (or directly, with the sequencer not running)."""
        t0 = time.perf_counter()
        flat = [tx for b in batches for tx in b.transactions]
        step = max(1, -(-len(flat) // self._workers))  # one even chunk per worker
        chunks = [flat[i : i + step] for i in range(0, len(flat), step)]
        valid = [ok for chunk in self._pool.map(verify_signatures, chunks) for ok in chunk]
        t1 = time.perf_counter()

        now_s = max(self._last_time_s, int(self.clock()))
        frontier = self.frontier.copy()
        written: dict[str, dict] = {}
        group = Group()
        outcomes: list[Outcome] = []
        seen: dict[str, Outcome] = {}
        log_s = 0.0

        def read(address: str) -> dict | None:
            record = written.get(address)
            if record is None:
                found = self.store.record(address)
                record = None if found is None else parse(found[0])
            return record

        offset = 0
        for batch in batches:
            batch_valid = valid[offset : offset + batch.size]
            offset += batch.size
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
                    group.records[address] = (canonical(record), seq)
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
        timings.verify += t1 - t0
        timings.rules += t2 - t1 - log_s
        timings.log += log_s + t3 - t2
        timings.storage += t4 - t3
        timings.groups += 1
        timings.batches += len(batches)
        timings.transactions += len(flat)
        return outcomes


def parse_time_of(entry: bytes) -> int:
    return parse_time(parse(entry)["time"])
