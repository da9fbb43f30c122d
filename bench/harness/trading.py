"""How GGOs change hands in the benchmarks' workload: each issued GGO is split
between a consumer and a trader; the consumer retires its part against its consumption of the
same hour (retire_ggo and update_settlement in one batch), and the trader passes its part on to
a fresh address of its own. A pure stream of transaction units (each unit one batch's worth);
every key follows the wallet conventions of PROTOCOL.md section 4."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from origin.protocol import addresses
from origin.protocol import transactions as tx
from origin.protocol.addresses import SETTLEMENT

Receive = Callable[[], tuple[bytes, str]]  # a fresh receive key and its GGO address


@dataclass
class Issued:
    key: bytes  # the GGO's own private key
    ggo: str
    amount_wh: int
    period: tuple[str, str]  # begin, end


@dataclass
class Consumption:
    key: bytes  # the consumption measurement's private key, its owner's
    measurement: str
    left_wh: int  # not yet retired against
    receive: Receive  # the consumer's next receive address


def trades(ledger: str, issued: list[Issued], consumption: dict[tuple[str, str], list[Consumption]],
           trader: Receive) -> Iterator[list[dict]]:  # fmt: skip
    """Units of transactions, in an order the rules accept: the splits (or, with nothing to
    retire, whole transfers to the trader), then the retirements, then the trader's hops.
    `consumption` lists the consumption measurements of each period (begin, end)."""
    retirements: list[tuple[Consumption, bytes, str]] = []
    onward: list[tuple[bytes, str]] = []
    for n, g in enumerate(issued):
        slots = consumption.get(g.period, [])
        slot = slots[n % len(slots)] if slots else None
        share = 0 if slot is None else min(g.amount_wh // 2, slot.left_wh)
        trader_key, trader_address = trader()
        onward.append((trader_key, trader_address))
        if slot is None or share == 0:
            yield [tx.transfer_ggo(ledger, g.key, ggo=g.ggo, to=trader_address)]
            continue
        slot.left_wh -= share
        consumer_key, consumer_address = slot.receive()
        parts = [(consumer_address, share), (trader_address, g.amount_wh - share)]
        yield [tx.split_ggo(ledger, g.key, ggo=g.ggo, parts=parts)]
        retirements.append((slot, consumer_key, consumer_address))
    for slot, key, ggo in retirements:
        settlement = addresses.in_namespace(SETTLEMENT, slot.measurement)
        yield [
            tx.retire_ggo(ledger, key, ggo=ggo, settlement=settlement),
            tx.update_settlement(ledger, slot.key, settlement=settlement, measurement=slot.measurement, ggos=[ggo]),
        ]
    for key, ggo in onward:
        _, to = trader()
        yield [tx.transfer_ggo(ledger, key, ggo=ggo, to=to)]


def pack(units: Iterator[list[dict]], transactions_per_batch: int) -> Iterator[dict]:
    """Units packed into batches of at most `transactions_per_batch` transactions and
    PROTOCOL.md's bytes (a unit is never cut)."""
    packer = tx.BatchPacker(transactions_max=transactions_per_batch)
    for unit in units:
        if not packer.add(unit):
            yield packer.batch()
            packer = tx.BatchPacker(transactions_max=transactions_per_batch)
            packer.add(unit)
    if packer.transactions:
        yield packer.batch()
