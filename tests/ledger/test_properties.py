"""Random sequences of valid and invalid batches keep the ledger's invariants:
amounts are conserved along every chain, a GGO is spent at most once, settlements never exceed
their consumption, and replaying the log reproduces the state and the checkpoint's root."""

import hashlib
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.ledger import replay
from origin.protocol import addresses, note
from origin.protocol.canonical import parse
from world import LOG_SIGNER, Clock, Key, World, decode, make_node

PERIODS = [("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"), ("2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z")]
LIFETIME_S = 2 * 86400


class Actors:
    """Keys the test has made, so that it can try to spend anything it has seen. It remembers
    what each GGO would hold if its creation committed, to draw mostly valid spends."""

    def __init__(self, world: World):
        self.world = world
        self.ggos: dict[str, tuple[Key, int, tuple, str]] = {}  # address -> key, Wh, period, sector
        self.consumers: list[tuple[Key, tuple, str]] = []
        self.made = 0
        self.spent: set[str] = set()
        self.proposed: tuple[dict, list, set] = ({}, [], set())  # what the batch would create, spend

    def draw_batch(self, data) -> tuple:
        """A batch of 1 or 2 units, and what it creates if it commits."""
        self.proposed = ({}, [], set())
        units = [self.action(data) for _ in range(data.draw(st.integers(1, 2)))]
        return decode(*[t for unit in units for t in unit]), self.proposed

    def learn(self, created: tuple) -> None:
        self.ggos.update(created[0])
        self.consumers.extend(created[1])
        self.spent.update(created[2])

    def key(self) -> Key:
        """Keys from a counter, so that every run of an example draws the same."""
        self.made += 1
        return Key(hashlib.sha256(b"key %d" % self.made).digest())

    def fresh_ggo(self, amount: int, period: tuple, sector: str) -> Key:
        key = self.key()
        self.proposed[0][key.ggo] = (key, amount, period, sector)
        return key

    def action(self, data) -> list[dict]:
        w = self.world
        kind = data.draw(st.sampled_from(["produce", "consume", "transfer", "split", "retire", "bogus"]))
        period = data.draw(st.sampled_from(PERIODS))
        sector = data.draw(st.sampled_from(["DK1", "DK2"]))
        begin, end = period
        known = sorted(self.ggos)
        unspent = [a for a in known if a not in self.spent]
        if unspent and data.draw(st.booleans()):
            known = unspent
        if kind == "produce" or (not known and kind != "consume"):
            amount = data.draw(st.integers(0, 2000))
            owner = self.fresh_ggo(amount, period, sector)
            return [w.publish(owner, amount=amount, begin=begin, end=end, sector=sector), w.issue(owner)]
        if kind == "consume" or (not self.consumers and kind == "retire"):
            consumer = self.key()
            self.proposed[1].append((consumer, period, sector))
            return [w.publish(consumer, type="CONSUMPTION", amount=data.draw(st.integers(0, 5000)),
                              begin=begin, end=end, sector=sector)]  # fmt: skip
        ggo, amount, period, sector = self.ggos[data.draw(st.sampled_from(known))]
        self.proposed[2].add(ggo.ggo)
        if kind == "transfer":
            return [w.transfer(ggo, self.fresh_ggo(amount, period, sector).ggo)]
        if kind == "split":
            if amount >= 2 and data.draw(st.booleans()):  # an exact partition
                cuts = data.draw(st.sets(st.integers(1, amount - 1), min_size=1, max_size=min(3, amount - 1)))
                bounds = [0, *sorted(cuts), amount]
                amounts = [b - a for a, b in itertools.pairwise(bounds)]
            else:
                amounts = data.draw(st.lists(st.integers(0, 1200), min_size=1, max_size=4))
            return [w.split(ggo, [(self.fresh_ggo(n, period, sector).ggo, n) for n in amounts])]
        if kind == "retire":
            matching = [c for c in self.consumers if c[1:] == (period, sector)]
            consumer = data.draw(st.sampled_from(matching or self.consumers))[0]
            return [w.retire(ggo, consumer.settlement), w.settle(consumer, [ggo.ggo])]
        return [w.transfer(ggo, self.key().ggo, signer=self.key())]  # signed with the wrong key


def check_invariants(store):
    records = {a: parse(r) for a, r, _, _ in store.records()}
    parents: dict[str, str] = {}
    for address, record in records.items():
        namespace = addresses.namespace_of(address)
        if namespace == addresses.GGO and record["next"] is not None:
            nxt = record["next"]
            if nxt["action"] in ("TRANSFER", "SPLIT"):
                children = [records[c] for c in nxt["addresses"]]
                assert sum(c["amount"] for c in children) == record["amount"]  # conserved
                for child_address, child in zip(nxt["addresses"], children, strict=True):
                    assert child["origin"] == address and child_address not in parents
                    parents[child_address] = address  # each GGO has one parent: spent once
                    assert (child["begin"], child["end"], child["sector"]) == (
                        record["begin"], record["end"], record["sector"])  # fmt: skip
            else:
                settlement = records[nxt["addresses"][0]]
                assert [p["amount"] for p in settlement["parts"] if p["ggo"] == address] == [record["amount"]]
        if namespace == addresses.GGO and addresses.namespace_of(record["origin"]) == addresses.MEASUREMENT:
            assert record["amount"] == records[record["origin"]]["amount"] > 0
        if namespace == addresses.SETTLEMENT:
            measurement = records[record["measurement"]]
            assert sum(p["amount"] for p in record["parts"]) <= measurement["amount"]
            assert len({p["ggo"] for p in record["parts"]}) == len(record["parts"])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.data())
def test_random_batches_keep_the_invariants(backend, data):
    world = World(ggo_lifetime_s=LIFETIME_S)
    actors = Actors(world)
    clock = Clock()
    # a new, empty store for each example
    node = make_node(backend.new_store(), [world.issuer.public.hex()], clock=clock,
                     ggo_lifetime_s=LIFETIME_S)  # fmt: skip
    committed = set()  # a batch drawn again is answered, not committed twice
    for _ in range(data.draw(st.integers(1, 15))):
        drawn = [actors.draw_batch(data) for _ in range(data.draw(st.integers(1, 3)))]
        outcomes = node.commit_group([batch for batch, _ in drawn])
        for (_, created), outcome in zip(drawn, outcomes, strict=True):
            if outcome.status == "COMMITTED":
                committed.add(outcome.id)
                actors.learn(created)
        clock.now += data.draw(st.sampled_from([0, 0, 0, 0, 60, 3600, LIFETIME_S]))
    check_invariants(node.store)
    report = replay.check(node.store)
    assert report.ok, report.problems
    cp = note.Checkpoint.parse(note.open_note(node.store.checkpoint(), LOG_SIGNER.verifier))
    assert cp.size == len(committed) + 1 == report.entries
    node.store.close()
