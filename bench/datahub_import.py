"""Import at national speed: a fake DataHub and a ledger node, each its own process, and the
DataHub service importing and certifying a period of every meter (fetch, parse, store, build,
sign, submit, overlapped). Prints measurements certified a second, as a ratio to the same
ledger's rate for pre-built batches of the same kind (publications and issues), posted with as
many in flight, measured in the same run before and after the import.

    .venv/bin/python bench/datahub_import.py [--meters 1000] [--days 30] [--resolution PT15M] [--cores split]

The issue's size is 1,000 meters, a month at 15 minutes: about 2.9 million measurements.

--cores: `shared` lets every process run on every core; `split` (the default on a machine of two
or more) gives the ledger node the first core and the DataHub side (the service importing, and
the fake DataHub) the others, in both the import and the yardstick, as when the ledger and the
DataHub service run on machines of their own. Shared on two cores, the node's verification
workers and the importer take the same two cores, and the ratio says more of the machine than of
the importer.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.soak import NodeProcess, free_port, wait_answering
from harness.trading import pack
from origin.client import http
from origin.datahub import meters, service, synthetic
from origin.datahub.importer import IN_FLIGHT
from origin.ledger import data as ledger_data
from origin.protocol import addresses, keys
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.times import format_time
from origin.protocol.wallet import Wallet

LEDGER = "bench.origin/dk"
DAY_S = 86400
# The yardstick's size, measured before the import and after it (the ledger has grown by the
# import's transactions meanwhile, and a shared machine's speed drifts): the ratio is to their mean.
YARDSTICK_TRANSACTIONS = 60_000


def first_day_s(days: int) -> int:
    """The start of a period of `days` whole days that ended before yesterday: every reading of
    it is there, and its GGOs are young."""
    return (int(time.time()) // DAY_S - days - 2) * DAY_S


def start_fake(args) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-c", "from origin.cli import main; main()", "datahub", "fake", "--port", str(port),
               "--meters", str(args.meters)] + (["--resolution", args.resolution] if args.resolution else [])  # fmt: skip
    fake = subprocess.Popen(command)
    wait_answering(f"http://127.0.0.1:{port}/thirdpartyapi/api/isalive", fake, "the fake DataHub")
    return fake, port


def onboard(svc: service.Service, fleet: list[synthetic.FakeMeter]) -> None:
    """The meters of the authorisations, the issuing body's technologies, the owners' xpubs."""
    svc.sync()
    owners: dict[str, Wallet] = {}
    for i, m in enumerate(fleet):
        _, tech, fuel, _ = synthetic.KINDS[m.kind]
        if tech and fuel:
            meters.set_technology(svc.engine, m.gsrn, tech, fuel)
        meters.set_xpub(svc.engine, m.gsrn, owners.setdefault(m.owner, Wallet.generate()).meter_xpub(i), m.owner)


def yardstick(url: str, issuer_key: bytes, transactions: int) -> float:
    """Transactions a second the ledger commits of pre-built publications and issues, IN_FLIGHT
    batches at a time, as the importer submits them."""
    units = []
    for n in range(transactions // 2):
        key = keys.new_private_key()
        begin = int(time.time()) // DAY_S * DAY_S - 40 * DAY_S + 900 * n
        units.append(tx.publish_and_issue(
            LEDGER, issuer_key, address=addresses.address(addresses.MEASUREMENT, keys.public_key(key)),
            begin=format_time(begin), end=format_time(begin + 900), sector="DK1", type=tx.PRODUCTION, amount=1000 + n,
            tech_type="T020000", fuel_type="F01050100"))  # fmt: skip
    bodies = [canonical(b) for b in pack(iter(units), 1024)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
        outcomes = list(pool.map(lambda b: json.loads(http("POST", f"{url}/v1/batches?wait=true", b, timeout=120)[1]),
                                 bodies))  # fmt: skip
    assert all(o["status"] == "COMMITTED" for o in outcomes), outcomes[:2]
    return sum(len(json.loads(b)["transactions"]) for b in bodies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=40)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--resolution", choices=["PT1H", "PT15M"], default=None)
    parser.add_argument("--database", default=None, help="the service's database (postgresql://...; an empty one); "
                        "SQLite in a temporary folder by default")  # fmt: skip
    cpus = sorted(os.sched_getaffinity(0))
    parser.add_argument("--cores", choices=["split", "shared"], default="split" if len(cpus) > 1 else "shared")
    args = parser.parse_args()
    node_cpus = {cpus[0]} if args.cores == "split" else None
    if node_cpus is not None:
        os.sched_setaffinity(0, set(cpus[1:]))  # this process, the importer, and the fake DataHub it starts
    print(f"cores: {args.cores} (the ledger node on {sorted(node_cpus or cpus)}, the DataHub side on "
          f"{sorted(os.sched_getaffinity(0))})", flush=True)  # fmt: skip
    fake, fake_port = start_fake(args)
    node = None
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            made = service.init(tmp / "datahub", ledger_url="http://127.0.0.1:1", ledger_id=LEDGER,
                                datahub_url=f"http://127.0.0.1:{fake_port}/thirdpartyapi", refresh_token="fake-refresh-token",
                                auth_issuer="http://127.0.0.1:9", database=args.database)  # fmt: skip
            ledger_data.init(tmp / "ledger", LEDGER, [made["issuer_public_key"]])
            node = NodeProcess(tmp / "ledger", None, cpus=node_cpus)
            node.wait_role("active")
            config = json.loads((tmp / "datahub" / service.CONFIG).read_text())
            config["ledger_url"] = node.url
            (tmp / "datahub" / service.CONFIG).write_text(json.dumps(config))
            svc = service.Service(tmp / "datahub")
            onboard(svc, synthetic.fleet(args.meters, resolution=args.resolution))
            before = yardstick(node.url, svc.importer.issuer_key, YARDSTICK_TRANSACTIONS)
            print(f"yardstick before the import: {before:,.0f} transactions/s", flush=True)
            size_before = json.loads(http("GET", f"{node.url}/healthz")[1])["size"]
            started = time.perf_counter()
            begin = first_day_s(args.days)
            report = svc.importer.run(begin, begin + args.days * DAY_S, sync=False)
            elapsed = time.perf_counter() - started
            size = json.loads(http("GET", f"{node.url}/healthz")[1])["size"]
            transactions = sum(len(json.loads(http("GET", f"{node.url}/v1/entries/{s}")[1])["batch"]["transactions"])
                               for s in range(size_before, size))  # fmt: skip
            print(f"{args.meters} meters x {args.days} days ({args.resolution or 'mixed resolutions'}): "
                  f"{report.readings} readings, {report.stored} stored, {report.gaps} gaps; {report.published} "
                  f"measurements certified in {report.batches} batches ({transactions} transactions)")  # fmt: skip
            rate = transactions / elapsed
            print(f"end to end: {report.published / elapsed:,.0f} measurements/s = {rate:,.0f} transactions/s "
                  f"({elapsed:.1f} s: fetch, parse, store, build, sign, submit)")  # fmt: skip
            after = yardstick(node.url, svc.importer.issuer_key, YARDSTICK_TRANSACTIONS)
            ledger_rate = (before + after) / 2
            print(f"yardstick: the same ledger commits {before:,.0f} transactions/s of pre-built batches of the same "
                  f"kind before the import and {after:,.0f} after it, {IN_FLIGHT} in flight; the import runs at "
                  f"{rate / ledger_rate:.2f} of their mean (goal 0.8)")  # fmt: skip
            svc.stop()
    finally:
        fake.terminate()
        fake.wait()
        if node is not None:
            node.stop()


if __name__ == "__main__":
    main()
