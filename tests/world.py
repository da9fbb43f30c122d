"""A ledger in memory for tests: the rules applied to a dict, with keys made on demand."""

import threading
import time

from hypothesis import strategies as st

from origin.protocol import addresses, keys, note, rules
from origin.protocol import transactions as tx
from origin.protocol.addresses import GGO, MEASUREMENT, SETTLEMENT
from origin.protocol.canonical import canonical
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import make_genesis, parse_genesis
from origin.protocol.times import parse_time

LEDGER = "test.origin/dk"
BEGIN = "2026-01-01T10:00:00Z"
END = "2026-01-01T11:00:00Z"
NOW = parse_time("2026-01-02T00:00:00Z")
LOG_SIGNER = note.Signer(LEDGER, bytes(32))


class Key:
    """A secp256k1 key and its addresses in each namespace."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or keys.new_private_key()
        self.public = keys.public_key(self.secret)
        self.measurement = addresses.address(MEASUREMENT, self.public)
        self.ggo = addresses.address(GGO, self.public)
        self.settlement = addresses.address(SETTLEMENT, self.public)


def decode(*transactions: dict) -> tx.Batch:
    return tx.decode_batch(canonical(tx.batch(*transactions)), LEDGER)


def decode_unbounded(*transactions: dict) -> tx.Batch:
    """A batch past section 7's 65,000 bytes, for the rules' own limits: 256 GGOs listed in one
    settlement update need 256 retirements beside it, which no batch of 65,000 bytes holds."""
    data = canonical(tx.batch(*transactions))
    decoded = tuple(tx.decode_transaction(t, LEDGER) for t in transactions)
    return tx.Batch(id=tx.sha256_hex(data), canonical=data, transactions=decoded, error=None)


class World:
    def __init__(self, issuers: int = 1, **settings):
        self.issuer = Key()
        self.issuers = [self.issuer] + [Key() for _ in range(issuers - 1)]
        genesis = make_genesis(LEDGER, [k.public.hex() for k in self.issuers],
                               str(LOG_SIGNER.verifier), **settings)  # fmt: skip
        self.config = parse_genesis(genesis)
        self.state: dict[str, dict] = {}
        self.now = NOW

    # Applying

    def run(self, *transactions: dict, now: int | None = None, bounded: bool = True) -> dict:
        batch = decode(*transactions) if bounded else decode_unbounded(*transactions)
        valid = tx.verify_signatures(batch.transactions)
        writes = rules.apply_batch(batch, valid, self.config, self.state.get,
                                   self.now if now is None else now)  # fmt: skip
        self.state.update(writes)
        return writes

    def refused(self, *transactions: dict, now: int | None = None, bounded: bool = True) -> ProtocolError:
        before = dict(self.state)
        try:
            self.run(*transactions, now=now, bounded=bounded)
        except ProtocolError as exc:
            assert self.state == before, "a refused batch wrote something"
            return exc
        raise AssertionError("the batch was accepted")

    # Builders with sensible defaults

    def publish(self, owner: Key, *, type=tx.PRODUCTION, amount=1000, begin=BEGIN, end=END,
                sector="DK1", signer: Key | None = None, address=None) -> dict:  # fmt: skip
        return tx.publish_measurement(
            LEDGER, (signer or self.issuer).secret, address=address or owner.measurement,
            begin=begin, end=end, sector=sector, type=type, amount=amount)  # fmt: skip

    def issue(self, owner: Key, *, signer: Key | None = None, measurement=None, address=None,
              tech="T020000", fuel="F01050100") -> dict:  # fmt: skip
        return tx.issue_ggo(
            LEDGER, (signer or self.issuer).secret, measurement=measurement or owner.measurement,
            address=address or owner.ggo, tech_type=tech, fuel_type=fuel)  # fmt: skip

    def production(self, amount=1000, **kw) -> Key:
        """A committed production measurement and its GGO; the owner's key."""
        owner = Key()
        self.run(self.publish(owner, amount=amount, **kw), self.issue(owner))
        return owner

    def consumption(self, amount=1000, **kw) -> Key:
        owner = Key()
        self.run(self.publish(owner, type=tx.CONSUMPTION, amount=amount, **kw))
        return owner

    def transfer(self, ggo_key: Key, to: str, signer: Key | None = None) -> dict:
        return tx.transfer_ggo(LEDGER, (signer or ggo_key).secret, ggo=ggo_key.ggo, to=to)

    def split(self, ggo_key: Key, parts, signer: Key | None = None) -> dict:
        return tx.split_ggo(LEDGER, (signer or ggo_key).secret, ggo=ggo_key.ggo, parts=parts)

    def retire(self, ggo_key: Key, settlement: str, signer: Key | None = None) -> dict:
        return tx.retire_ggo(LEDGER, (signer or ggo_key).secret, ggo=ggo_key.ggo, settlement=settlement)

    def settle(self, consumer: Key, ggos, signer: Key | None = None, settlement=None,
               measurement=None) -> dict:  # fmt: skip
        return tx.update_settlement(
            LEDGER, (signer or consumer).secret, settlement=settlement or consumer.settlement,
            measurement=measurement or consumer.measurement, ggos=ggos)  # fmt: skip


class Clock:
    """An injected clock: a fixed time that tests move."""

    def __init__(self, now: int = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_node(store, issuers: list[str], clock=None, **settings):
    """A Node on a new, empty store, its genesis written at NOW (not started)."""
    from origin.ledger.node import Node, create

    genesis = make_genesis(LEDGER, issuers, str(LOG_SIGNER.verifier), **settings)
    create(store, LOG_SIGNER, genesis, NOW)
    return Node(store, LOG_SIGNER, clock=clock or Clock())


def exact_batch(world: "World", canonical_bytes: int) -> bytes:
    """A valid batch of publications whose canonical form is exactly this long: as many as
    fit with 1 Wh each, then amounts of more digits (up to 12 nines, under amount_max_wh) to
    make up the rest."""
    owners: list[Key] = []
    size = len(canonical(tx.batch())) - 1  # each publication adds itself and a separator
    one = len(canonical(world.publish(Key(), amount=1))) + 1
    while size + one <= canonical_bytes:
        owners.append(Key())
        size += one
    short, amounts = canonical_bytes - size, []
    for _ in owners:
        extra = min(11, short)
        amounts.append(int("9" * (1 + extra)))
        short -= extra
    assert short == 0, "the publications cannot make up the length"
    body = canonical(tx.batch(*(world.publish(k, amount=a) for k, a in zip(owners, amounts, strict=True))))
    assert len(body) == canonical_bytes
    return body


def hold_commits(node) -> threading.Event:
    """Make the node's commits wait until the returned event is set."""
    release, real_commit = threading.Event(), node.store.commit

    def held(group):
        release.wait(10)
        real_commit(group)

    node.store.commit = held
    return release


def wait_for(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def replace_somewhere(document, draw, values) -> None:
    """Replace one value anywhere inside a JSON document (a dict or list, changed in place) by
    one drawn from the Hypothesis strategy `values`: the fuzz targets' mutation."""
    paths, stack = [], [((), document)]
    while stack:
        path, value = stack.pop()
        paths.append(path)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend(((*path, key), child) for key, child in children)
    path = draw(st.sampled_from(paths[1:]))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = draw(values)
