"""Automatic routing and hourly matching at scale. A ledger node in its own process; the account
service in this one, with --accounts accounts: half producers, half consumers, each producer with
accepted "up to the receiver's unmatched consumption" agreements to two consumers (so as many
agreements as accounts; the second consumer reads at the same resolution), automation on for
all, and --days of production and consumption (every other pair reads every 15 minutes, the
rest hourly). Prints:
- GGOs routed a second: from the inventory seeing the data until every queue is empty (the
  producers' runs transfer, the consumers' runs retire), as a ratio to the same ledger's commit
  rate for pre-built batches measured in the same run;
- the time to compute one account's matching report for a year of 15-minute consumption.

    .venv/bin/python bench/accounts_routing.py [--accounts 1000] [--days 7] [--backend postgres]
"""

import argparse
import contextlib
import os
import random
import tempfile
import time
from pathlib import Path

from bip32 import BIP32
from sqlalchemy import func, insert, select

from accounts_ops import HOUR_S, IN_FLIGHT, LEDGER, POSTGRES, ledger_and_accounts, post_all, yardstick
from harness.scratch import scratch_database
from harness.trading import pack
from origin.accounts import db, matching, wallets
from origin.accounts import service as accounts_service
from origin.protocol import addresses, keys
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.times import format_time

DAY_S = 86400


