"""End to end over HTTP: the node as its own process (`origin ledger serve`), many concurrent
clients each posting batches with ?wait=true, and readers fetching records. Prints committed
transactions a second and the p50/p99 latency of `POST /v1/batches?wait=true` and
`GET /v1/state/{address}`, with the single-core verification rate as yardstick.

    .venv/bin/python bench/ledger_http.py [--backend sqlite|postgres] [--clients 32]
        [--batches-per-client 10] [--batch 100] [--readers 8]
"""

import argparse
import http.client
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from harness.soak import Client, NodeProcess
from ledger_throughput import database_url, verify_rate
from origin.ledger import data as ledger_data
from origin.protocol import keys
from origin.protocol.canonical import canonical, parse

LEDGER = "http.origin/dk"


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batches-per-client", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100, help="about this many transactions a batch")
    parser.add_argument("--readers", type=int, default=8)
    args = parser.parse_args()

    yardstick = verify_rate()
    print(f"yardstick: {yardstick:,.0f} signature verifications/s on one core")
    issuer = keys.new_private_key()
    with database_url(args.backend) as database, tempfile.TemporaryDirectory() as tmp:
        ledger_data.init(Path(tmp), LEDGER, [keys.public_key(issuer).hex()], database=database)
        rng = random.Random(7)
        bodies = []
        for _ in range(args.clients):
            pairs = (args.batch // 2, args.batch // 2)  # publish_measurement + issue_ggo
            client = Client(LEDGER, issuer, random.Random(rng.random()), measurements=pairs)
            bodies.append([canonical(client.batch()[0]) for _ in range(args.batches_per_client)])
        total_tx = sum(len(parse(b)["transactions"]) for bs in bodies for b in bs)
        print(f"{args.clients} clients x {args.batches_per_client} batches of {args.batch} transactions "
              f"= {total_tx} transactions; {args.readers} readers; backend {args.backend}")  # fmt: skip
        node = NodeProcess(Path(tmp), database)
        try:
            node.wait_role("active")
            run(node, bodies, args.readers, total_tx, yardstick)
        finally:
            node.stop()


def run(node, bodies, readers: int, total_tx: int, yardstick: float) -> None:
    post_s, get_s, addresses, failures = [], [], [], []
    lock, done = threading.Lock(), threading.Event()

    def writer(batches):
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        for body in batches:
            started = time.perf_counter()
            conn.request("POST", "/v1/batches?wait=true", body, {"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            took = time.perf_counter() - started
            with lock:
                post_s.append(took)
                if answer.get("status") != "COMMITTED":
                    failures.append(answer)
                else:
                    addresses.append(parse(body)["transactions"][0]["payload"]["address"])

    def reader(rng):
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        while not done.is_set():
            with lock:
                address = rng.choice(addresses) if addresses else None
            if address is None:
                time.sleep(0.01)
                continue
            started = time.perf_counter()
            conn.request("GET", f"/v1/state/{address}")
            status = conn.getresponse()
            status.read()
            took = time.perf_counter() - started
            with lock:
                get_s.append(took)

    writers = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    reading = [threading.Thread(target=reader, args=(random.Random(i),)) for i in range(readers)]
    started = time.perf_counter()
    for t in writers + reading:
        t.start()
    for t in writers:
        t.join()
    elapsed = time.perf_counter() - started
    done.set()
    for t in reading:
        t.join()
    rate = total_tx / elapsed
    print(f"committed: {rate:,.0f} transactions/s = {rate / yardstick:.2f} x the yardstick "
          f"({total_tx} in {elapsed:.1f} s; {len(failures)} not committed)")  # fmt: skip
    print(f"POST /v1/batches?wait=true: {len(post_s)} requests, p50 {1000 * percentile(post_s, 50):.0f} ms, "
          f"p99 {1000 * percentile(post_s, 99):.0f} ms")  # fmt: skip
    print(f"GET /v1/state/{{address}}:   {len(get_s)} requests, p50 {1000 * percentile(get_s, 50):.1f} ms, "
          f"p99 {1000 * percentile(get_s, 99):.1f} ms, {len(get_s) / elapsed:,.0f}/s")  # fmt: skip


if __name__ == "__main__":
    main()
