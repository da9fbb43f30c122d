"""Ledger commit-path throughput, against the single-core signature-verification rate.

Builds a realistic workload (hourly measurements and GGOs of producing and consuming meters,
then splits, retirements with their settlements, and onward transfers) in batches of a few
hundred transactions, and runs it through the node's commit path exactly as a submitted batch
goes: strict parse and decode, every signature verified (thread pool), the rules, one durable
database transaction (SQLite synchronous=FULL, or PostgreSQL with fsync) and one signed
checkpoint per commit group. Two ways: sequential (one batch per group, verification not
overlapped), and pipelined (the node's sequencer running, clients keeping batches in flight).

    .venv/bin/python bench/ledger_throughput.py [--backend sqlite|postgres] [--producers 100]
        [--consumers 100] [--hours 24] [--batch 300] [--in-flight 8]
"""

import argparse
import collections
import contextlib
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

from harness.scratch import scratch_database
from harness.workload import Workload
from origin.ledger.node import Node, create
from origin.ledger.postgres import PostgresStore
from origin.ledger.sqlite import SQLiteStore
from origin.protocol import keys, note
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, parse
from origin.protocol.genesis import make_genesis
from origin.protocol.wallet import Wallet

LEDGER = "bench.origin/dk"
POSTGRES = os.environ.get("ORIGIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def verify_rate(seconds: float = 2.0) -> float:
    """Single-core secp256k1 verifications a second, through the node's own verify."""
    samples = []
    for i in range(256):
        secret = keys.new_private_key()
        digest = keys.sha256(b"%d" % i)
        samples.append((keys.public_key(secret), keys.sign(secret, digest), digest))
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for public, sig, digest in samples:
            keys.verify(public, sig, digest)
        done += len(samples)
    return done / (time.perf_counter() - started)


@contextlib.contextmanager
def database_url(backend: str):
    """None for SQLite; for PostgreSQL, the URL of a database made and dropped around the run."""
    if backend == "sqlite":
        yield None
        return
    with scratch_database(POSTGRES, "origin_bench") as url:
        yield url


@contextlib.contextmanager
def new_store(backend: str):
    """An empty store: SQLite in a temporary folder, or a PostgreSQL database made and dropped."""
    with database_url(backend) as url, tempfile.TemporaryDirectory() as tmp:
        store = PostgresStore(url) if url else SQLiteStore(Path(tmp) / "ledger.db")
        try:
            yield store
        finally:
            store.close()


def run(bodies: list[bytes], backend: str, in_flight: int) -> dict:
    """Commit the workload on a new ledger; in_flight 0 means sequentially, a batch a group."""
    with new_store(backend) as store:
        signer = new_ledger(store)
        node = Node(store, signer, verify_processes=True)
        if in_flight:
            node.start()
        result = drive(node, bodies, in_flight)
        node.stop()
    return result


def new_ledger(store) -> note.Signer:
    signer = note.Signer.generate(LEDGER)
    create(store, signer, make_genesis(LEDGER, [ISSUER.public_key.hex()], str(signer.verifier)), int(time.time()))
    return signer


def drive(node: Node, bodies: list[bytes], in_flight: int) -> dict:
    """Parse and commit every body, through the (started) sequencer with `in_flight` batches
    outstanding, or directly one batch a group (0); the figures."""
    size_before, timings_before = node.frontier.size, dataclasses.replace(node.timings)
    parse_s, transactions = 0.0, 0
    outcomes, window = [], collections.deque()  # window: futures of batches in flight
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        batch = tx.decode_batch(body, LEDGER)
        parse_s += time.perf_counter() - t0
        transactions += batch.size
        if not in_flight:
            outcomes.extend(node.commit_group([batch]))
            continue
        while len(window) >= in_flight:
            outcomes.append(window.popleft().result())
        window.append(node.submit(batch))
    outcomes.extend(future.result() for future in window)
    elapsed = time.perf_counter() - started
    refused = [o.error for o in outcomes if o.status != "COMMITTED"]
    if refused or node.frontier.size != size_before + len(bodies):
        raise SystemExit(f"workload batches refused: {refused[:3]}")
    figures = {"transactions": transactions, "elapsed": elapsed, "parse": parse_s}
    for step in ("groups", *STEPS):
        figures[step] = getattr(node.timings, step) - getattr(timings_before, step)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=100)
    parser.add_argument("--consumers", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--batch", type=int, default=300, help="transactions per batch")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--in-flight", type=int, default=8, help="batches clients keep in flight")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    workload = Workload(LEDGER, ISSUER.private_key([]), producers=args.producers,
                        consumers=args.consumers, hours=args.hours)  # fmt: skip
    bodies = [canonical(b) for b in workload.batches(args.batch)]
    count = sum(len(parse(b)["transactions"]) for b in bodies)
    print(f"workload: {count} transactions in {len(bodies)} batches of <= {args.batch} and <= 65,000 bytes "
          f"({args.producers} producers, {args.consumers} consumers, {args.hours} h), "
          f"built in {time.perf_counter() - started:.1f} s")  # fmt: skip

    yardstick = verify_rate()
    print(f"yardstick: {yardstick:,.0f} signature verifications/s on one core")
    print(f"backend: {args.backend}")
    for in_flight in (0, args.in_flight):
        r = run(bodies, args.backend, in_flight)
        rate = r["transactions"] / r["elapsed"]
        how = "sequential, 1 batch a group" if not in_flight else f"pipelined, {in_flight} batches in flight"
        print(f"\n{how}: {r['groups']} commit groups (one transaction, fsync and checkpoint each)")
        print(f"  committed: {rate:,.0f} transactions/s = {rate / yardstick:.2f} x the yardstick "
              f"({r['transactions']} in {r['elapsed']:.2f} s)")  # fmt: skip
        print("  time per transaction (threads overlap, so the steps may sum to more than the wall time):")
        for step in ("parse", *STEPS):
            print(f"  {step:12} {1e6 * r[step] / r['transactions']:6.1f} us  "
                  f"({100 * r[step] / r['elapsed']:5.1f} % of wall time)")  # fmt: skip
        print(f"  {'wall':12} {1e6 * r['elapsed'] / r['transactions']:6.1f} us")


ISSUER = Wallet.generate()
# The sequencer's steps (Node.timings): its wait for the verification workers, reading the
# records and outcomes a group names, the pure apply step (rules and tree), signing the
# checkpoint, and the database transaction.
STEPS = ("verify", "verify_wait", "read", "apply", "sign", "storage")

if __name__ == "__main__":
    main()
