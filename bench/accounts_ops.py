"""The account service end to end: a ledger node and the account service, each its own process,
and clients calling the service's API. Prints, each as a ratio to the same ledger's commit rate
measured in the same run (pre-built batches of the same transactions):
- operations a second: transfers of whole GGOs from one account to another, each an API call,
  a reservation, a signed batch, the ledger's outcome and the inventory updated;
- the inventory's catch-up: log entries (and transactions) a second that a fresh inventory
  follows from entry 0;
- the service's memory (peak RSS) after following the log with --ggos GGOs held, so that two
  runs (10 thousand and 1 million) show whether it stays flat.

    .venv/bin/python bench/accounts_ops.py [--ggos 10000] [--meters 100] [--ops 2000] [--clients 16]
        [--backend sqlite|postgres]

GGOs are issued straight to the ledger by the bench (as the DataHub service would), at the
measurement addresses of the account's meters; the meters are written to the account service's
database (no DataHub service runs here).
"""

import argparse
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bip32 import BIP32
from sqlalchemy import insert

from harness.issuer import Issuer
from harness.scratch import scratch_database
from harness.soak import NodeProcess, free_port, serving, wait_answering
from harness.trading import pack
from origin.accounts import db, wallets
from origin.accounts import service as accounts_service
from origin.accounts.custody import LocalKek
from origin.client import http
from origin.ledger import data as ledger_data
from origin.protocol import addresses, keys
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.times import format_time

