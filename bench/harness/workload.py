"""A realistic stream of batches for the benchmarks: the issuing body publishes an hour of
every synthetic meter (the fake DataHub's profiles: solar, wind, offshore, households, a
factory) and issues GGOs; then the GGOs change hands as `harness.trading` has them."""

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bip32 import BIP32

from harness.trading import Consumption, Issued, pack, trades
from origin.datahub import gsrn, synthetic
from origin.protocol import addresses, wallet
from origin.protocol import transactions as tx
from origin.protocol.addresses import GGO
from origin.protocol.keys import public_key
from origin.protocol.times import format_time

HOUR_S = 3600
DAY_S = 86400


@dataclass
class Owner:
    name: str
    wallet: wallet.Wallet
    next_receive: int = 0

    def receive(self) -> tuple[bytes, str]:
        """A fresh receive key m/0'/n and its GGO address; never reused."""
        key = self.wallet.receive_key(self.next_receive)
        self.next_receive += 1
        return key, addresses.address(GGO, public_key(key))


@dataclass
class Workload:
    ledger: str
    issuer_key: bytes
    producers: int = 4
    consumers: int = 4
    hours: int = 24
    start_s: int = field(default_factory=lambda: (int(time.time()) // DAY_S - 1) * DAY_S)  # yesterday
    sector: str = "DK1"
    seed: int = 1

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        kinds = ["solar", "wind", "offshore"]
        fleet = [(kinds[i % 3], f"producer-{i}") for i in range(self.producers)]
        fleet += [("household", f"consumer-{i}") for i in range(self.consumers)]
        self.meters = []  # (FakeMeter, Owner, issuer's view of its xpub)
        for i, (kind, name) in enumerate(fleet):
            owner = Owner(name, wallet.Wallet(BIP32.from_seed(rng.randbytes(32))))
            meter = synthetic.FakeMeter(gsrn.make(f"57131{self.seed:05d}{i:07d}"), kind, self.sector, "PT1H", name)
            self.meters.append((meter, owner, BIP32.from_xpub(owner.wallet.meter_xpub(0))))
        self.trader = Owner("trader", wallet.Wallet(BIP32.from_seed(rng.randbytes(32))))

    def units(self) -> Iterator[list[dict]]:
        """Groups of transactions that must share a batch, in an order the rules accept."""
        issued: list[Issued] = []
        consumption: dict[tuple[str, str], list[Consumption]] = {}
        for h in range(self.hours):
            begin_s = self.start_s + h * HOUR_S
            period = {"begin": format_time(begin_s), "end": format_time(begin_s + HOUR_S)}
            for meter, owner, view in self.meters:
                address = wallet.measurement_address(view, begin_s)
                amount = synthetic.hourly_wh(meter, begin_s)
                key = owner.wallet.measurement_key(0, begin_s)
                _, tech, fuel, _ = synthetic.KINDS[meter.kind]
                if tech is None:
                    slot = Consumption(key, address, amount, owner.receive)
                    consumption.setdefault((period["begin"], period["end"]), []).append(slot)
                unit = tx.publish_and_issue(
                    self.ledger, self.issuer_key, address=address, sector=meter.sector, amount=amount,
                    type=tx.CONSUMPTION if tech is None else tx.PRODUCTION, tech_type=tech, fuel_type=fuel, **period)  # fmt: skip
                if len(unit) == 2:  # a GGO was issued
                    issued.append(Issued(key, unit[1]["payload"]["address"], amount, (period["begin"], period["end"])))
                yield unit
        yield from trades(self.ledger, issued, consumption, self.trader.receive)

    def batches(self, transactions_per_batch: int = 300) -> Iterator[dict]:
        return pack(self.units(), transactions_per_batch)
