"""A property: whatever sequence of operations several accounts make (transfers whole and part,
splits, retirements, compose, some refused), every inventory equals the ledger, and the Wh of
the leaves (GGOs not spent onwards) equal the Wh issued: nothing is made or lost."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from origin.accounts import db
from origin.accounts.reconcile import reconcile

step = st.tuples(
    st.sampled_from(["transfer", "part", "split", "retire", "compose"]),
    st.integers(0, 2),  # who acts (the consumer retires)
    st.integers(0, 2),  # to whom
    st.integers(0, 10**6),  # which GGO of theirs
    st.integers(1, 400),  # an amount
)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=4, max_size=16))
def test_random_operations_keep_every_inventory_equal_to_the_ledger(world_once, steps):
    world, people, issued = world_once
    for kind, who, whom, pick, amount in steps:
        # Only the consumer has consumption to retire against.
        actor, other = people[1 if kind in ("retire", "compose") else who], people[whom]
        held = world.get(actor, "/v1/ggos", state="available")["ggos"]
        if not held:
            continue
        ggo = held[pick % len(held)]
        body: dict
        path = {"transfer": "/v1/transfers", "part": "/v1/transfers", "split": "/v1/splits",
                "retire": "/v1/retirements", "compose": "/v1/compose"}[kind]  # fmt: skip
        if kind == "transfer":
            body = {"ggo": ggo["address"], "to": {"account": other["id"]}}
        elif kind == "part":
            body = {"ggo": ggo["address"], "to": {"account": other["id"]}, "amount_wh": amount}
        elif kind == "split":
            body = {"ggo": ggo["address"], "amounts_wh": [amount, max(ggo["amount_wh"] - amount, 1)]}
        elif kind == "retire":
            body = {"ggo": ggo["address"], "amount_wh": amount}
        else:
            body = {"ggo": ggo["address"], "transfers": [{"to": {"account": other["id"]}, "amount_wh": amount}],
                    "retirements": [{"amount_wh": amount}]}  # fmt: skip
        r = world.post(actor, path, body)
        if r.status_code == 200:
            assert r.json()["status"] in ("COMMITTED", "FAILED"), r.text
        else:  # refused early, with the ledger's codes or a plain not-found / conflict
            assert r.status_code in (404, 409, 422), r.text
    world.service.follow()
    assert reconcile(world.service.engine, world.service.ledger).differences == []
    with world.service.engine.connect() as conn:
        leaves = conn.execute(select(func.sum(db.ggos.c.amount_wh))
                              .where(db.ggos.c.state.in_(["available", "retired"]))).scalar()  # fmt: skip
        reserved = conn.execute(select(func.count()).where(db.ggos.c.operation.is_not(None))).scalar()
    assert leaves == issued and reserved == 0