LEDGER = "bench.origin/dk"
HOUR_S = 3600
IN_FLIGHT = 4
POSTGRES = os.environ.get("ORIGIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_s(pid: int) -> float:
    """User and system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post_all(url: str, bodies: list[bytes]) -> float:
    """Post batches IN_FLIGHT at a time; transactions committed a second."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
        outcomes = list(pool.map(lambda b: json.loads(http("POST", f"{url}/v1/batches?wait=true", b, timeout=300)[1]),
                                 bodies))  # fmt: skip
    assert all(o["status"] == "COMMITTED" for o in outcomes), outcomes[:2]
    return sum(b.count(b'"signature":') for b in bodies) / (time.perf_counter() - started)


def issue(url: str, issuer: bytes, meter_xpubs: list[str], count: int, first_hour_s: int) -> int:
    """`count` GGOs issued to the meters, hour after hour; the batches posted."""
    views = [BIP32.from_xpub(x) for x in meter_xpubs]
    units, made = [], 0
    hour = first_hour_s
    while made < count:
        for view in views:
            if made == count:
                break
            pub = bytes(view.get_pubkey_from_path([hour // 60]))
            units.append(tx.publish_and_issue(LEDGER, issuer, address=addresses.address(addresses.MEASUREMENT, pub),
                                              begin=format_time(hour), end=format_time(hour + HOUR_S), sector="DK1",
                                              type=tx.PRODUCTION, amount=1000 + made % 997, tech_type="T020000",
                                              fuel_type="F01050100"))  # fmt: skip
            made += 1
        hour += HOUR_S
        if len(units) >= 20_000 or made == count:
            post_all(url, [canonical(b) for b in pack(iter(units), 1024)])
            units = []
            print(f"  issued {made:,} GGOs", file=sys.stderr)
    return made


def yardstick(url: str, issuer: bytes, count: int) -> float:
    """The ledger's commit rate of pre-built transfers (1024 a batch), transactions a second."""
    units, transfers = [], []
    begin = (int(time.time()) // HOUR_S - 24 * 30) * HOUR_S
    for n in range(count):
        key = keys.new_private_key()
        m = addresses.address(addresses.MEASUREMENT, keys.public_key(key))
        units.append(tx.publish_and_issue(LEDGER, issuer, address=m, begin=format_time(begin + HOUR_S * (n % 500)),
                                          end=format_time(begin + HOUR_S * (n % 500 + 1)), sector="DK1",
                                          type=tx.PRODUCTION, amount=1000, tech_type="T020000", fuel_type="F01050100"))  # fmt: skip
        to = addresses.address(addresses.GGO, keys.public_key(keys.new_private_key()))
        transfers.append([tx.transfer_ggo(LEDGER, key, ggo=addresses.in_namespace(addresses.GGO, m), to=to)])
    post_all(url, [canonical(b) for b in pack(iter(units), 1024)])
    return post_all(url, [canonical(b) for b in pack(iter(transfers), 1024)])


def start_service(folder: Path, kek: Path) -> tuple[subprocess.Popen, str]:
    """`origin accounts serve` in a process of its own: it starts following the log at once."""
    port = free_port()
    command = [sys.executable, "-c", "from origin.cli import main; main()", "accounts", "serve", "--data", str(folder),
               "--kek", str(kek), "--port", str(port)]  # fmt: skip
    log = open(folder / "serve.log", "ab")  # noqa: SIM115 (open while the process runs)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_answering(f"{url}/openapi.json", process, f"the account service (see {folder / 'serve.log'})")
    return process, url


def call(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = http(method, url + path, None if body is None else json.dumps(body).encode(), timeout=300,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
    assert status < 300, (status, answer[:300])
    return json.loads(answer)


def wait_followed(url: str, token: str, count: int, started: float) -> float:
    """Seconds from `started` until the account lists `count` GGOs."""
    while True:
        summary = call(url, token, "GET", "/v1/ggos/summary?resolution=year")
        if sum(s["ggos"] for s in summary) >= count:
            return time.perf_counter() - started
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ggos", type=int, default=10_000, help="GGOs the account holds")
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--ops", type=int, default=2_000, help="transfers through the API")
    parser.add_argument("--clients", type=int, default=16, help="concurrent API clients")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                        help="the ledger's and the account service's databases")  # fmt: skip
    args = parser.parse_args()
    with contextlib.ExitStack() as scratch:
        databases = [None, None]
        if args.backend == "postgres":
            databases = [scratch.enter_context(scratch_database(POSTGRES, "origin_bench")) for _ in range(2)]
        run(args, *databases)


def ledger_and_accounts(tmp: Path, issuer: bytes, ledger_database: str | None, accounts_database: str | None,
                        auth_issuer: str) -> tuple[NodeProcess, Path, Path]:  # fmt: skip
    """A ledger node (its own process, the issuer's key in its genesis) and an account service's
    folder pointing at it: the node, the folder and its KEK file."""
    ledger_data.init(tmp / "ledger", LEDGER, [keys.public_key(issuer).hex()], database=ledger_database)
    node = NodeProcess(tmp / "ledger", ledger_database)
    node.wait_role("active")
    kek = tmp / "kek.hex"
    kek.write_text(LocalKek.generate_hex())
    accounts_service.init(tmp / "accounts", ledger_url=node.url, datahub_url="http://127.0.0.1:9", kek=kek,
                          database=accounts_database, auth_issuer=auth_issuer)  # fmt: skip
    return node, tmp / "accounts", kek


def run(args: argparse.Namespace, ledger_database: str | None, accounts_database: str | None) -> None:
    issuer = keys.new_private_key()
    node = service_process = None
    port = free_port()
    tokens_issuer = Issuer(f"http://127.0.0.1:{port}")  # the authorization server's keys, its JWKS served
    with tempfile.TemporaryDirectory() as tmp_name, serving(tokens_issuer.app(), port):
        tmp = Path(tmp_name)
        try:
            node, folder, kek = ledger_and_accounts(tmp, issuer, ledger_database, accounts_database, tokens_issuer.url)
            svc = accounts_service.Service(folder, kek=kek)
            producer = wallets.create(svc.engine, svc.kek, "Producer", int(time.time()))
            buyer = wallets.create(svc.engine, svc.kek, "Buyer", int(time.time()))
            tokens = {a.id: tokens_issuer.owner(a.id) for a in (producer, buyer)}
            xpubs = [wallets.meter_xpub(svc.engine, svc.kek, producer.id, i) for i in range(args.meters)]
            with svc.engine.begin() as conn:
                conn.execute(insert(db.meters), [{"account": producer.id, "idx": i, "gsrn": f"57131300{i:010d}",
                                                  "xpub": x, "type": "PRODUCTION", "sector": "DK1", "added_s": 0}
                                                 for i, x in enumerate(xpubs)])  # fmt: skip
            svc.stop()
            hours = -(-args.ggos // args.meters)
            first = (int(time.time()) // HOUR_S - hours - 48) * HOUR_S
            started = time.perf_counter()
            issue(node.url, issuer, xpubs, args.ggos, first)
            print(f"issued {args.ggos:,} GGOs to {args.meters} meters in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)  # fmt: skip
            size = json.loads(http("GET", f"{node.url}/healthz")[1])["size"]
            launched = time.perf_counter()  # the catch-up's time includes the service's start (about a second)
            service_process, url = start_service(folder, kek)
            catch_up_s = wait_followed(url, tokens[producer.id], args.ggos, launched)
            peak = rss_peak_mib(service_process.pid)
            transactions = 2 * args.ggos
            print(f"catch-up: {size - 1:,} entries ({transactions:,} transactions) followed in {catch_up_s:.1f} s = "
                  f"{(size - 1) / catch_up_s:,.0f} entries/s, {transactions / catch_up_s:,.0f} transactions/s; "
                  f"service peak RSS {peak:.0f} MiB holding {args.ggos:,} GGOs")  # fmt: skip

            page = call(url, tokens[producer.id], "GET", f"/v1/ggos?state=available&limit={min(args.ops, 10_000)}")
            chosen = [g["address"] for g in page["ggos"]][: args.ops]

            def transfer(address: str) -> str:
                op = call(url, tokens[producer.id], "POST", "/v1/transfers",
                          {"ggo": address, "to": {"account": buyer.id}})  # fmt: skip
                return str(op["status"])

            started = time.perf_counter()
            cpu_before = cpu_s(service_process.pid), cpu_s(node.process.pid)
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                statuses = list(pool.map(transfer, chosen))
            elapsed = time.perf_counter() - started
            service_cpu = cpu_s(service_process.pid) - cpu_before[0]
            ledger_cpu = cpu_s(node.process.pid) - cpu_before[1]
            assert statuses.count("COMMITTED") == len(chosen), {s: statuses.count(s) for s in set(statuses)}
            ops_rate = len(chosen) / elapsed
            peak_after_ops = rss_peak_mib(service_process.pid)
            service_process.terminate()  # the yardstick runs on a machine as quiet as the operations had it
            service_process.wait(timeout=30)
            service_process = None
            ledger_rate = yardstick(node.url, issuer, min(20_000, max(4_000, len(chosen) * 4)))
            print(f"operations: {len(chosen):,} transfers through the API, {args.clients} clients, in {elapsed:.1f} s "
                  f"= {ops_rate:,.0f} operations/s; CPU per operation: account service "
                  f"{service_cpu / len(chosen) * 1000:.1f} ms, ledger {ledger_cpu / len(chosen) * 1000:.1f} ms")  # fmt: skip
            print(f"yardstick: the same ledger commits {ledger_rate:,.0f} transfers/s pre-built (1024 a batch, "
                  f"{IN_FLIGHT} in flight)")  # fmt: skip
            print(f"ratios to it: operations {ops_rate / ledger_rate:.3f}; catch-up "
                  f"{transactions / catch_up_s / ledger_rate:.2f} (transactions followed / committed a second)")  # fmt: skip
            print(
                f"service peak RSS {peak_after_ops:.0f} MiB after the operations; this machine: {os.cpu_count()} cores"
            )
        finally:
            if service_process is not None:
                service_process.terminate()
                service_process.wait(timeout=30)
            if node is not None:
                node.stop()


if __name__ == "__main__":
    main()
