"""A realistic stream of batches, as the platform's clients would submit them: the issuing
body publishes hourly measurements of producing and consuming meters and issues GGOs; each
GGO is split between a consumer and a trader; the consumer retires its part against its
consumption measurement (retire_ggo and update_settlement in one batch), and the trader passes
its part on. Every key follows the wallet conventions of PROTOCOL.md section 4.

Used by `origin demo` and by the benchmarks.
"""

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bip32 import BIP32

from origin.protocol import addresses, transactions as tx, wallet
from origin.protocol.addresses import GGO, SETTLEMENT
from origin.protocol.keys import public_key
from origin.protocol.times import format_time

HOUR_S = 3600
DAY_S = 86400
# The Danish platform's (technology, fuel) pairs, shared/data/README.md.
KINDS = {
    "solar": ("T010000", "F01040100"),
    "wind": ("T020000", "F01050100"),
    "offshore": ("T020002", "F01050100"),
}


def production_wh(kind: str, hour_of_day: int, day: int, capacity_wh: int, rng: random.Random) -> int:
    """Solar follows the sun; wind swings over days and gusts within them."""
    if kind == "solar":
        sun = math.sin(math.pi * (hour_of_day - 5) / 14) if 5 <= hour_of_day <= 19 else 0.0
        return int(capacity_wh * max(0.0, sun) * rng.uniform(0.6, 1.0))
    weather = 0.5 + 0.45 * math.sin(2 * math.pi * day / 5 + rng.uniform(-0.3, 0.3))
    return int(capacity_wh * max(0.0, min(1.0, weather + rng.uniform(-0.15, 0.15))))


def consumption_wh(hour_of_day: int, base_wh: int, rng: random.Random) -> int:
    """A household's day: low at night, peaks in the morning and the evening."""
    shape = 0.4 + 0.3 * math.exp(-((hour_of_day - 7) ** 2) / 4) + 0.6 * math.exp(-((hour_of_day - 18) ** 2) / 6)
    return int(base_wh * shape * rng.uniform(0.8, 1.2))


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
class Meter:
    owner: Owner
    index: int  # the owner's i in m/1'/i'
    kind: str  # solar, wind, offshore or consumption
    sector: str
    size_wh: int
    xpub: str = ""

    def __post_init__(self):
        self.xpub = self.owner.wallet.meter_xpub(self.index)
        self._issuer_view = BIP32.from_xpub(self.xpub)

    def measurement_address(self, begin_s: int) -> str:
        """What the issuing body derives from the meter's xpub alone."""
        return wallet.measurement_address(self._issuer_view, begin_s)


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
    owners: list = field(default_factory=list)
    meters: list = field(default_factory=list)

    def __post_init__(self):
        rng = random.Random(self.seed)
        self._rng = rng

        def owner(name):
            o = Owner(name, wallet.Wallet(BIP32.from_seed(rng.randbytes(32))))
            self.owners.append(o)
            return o

        kinds = list(KINDS)
        for i in range(self.producers):
            kind = kinds[i % len(kinds)]
            self.meters.append(Meter(owner(f"producer-{i}"), 0, kind, self.sector, 2_000_000))
        for i in range(self.consumers):
            self.meters.append(Meter(owner(f"consumer-{i}"), 0, "consumption", self.sector, 1_000_000))
        self.trader = owner("trader")

    @property
    def production_meters(self) -> list[Meter]:
        return [m for m in self.meters if m.kind != "consumption"]

    @property
    def consumption_meters(self) -> list[Meter]:
        return [m for m in self.meters if m.kind == "consumption"]

    def units(self) -> Iterator[list[dict]]:
        """Groups of transactions that must share a batch, in an order the rules accept."""
        rng, L, ik = self._rng, self.ledger, self.issuer_key
        issued = []  # (meter, begin_s, ggo address, amount)
        consumption = {}  # (consumer meter index, begin_s) -> (address, remaining Wh)
        for h in range(self.hours):
            begin_s = self.start_s + h * HOUR_S
            period = {"begin": format_time(begin_s), "end": format_time(begin_s + HOUR_S)}
            for meter in self.meters:
                address = meter.measurement_address(begin_s)
                hour, day = (begin_s // HOUR_S) % 24, begin_s // 86400
                if meter.kind == "consumption":
                    amount = consumption_wh(hour, meter.size_wh, rng)
                    consumption[(id(meter), begin_s)] = [address, amount]
                    yield tx.publish_and_issue(L, ik, address=address, sector=meter.sector,
                                               type=tx.CONSUMPTION, amount=amount, **period)  # fmt: skip
                    continue
                amount = production_wh(meter.kind, hour, day, meter.size_wh, rng)
                tech, fuel = KINDS[meter.kind]
                unit = tx.publish_and_issue(L, ik, address=address, sector=meter.sector, type=tx.PRODUCTION,
                                            amount=amount, tech_type=tech, fuel_type=fuel, **period)  # fmt: skip
                if len(unit) == 2:  # a GGO was issued
                    issued.append((meter, begin_s, unit[1]["payload"]["address"], amount))
                yield unit

        consumers = self.consumption_meters
        retirements = []  # (consumer meter, begin_s, receive key, ggo address)
        onward = []  # (trader receive key, ggo address)
        for n, (meter, begin_s, ggo, amount) in enumerate(issued):
            key = meter.owner.wallet.measurement_key(meter.index, begin_s)
            consumer = consumers[n % len(consumers)]
            slot = consumption[(id(consumer), begin_s)]
            share = min(amount // 2, slot[1])
            trader_key, trader_address = self.trader.receive()
            if share == 0 or share == amount:
                yield [tx.transfer_ggo(L, key, ggo=ggo, to=trader_address)]
                onward.append((trader_key, trader_address))
                continue
            slot[1] -= share
            consumer_key, consumer_address = consumer.owner.receive()
            yield [tx.split_ggo(L, key, ggo=ggo, parts=[(consumer_address, share),
                                                        (trader_address, amount - share)])]  # fmt: skip
            retirements.append((consumer, begin_s, consumer_key, consumer_address))
            onward.append((trader_key, trader_address))

        for consumer, begin_s, key, ggo in retirements:
            measurement = consumption[(id(consumer), begin_s)][0]
            settlement = addresses.in_namespace(SETTLEMENT, measurement)
            owner_key = consumer.owner.wallet.measurement_key(consumer.index, begin_s)
            yield [
                tx.retire_ggo(L, key, ggo=ggo, settlement=settlement),
                tx.update_settlement(L, owner_key, settlement=settlement,
                                     measurement=measurement, ggos=[ggo]),  # fmt: skip
            ]
        for key, ggo in onward:
            _, to = self.trader.receive()
            yield [tx.transfer_ggo(L, key, ggo=ggo, to=to)]

    def batches(self, transactions_per_batch: int = 300) -> Iterator[dict]:
        """The units packed into batches of about `transactions_per_batch` transactions."""
        current: list[dict] = []
        for unit in self.units():
            if current and len(current) + len(unit) > transactions_per_batch:
                yield tx.batch(*current)
                current = []
            current.extend(unit)
        if current:
            yield tx.batch(*current)
