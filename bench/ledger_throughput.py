"""Ledger commit-path throughput, against the single-core signature-verification rate.

Builds a realistic workload (hourly measurements and GGOs of producing and consuming meters,
then splits, retirements with their settlements, and onward transfers) in batches of a few
hundred transactions, and runs it through the node's commit path exactly as a submitted batch
goes: strict parse and decode, every signature verified (thread pool), the rules, one durable
SQLite transaction (synchronous=FULL) and one signed checkpoint per commit group.

    .venv/bin/python bench/ledger_throughput.py [--producers 100] [--consumers 100] [--hours 24]
                                                [--batch 300] [--group 4]
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from origin.ledger import data as ledger_data
from origin.ledger.node import Node
from origin.ledger.workload import Workload
from origin.protocol import keys, transactions as tx
from origin.protocol.canonical import canonical, parse

from origin.protocol.wallet import Wallet

LEDGER = "bench.origin/dk"


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


def run(bodies: list[bytes], group_size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        ledger_data.init(data, LEDGER, [ISSUER.public_key.hex()])
        store, signer = ledger_data.open_store(data)
        node = Node(store, signer)
        parse_s, transactions = 0.0, 0
        started = time.perf_counter()
        for i in range(0, len(bodies), group_size):
            t0 = time.perf_counter()
            group = [tx.decode_batch(body, LEDGER) for body in bodies[i : i + group_size]]
            parse_s += time.perf_counter() - t0
            for outcome in node.commit_group(group):
                if outcome.status != "COMMITTED":
                    raise SystemExit(f"workload batch refused: {outcome.error}")
            transactions += sum(b.size for b in group)
        elapsed = time.perf_counter() - started
        db_bytes = sum(f.stat().st_size for f in data.iterdir())
        t = node.timings
        node.stop()
        store.close()
    return {"transactions": transactions, "batches": len(bodies), "groups": t.groups,
            "elapsed": elapsed, "parse": parse_s, "verify": t.verify, "rules": t.rules,
            "log": t.log, "storage": t.storage, "db_bytes": db_bytes}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=100)
    parser.add_argument("--consumers", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--batch", type=int, default=300, help="transactions per batch")
    parser.add_argument("--group", type=int, default=4, help="batches per commit group")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    workload = Workload(LEDGER, ISSUER.private_key([]), producers=args.producers,
                        consumers=args.consumers, hours=args.hours)  # fmt: skip
    bodies = [canonical(b) for b in workload.batches(args.batch)]
    count = sum(len(parse(b)["transactions"]) for b in bodies)
    print(f"workload: {count} transactions in {len(bodies)} batches of <= {args.batch} "
          f"({args.producers} producers, {args.consumers} consumers, {args.hours} h), "
          f"built in {time.perf_counter() - started:.1f} s")  # fmt: skip

    yardstick = verify_rate()
    print(f"yardstick: {yardstick:,.0f} signature verifications/s on one core")
    for group in sorted({1, args.group}):
        r = run(bodies, group)
        rate = r["transactions"] / r["elapsed"]
        print(f"\ncommit path, {group} batch(es) per commit group ({r['groups']} groups, "
              f"{r['groups']} fsyncs, {r['groups']} checkpoints):")  # fmt: skip
        print(f"  committed: {rate:,.0f} transactions/s = {rate / yardstick:.2f} x the yardstick "
              f"({r['transactions']} in {r['elapsed']:.2f} s)")  # fmt: skip
        accounted = 0.0
        for step in ("parse", "verify", "rules", "log", "storage"):
            accounted += r[step]
            print(f"  {step:8} {r[step]:6.2f} s  {100 * r[step] / r['elapsed']:5.1f} %  "
                  f"{1e6 * r[step] / r['transactions']:6.1f} us/transaction")  # fmt: skip
        other = r["elapsed"] - accounted
        print(f"  {'other':8} {other:6.2f} s  {100 * other / r['elapsed']:5.1f} %")
        print(f"  database: {r['db_bytes'] / r['transactions']:.0f} bytes/transaction")


ISSUER = Wallet.generate()

if __name__ == "__main__":
    main()