def seed(url: str, issuer: bytes, pairs: list[tuple[str, str, int]], first_s: int, days: int) -> int:
    """Production for each producer and consumption for its consumer, every period of the days;
    the transactions posted."""
    units = []
    for producer_xpub, consumer_xpub, step in pairs:
        views = BIP32.from_xpub(producer_xpub), BIP32.from_xpub(consumer_xpub)
        for begin in range(first_s, first_s + days * DAY_S, step):
            for view, kind in zip(views, (tx.PRODUCTION, tx.CONSUMPTION), strict=True):
                amount = random.randint(200, 1200) * step // HOUR_S
                m = addresses.address(addresses.MEASUREMENT, bytes(view.get_pubkey_from_path([begin // 60])))
                units.append((begin, tx.publish_and_issue(LEDGER, issuer, address=m, begin=format_time(begin),
                                                          end=format_time(begin + step), sector="DK1", type=kind,
                                                          amount=amount, tech_type="T010000", fuel_type="F01010100")))  # fmt: skip
    units.sort(key=lambda u: u[0])  # in time order, as the DataHub service claims them
    post_all(url, [canonical(b) for b in pack(iter(u for _, u in units), 1024)])
    return sum(len(u) for _, u in units)


def matching_year(svc: accounts_service.Service) -> tuple[int, float]:
    """One account with a year of 15-minute consumption, two thirds of it partly retired; the
    seconds its report's figures take (days, weeks, months, years, and the retired GGOs)."""
    account = wallets.create(svc.engine, svc.kek, "A year of quarters", 0).id
    begin = (int(time.time()) // DAY_S - 400) * DAY_S
    rows, ggos, retired = [], [], []
    for n in range(365 * 96):
        start = begin + n * 900
        amount = random.randint(50, 400)
        done = amount // 3 if n % 3 else 0
        address = f"fbb4f9{n:064x}"
        rows.append({"address": address, "account": account, "meter": 0, "begin_s": start, "end_s": start + 900,
                     "sector": "DK1", "type": "CONSUMPTION", "amount_wh": amount, "retired_wh": done, "seq": 1})  # fmt: skip
        if done:
            ggo = f"62fe8a{n:064x}"
            ggos.append({"address": ggo, "account": account, "origin": ggo, "begin_s": start, "end_s": start + 900,
                         "amount_wh": done, "sector": "DK1", "tech_type": "T020000", "fuel_type": "F01050100",
                         "source": "received", "key_path": "0'/0", "state": "retired", "seq": 1})  # fmt: skip
            retired.append({"ggo": ggo, "account": account, "measurement": address, "amount_wh": done, "seq": 2})
    with svc.engine.begin() as conn:
        for table, values in ((db.measurements, rows), (db.ggos, ggos), (db.retirements, retired)):
            for i in range(0, len(values), 5000):
                conn.execute(insert(table), values[i : i + 5000])
    started = time.perf_counter()
    with svc.engine.connect() as conn:  # what GET /v1/report.html computes
        matching.matchings(conn, account, begin, begin + 366 * DAY_S, ("day", "week", "month", "year"))
        matching.retired_ggos(conn, account, begin, begin + 366 * DAY_S)
    return len(rows), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    random.seed(7)
    with contextlib.ExitStack() as scratch:
        databases: list[str | None] = [None, None]
        if args.backend == "postgres":
            databases = [scratch.enter_context(scratch_database(POSTGRES, "origin_bench")) for _ in range(2)]
        run(args, *databases)


def run(args: argparse.Namespace, ledger_database: str | None, accounts_database: str | None) -> None:
    issuer = keys.new_private_key()
    node = None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            node, folder, kek = ledger_and_accounts(tmp, issuer, ledger_database, accounts_database,
                                                    "http://127.0.0.1:9")  # its API is not called here  # fmt: skip
            svc = accounts_service.Service(folder, kek=kek)
            pairs, people = [], []
            for i in range(args.accounts // 2):
                producer = wallets.create(svc.engine, svc.kek, f"producer {i}", 0).id
                consumer = wallets.create(svc.engine, svc.kek, f"consumer {i}", 0).id
                xpubs = [wallets.meter_xpub(svc.engine, svc.kek, a, 0) for a in (producer, consumer)]
                with svc.engine.begin() as conn:
                    conn.execute(insert(db.meters), [
                        {"account": a, "idx": 0, "gsrn": f"5713130{2 * i + k:011d}", "xpub": x, "type": kind,
                         "sector": "DK1", "added_s": 0}
                        for k, (a, x, kind) in enumerate(((producer, xpubs[0], "PRODUCTION"),
                                                          (consumer, xpubs[1], "CONSUMPTION")))])  # fmt: skip
                for a in (producer, consumer):
                    svc.automation.enable(a, True)
                people.append((producer, consumer))
                pairs.append((xpubs[0], xpubs[1], 900 if i % 2 else HOUR_S))
            for i, (producer, consumer) in enumerate(people):  # two agreements a producer: as many as accounts
                for priority, (_, receiver) in enumerate((people[i], people[(i + 2) % len(people)])):
                    if priority and receiver == consumer:
                        continue
                    offer = svc.agreements.propose(producer, sender=producer, receiver=receiver, begin_s=0, end_s=None,
                                                   sectors=None, technologies=None, rule="unmatched", rule_value=None,
                                                   priority=priority)  # fmt: skip
                    svc.agreements.decide(receiver, offer["id"], "accept")
            with svc.engine.connect() as conn:
                agreements = conn.execute(select(func.count()).select_from(db.agreements)).scalar_one()
            first = (int(time.time()) // DAY_S - args.days - 2) * DAY_S
            posted = seed(node.url, issuer, pairs, first, args.days)
            print(f"{len(pairs) * 2} accounts, {agreements} agreements; {posted:,} transactions of production and "
                  f"consumption over {args.days} days", flush=True)  # fmt: skip
            started = time.perf_counter()
            runs = 0
            while True:
                svc.follow()
                with svc.engine.connect() as conn:
                    runs += conn.execute(select(func.count(db.automation_queue.c.account.distinct()))).scalar_one()
                if not svc.automation.run_due():
                    svc.follow()
                    with svc.engine.connect() as conn:
                        if not conn.execute(select(func.count()).select_from(db.automation_queue)).scalar_one():
                            break
            elapsed = time.perf_counter() - started
            with svc.engine.connect() as conn:
                spent = conn.execute(select(func.count()).select_from(db.ggos).where(db.ggos.c.source == "issued",
                                                                                     db.ggos.c.state != "available")).scalar_one()  # fmt: skip
                retired = conn.execute(select(func.count()).select_from(db.retirements)).scalar_one()
                failed = conn.execute(select(func.count()).select_from(db.operations)
                                      .where(db.operations.c.status == "FAILED")).scalar_one()  # fmt: skip
            routed = spent + retired
            rate = routed / elapsed
            ledger_rate = yardstick(node.url, issuer, 8000)
            print(f"routing: {routed:,} GGOs routed ({spent:,} sent under agreements, {retired:,} retired) in {runs} runs, "
                  f"{elapsed:.1f} s = {rate:,.0f} GGOs/s; {failed} operations refused by the ledger")  # fmt: skip
            print(f"yardstick: the same ledger commits {ledger_rate:,.0f} transfers/s pre-built ({IN_FLIGHT} in flight); "
                  f"routing runs at {rate / ledger_rate:.3f} of it")  # fmt: skip
            measurements, seconds = matching_year(svc)
            print(f"matching report: a year of 15-minute consumption ({measurements:,} measurements): days, weeks, "
                  f"months, years and the retired GGOs in {seconds * 1000:.0f} ms; this machine: {os.cpu_count()} cores")  # fmt: skip
            svc.stop()
        finally:
            if node is not None:
                node.stop()


if __name__ == "__main__":
    main()
