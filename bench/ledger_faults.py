"""Recovery from database faults on PostgreSQL, measured: how long after its sessions are
terminated (a restart, a failover, an administrator) the node commits again under load; how
long after a partition heals a node is the writer again; how long a standby takes over from a
killed writer. Each figure is the time from the fault's end to the first batch COMMITTED after
it, over several rounds, with the load's commits per second as the yardstick.

    .venv/bin/python bench/ledger_faults.py [--rounds 10]
"""

import argparse
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from harness.proxy import Proxy
from harness.scratch import scratch_database, terminate_sessions
from harness.soak import Load, NodeProcess
from ledger_throughput import POSTGRES
from origin.ledger import data as ledger_data
from origin.protocol import keys

LEDGER = "faults.origin/dk"
WAIT_S_MAX = 120.0


def figures(name: str, seconds: list[float]) -> None:
    print(
        f"{name:<44} median {statistics.median(seconds):6.2f} s   max {max(seconds):6.2f} s   ({len(seconds)} rounds)"
    )


def terminations(tmp: Path, database: str, issuer: bytes, rounds: int) -> None:
    name = urllib.parse.urlsplit(database).path.lstrip("/")
    node = NodeProcess(tmp, database)
    node.wait_role("active")
    load = Load(node.url, LEDGER, issuer)
    try:
        load.wait_for_more(0, WAIT_S_MAX)
        started, before = time.monotonic(), load.count()
        time.sleep(3)
        rate = (load.count() - before) / (time.monotonic() - started)
        taken = []
        for _ in range(rounds):
            terminate_sessions(POSTGRES, name)
            taken.append(load.wait_for_more(load.count(), WAIT_S_MAX))
            time.sleep(0.5)
    finally:
        load.end()
        node.stop()
    print(f"yardstick: {rate:.0f} batches a second committed under this load (4 clients, 2 readers)")
    figures("sessions terminated -> commits again", taken)
    print(f"reads: {load.reads}, failed: {load.read_failures}")


def partition(tmp: Path, database: str, issuer: bytes, rounds: int) -> None:
    url = urllib.parse.urlsplit(database)
    proxy = Proxy(url.hostname or "127.0.0.1", url.port or 5432)
    node = NodeProcess(tmp, url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}").geturl())
    taken = []
    try:
        node.wait_role("active")
        for _ in range(rounds):
            proxy.cut()
            time.sleep(2)
            proxy.restore()
            taken.append(node.wait_role("active", WAIT_S_MAX))
    finally:
        node.stop()
        proxy.close()
    figures("partition healed -> writer again", taken)


def failover(tmp: Path, database: str, rounds: int) -> None:
    taken = []
    active = NodeProcess(tmp, database)
    active.wait_role("active")
    for _ in range(rounds):
        standby = NodeProcess(tmp, database)
        standby.wait_role("standby")
        active.kill()
        taken.append(standby.wait_role("active", WAIT_S_MAX))
        active = standby
    active.stop()
    figures("writer killed -> standby is the writer", taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    issuer = keys.new_private_key()
    with scratch_database(POSTGRES, "origin_bench") as database, tempfile.TemporaryDirectory() as tmp:
        ledger_data.init(Path(tmp), LEDGER, [keys.public_key(issuer).hex()], database=database)
        terminations(Path(tmp), database, issuer, args.rounds)
        partition(Path(tmp), database, issuer, args.rounds)
        failover(Path(tmp), database, args.rounds)


if __name__ == "__main__":
    main()
