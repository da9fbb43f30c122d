"""Races: many clients at once try to spend the same GGO, or to retire more than one
consumption measurement holds. Exactly the valid ones win, every loser gets its protocol
error, and amounts are conserved."""

import threading

import pytest

from origin.protocol.canonical import parse
from world import Key, World, decode

CLIENTS = 24


@pytest.fixture
def world():
    return World()


def race(node, batches) -> list:
    """Submit all batches at the same moment from a thread each; their outcomes."""
    barrier, outcomes = threading.Barrier(len(batches)), [None] * len(batches)

    def client(i):
        barrier.wait()
        outcomes[i] = node.submit(batches[i]).result(timeout=30)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_one_ggo_spent_by_many_at_once(node_factory, world):
    node = node_factory(world=world)
    owner, consumers = Key(), [Key() for _ in range(CLIENTS)]  # distinct retirements
    setup = [world.publish(owner, amount=1000), world.issue(owner)]
    setup += [world.publish(c, type="CONSUMPTION", amount=5000) for c in consumers]
    assert node.submit(decode(*setup)).result(timeout=10).status == "COMMITTED"
    spends = []
    for i in range(CLIENTS):
        kind = i % 3
        if kind == 0:
            spends.append(decode(world.transfer(owner, Key().ggo)))
        elif kind == 1:
            spends.append(decode(world.split(owner, [(Key().ggo, 400), (Key().ggo, 600)])))
        else:
            consumer = consumers[i]
            spends.append(decode(world.retire(owner, consumer.settlement), world.settle(consumer, [owner.ggo])))
    assert len({b.id for b in spends}) == CLIENTS
    outcomes = race(node, spends)
    winners = [o for o in outcomes if o.status == "COMMITTED"]
    assert len(winners) == 1
    losers = [o for o in outcomes if o.status == "INVALID"]
    assert len(losers) == CLIENTS - 1
    assert all(o.error["code"] == "already_used" and o.error["transaction"] == 0 for o in losers)

    ggo = parse(node.store.record(owner.ggo)[0])
    children = [parse(node.store.record(a)[0]) for a in ggo["next"]["addresses"]]
    if ggo["next"]["action"] == "RETIRE":
        assert children[0]["parts"] == [{"ggo": owner.ggo, "amount": 1000}]
    else:
        assert sum(c["amount"] for c in children) == 1000


def test_many_retire_into_one_consumption_at_once(node_factory, world):
    node = node_factory(world=world)
    consumer = Key()
    ggos = [Key() for _ in range(CLIENTS)]
    setup = [world.publish(consumer, type="CONSUMPTION", amount=1000)]
    for g in ggos:
        setup += [world.publish(g, amount=100), world.issue(g)]
    assert node.submit(decode(*setup)).result(timeout=10).status == "COMMITTED"
    outcomes = race(node, [decode(world.retire(g, consumer.settlement), world.settle(consumer, [g.ggo]))
                           for g in ggos])  # fmt: skip
    won = [o for o in outcomes if o.status == "COMMITTED"]
    lost = [o for o in outcomes if o.status == "INVALID"]
    assert len(won) == 10 and len(lost) == CLIENTS - 10  # 10 x 100 Wh fill 1000 Wh exactly
    assert all(o.error == {**o.error, "code": "over_retired", "transaction": 1} for o in lost)
    settlement = parse(node.store.record(consumer.settlement)[0])
    assert sum(p["amount"] for p in settlement["parts"]) == 1000
    retired = {p["ggo"] for p in settlement["parts"]}
    for g in ggos:  # a loser's GGO is untouched: its retire was not half applied
        record = parse(node.store.record(g.ggo)[0])
        assert (record["next"] is not None) == (g.ggo in retired)
