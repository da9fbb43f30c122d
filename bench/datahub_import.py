"""The DataHub service end to end: a fake DataHub and a ledger node, each its own process,
and the importer fetching, storing and publishing a period of every meter. Prints measurements
imported and published a second, with the ledger's own throughput on the same node (the same
kind of batches, pre-built, posted one after another) as yardstick.

    .venv/bin/python bench/datahub_import.py [--meters 40] [--days 2]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.soak import Client, NodeProcess, free_port
from origin.client import http
from origin.datahub import meters, service, synthetic
from origin.ledger import data as ledger_data
from origin.protocol.canonical import canonical
from origin.protocol.wallet import Wallet

LEDGER = "bench.origin/dk"
DAY_S = 86400
FIRST_DAY_S = 1_761_350_400  # 2025-10-25T00:00:00Z: a week with a 25-hour day in it


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=40)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, "-c", "from origin.cli import main; main()", "datahub", "fake",
                             "--port", str(fake_port), "--meters", str(args.meters)])  # fmt: skip
    node = None
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            made = service.init(tmp / "datahub", ledger_url="http://127.0.0.1:0", ledger_id=LEDGER,
                                datahub_url=f"http://127.0.0.1:{fake_port}/thirdpartyapi", refresh_token="fake-refresh-token")  # fmt: skip
            ledger_data.init(tmp / "ledger", LEDGER, [made["issuer_public_key"]])
            node = NodeProcess(tmp / "ledger", None)
            node.wait_role("active")
            config = json.loads((tmp / "datahub" / service.CONFIG).read_text())
            config["ledger_url"] = node.url
            (tmp / "datahub" / service.CONFIG).write_text(json.dumps(config))
            svc = service.Service(tmp / "datahub")
            owners = {}
            for i, m in enumerate(synthetic.fleet(args.meters)):
                kind = synthetic.KINDS[m.kind]
                wallet = owners.setdefault(m.owner, Wallet.generate())
                meters.register(svc.engine, gsrn=m.gsrn, type="PRODUCTION" if kind[0] == "E18" else "CONSUMPTION",
                                sector=m.sector, owner=m.owner, tech_type=kind[1], fuel_type=kind[2],
                                meter_xpub=wallet.meter_xpub(i))  # fmt: skip
            while True:
                try:
                    if http("GET", f"http://127.0.0.1:{fake_port}/thirdpartyapi/api/isalive", timeout=1)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)

            size_before = json.loads(http("GET", f"{node.url}/healthz")[1])["size"]
            started = time.perf_counter()
            report = svc.importer.run(FIRST_DAY_S, FIRST_DAY_S + args.days * DAY_S)
            elapsed = time.perf_counter() - started
            entries = json.loads(http("GET", f"{node.url}/healthz")[1])["size"] - size_before
            transactions = sum(len(json.loads(http("GET", f"{node.url}/v1/entries/{s}")[1])["batch"]["transactions"])
                               for s in range(size_before, size_before + entries))  # fmt: skip
            print(f"{args.meters} meters x {args.days} days: {report.readings} readings, {report.stored} stored, "
                  f"{report.gaps} gaps; {report.published} measurements published in {report.batches} batches "
                  f"({transactions} transactions)")  # fmt: skip
            rate = report.published / elapsed
            print(f"end to end: {rate:,.0f} measurements/s = {transactions / elapsed:,.0f} transactions/s "
                  f"({elapsed:.1f} s: fetch, parse, store, sign, publish)")  # fmt: skip

            client = Client(LEDGER, svc.importer.issuer_key, random.Random(5), measurements=(30, 30))
            bodies = [canonical(client.batch()[0]) for _ in range(max(4, report.batches))]  # 60 tx, under 65,000 B
            started = time.perf_counter()
            for body in bodies:
                assert json.loads(http("POST", f"{node.url}/v1/batches?wait=true", body)[1])["status"] == "COMMITTED"
            ledger_rate = sum(len(json.loads(b)["transactions"]) for b in bodies) / (time.perf_counter() - started)
            print(f"yardstick: the same ledger commits {ledger_rate:,.0f} transactions/s of such batches posted one "
                  f"after another; the import runs at {transactions / elapsed / ledger_rate:.2f} of that")  # fmt: skip
            svc.stop()
    finally:
        fake.terminate()
        fake.wait()
        if node is not None:
            node.stop()


if __name__ == "__main__":
    main()
