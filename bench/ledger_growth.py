"""Growth: commit-path throughput and resident memory as the state grows to 10 thousand,
100 thousand and 1 million GGOs. Cost per transaction must stay flat.

The state is grown by writing GGO records through the store's own commit (as issuing would
leave them, without their log entries: a benchmark shortcut that makes this ledger unfit for
replay), then the standard workload is committed through the pipelined commit path.

    .venv/bin/python bench/ledger_growth.py [--backend sqlite|postgres] [--sizes 10000,100000,1000000]
"""

import argparse
import random
import time

from harness.workload import Workload
from ledger_throughput import ISSUER, LEDGER, drive, new_ledger, new_store, verify_rate
from origin.ledger.node import Node
from origin.ledger.store import Group
from origin.protocol.canonical import canonical
from origin.protocol.times import format_time

FILL_CHUNK = 100_000


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fill(store, count: int, rng: random.Random) -> None:
    """Write `count` GGO records at random addresses, in chunks."""
    for start in range(0, count, FILL_CHUNK):
        group = Group()
        for _ in range(min(FILL_CHUNK, count - start)):
            key_part = rng.randbytes(32).hex()
            begin = 1_767_225_600 + rng.randrange(8760) * 3600
            record = {"origin": "fbb4f9" + key_part, "begin": format_time(begin), "end": format_time(begin + 3600),
                      "amount": rng.randint(1, 10_000_000), "sector": "DK1", "tech_type": "T020000",
                      "fuel_type": "F01050100", "next": None}  # fmt: skip
            group.records["62fe8a" + key_part] = (canonical(record), 0, 0)
        store.commit(group)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(3)
    yardstick = verify_rate()
    print(f"yardstick: {yardstick:,.0f} signature verifications/s on one core; backend {args.backend}")
    print(f"{'GGOs in state':>14} {'fill s':>7} {'tx/s':>8} {'ratio':>6} {'us/tx':>7} {'apply us/tx':>12} "
          f"{'storage us/tx':>14} {'RSS MiB':>8}")  # fmt: skip
    with new_store(args.backend) as store:
        signer = new_ledger(store)
        node = Node(store, signer, verify_processes=True).start()
        filled = 0
        for seed, size in enumerate(sizes, start=10):
            started = time.perf_counter()
            fill(store, size - filled, rng)
            fill_s, filled = time.perf_counter() - started, size
            workload = Workload(LEDGER, ISSUER.private_key([]), producers=100, consumers=100, seed=seed)
            bodies = [canonical(b) for b in workload.batches(300)]
            r = drive(node, bodies, in_flight=8)
            rate = r["transactions"] / r["elapsed"]
            us = {step: 1e6 * r[step] / r["transactions"] for step in ("elapsed", "apply", "storage")}
            print(f"{size:>14,} {fill_s:>7.1f} {rate:>8,.0f} {rate / yardstick:>6.2f} {us['elapsed']:>7.1f} "
                  f"{us['apply']:>12.1f} {us['storage']:>14.1f} {rss_mib():>8.0f}")  # fmt: skip
        node.stop()
    print(f"(each row commits a fresh workload of {r['transactions']} transactions)")


if __name__ == "__main__":
    main()
