"""Every rule of PROTOCOL.md section 6, its positive and its negative side, and its edges."""

import pytest

from origin.protocol import transactions as tx
from origin.protocol.errors import ProtocolError
from origin.protocol.times import format_time, parse_time
from world import BEGIN, END, LEDGER, NOW, Key, World


@pytest.fixture
def w():
    return World()


def code(exc):
    return exc.code, exc.transaction


# publish_measurement


def test_publish_writes_the_measurement(w):
    owner = Key()
    writes = w.run(w.publish(owner, amount=1419))
    assert writes == {owner.measurement: {"begin": BEGIN, "end": END, "sector": "DK1",
                                          "type": "PRODUCTION", "amount": 1419}}  # fmt: skip


def test_publish_only_by_an_issuer(w):
    assert code(w.refused(w.publish(Key(), signer=Key()))) == ("unauthorized", 0)


def test_any_configured_issuer_may_publish():
    w = World(issuers=2)
    w.run(w.publish(Key(), signer=w.issuers[1]))


def test_publish_in_the_measurement_namespace(w):
    owner = Key()
    assert code(w.refused(w.publish(owner, address=owner.ggo))) == ("wrong_namespace", 0)


def test_publish_to_an_empty_address(w):
    owner = Key()
    w.run(w.publish(owner))
    assert code(w.refused(w.publish(owner))) == ("address_in_use", 0)
    assert code(w.refused(w.publish(Key()), w.publish(Key()), w.publish(owner))) == ("address_in_use", 2)


@pytest.mark.parametrize(
    "begin,end",
    [
        ("2026-01-01T10:00:00Z", "2026-01-01T10:15:00Z"),
        ("2026-01-01T10:45:00Z", "2026-01-01T11:00:00Z"),
        ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
    ],
)
def test_publish_periods_of_a_resolution_aligned_to_it(w, begin, end):
    w.run(w.publish(Key(), begin=begin, end=end))


@pytest.mark.parametrize(
    "begin,end",
    [
        ("2026-01-01T10:00:00Z", "2026-01-01T10:15:01Z"),  # one second over
        ("2026-01-01T10:00:00Z", "2026-01-01T10:14:59Z"),  # one second short
        ("2026-01-01T10:15:00Z", "2026-01-01T11:15:00Z"),  # an hour, not aligned to the hour
        ("2026-01-01T10:00:01Z", "2026-01-01T10:15:01Z"),  # a quarter, one second off
        ("2026-01-01T10:00:00Z", "2026-01-01T10:30:00Z"),  # not a resolution
        ("2026-01-01T11:00:00Z", "2026-01-01T10:00:00Z"),  # backwards
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),  # empty
    ],
)
def test_publish_refuses_other_periods(w, begin, end):
    assert code(w.refused(w.publish(Key(), begin=begin, end=end))) == ("invalid_period", 0)


def test_publish_resolutions_are_the_genesis(w):
    w = World(resolutions_s=[300])
    w.run(w.publish(Key(), begin="2026-01-01T10:05:00Z", end="2026-01-01T10:10:00Z"))
    assert code(w.refused(w.publish(Key()))) == ("invalid_period", 0)


def test_publish_in_a_configured_sector(w):
    w.run(w.publish(Key(), sector="DK2"))
    assert code(w.refused(w.publish(Key(), sector="SE3"))) == ("unknown_sector", 0)
    assert code(w.refused(w.publish(Key(), sector="dk1"))) == ("unknown_sector", 0)


def test_publish_amounts_from_zero_to_the_maximum(w):
    w.run(w.publish(Key(), amount=0))
    w.run(w.publish(Key(), amount=w.config.amount_max_wh))
    assert code(w.refused(w.publish(Key(), amount=w.config.amount_max_wh + 1))) == ("invalid_amount", 0)


# issue_ggo


def test_issue_copies_the_measurement(w):
    owner = Key()
    w.run(w.publish(owner, amount=1419, sector="DK2"), w.issue(owner, tech="T020002"))
    assert w.state[owner.ggo] == {
        "origin": owner.measurement, "begin": BEGIN, "end": END, "amount": 1419, "sector": "DK2",
        "tech_type": "T020002", "fuel_type": "F01050100", "next": None}  # fmt: skip


def test_issue_only_by_an_issuer(w):
    owner = Key()
    w.run(w.publish(owner))
    assert code(w.refused(w.issue(owner, signer=owner))) == ("unauthorized", 0)


def test_issue_needs_a_published_production_measurement(w):
    owner = Key()
    assert code(w.refused(w.issue(owner))) == ("not_found", 0)
    assert code(w.refused(w.issue(owner, measurement=owner.ggo))) == ("wrong_namespace", 0)
    consumer = w.consumption()
    assert code(w.refused(w.issue(consumer))) == ("not_production", 0)


def test_issue_needs_more_than_zero(w):
    owner, one = Key(), Key()
    w.run(w.publish(owner, amount=0))
    assert code(w.refused(w.issue(owner))) == ("invalid_amount", 0)
    w.run(w.publish(one, amount=1), w.issue(one))


def test_issue_at_the_measurement_key_part(w):
    owner = Key()
    w.run(w.publish(owner))
    assert code(w.refused(w.issue(owner, address=owner.settlement))) == ("wrong_namespace", 0)
    assert code(w.refused(w.issue(owner, address=Key().ggo))) == ("key_mismatch", 0)


def test_a_measurement_is_issued_at_most_once(w):
    owner = w.production()
    assert code(w.refused(w.issue(owner))) == ("address_in_use", 0)


# the spend rules, through each of transfer, split and retire


def spends(w, owner, signer=None):
    consumer = Key()
    return {
        "transfer": w.transfer(owner, Key().ggo, signer=signer),
        "split": w.split(owner, [(Key().ggo, 1), (Key().ggo, 999)], signer=signer),
        "retire": w.retire(owner, consumer.settlement, signer=signer),
    }


@pytest.mark.parametrize("action", ["transfer", "split", "retire"])
def test_spend_needs_the_ggo(w, action):
    assert code(w.refused(spends(w, Key())[action])) == ("not_found", 0)


@pytest.mark.parametrize("action", ["transfer", "split", "retire"])
def test_spend_needs_the_owner_key(w, action):
    owner = w.production()
    assert code(w.refused(spends(w, owner, signer=Key())[action])) == ("not_owner", 0)
    assert code(w.refused(spends(w, owner, signer=w.issuer)[action])) == ("not_owner", 0)


@pytest.mark.parametrize("action", ["transfer", "split", "retire"])
def test_spend_only_once(w, action):
    owner = w.production()
    w.run(w.transfer(owner, Key().ggo))
    assert code(w.refused(spends(w, owner)[action])) == ("already_used", 0)


@pytest.mark.parametrize("action", ["transfer", "split", "retire"])
def test_spend_before_expiry(w, action):
    owner = w.production()
    expiry = parse_time(END) + w.config.ggo_lifetime_s
    assert code(w.refused(spends(w, owner)[action], now=expiry)) == ("expired", 0)
    try:  # a second earlier it is spent (a retire alone is then refused as unpaired)
        w.run(spends(w, owner)[action], now=expiry - 1)
    except ProtocolError as exc:
        assert code(exc) == ("unpaired_retire", 0)


def test_spend_in_the_ggo_namespace(w):
    owner = w.production()
    bad = tx.transfer_ggo(LEDGER, owner.secret, ggo=owner.measurement, to=Key().ggo)
    assert code(w.refused(bad)) == ("wrong_namespace", 0)


# transfer_ggo


def test_transfer_moves_the_ggo(w):
    owner, receiver = w.production(amount=1419), Key()
    w.run(w.transfer(owner, receiver.ggo))
    assert w.state[owner.ggo]["next"] == {"action": "TRANSFER", "addresses": [receiver.ggo]}
    assert w.state[receiver.ggo] == {**w.state[owner.ggo], "origin": owner.ggo, "next": None}
    w.run(w.transfer(receiver, Key().ggo))  # the receiver's key spends it


def test_transfer_to_an_empty_ggo_address(w):
    owner, other = w.production(), w.production()
    assert code(w.refused(w.transfer(owner, other.ggo))) == ("address_in_use", 0)
    assert code(w.refused(w.transfer(owner, owner.ggo))) == ("address_in_use", 0)
    assert code(w.refused(w.transfer(owner, Key().settlement))) == ("wrong_namespace", 0)


# split_ggo


def test_split_makes_children_in_order(w):
    owner, a, b = w.production(amount=1000), Key(), Key()
    w.run(w.split(owner, [(a.ggo, 300), (b.ggo, 700)]))
    assert w.state[owner.ggo]["next"] == {"action": "SPLIT", "addresses": [a.ggo, b.ggo]}
    assert w.state[a.ggo]["amount"] == 300 and w.state[a.ggo]["origin"] == owner.ggo
    assert w.state[b.ggo]["amount"] == 700 and w.state[b.ggo]["next"] is None


@pytest.mark.parametrize("parts", [2, 256])
def test_split_into_2_to_256_parts(w, parts):
    owner = w.production(amount=parts)
    w.run(w.split(owner, [(Key().ggo, 1) for _ in range(parts)]))


@pytest.mark.parametrize("parts", [0, 1, 257])
def test_split_refuses_other_counts(w, parts):
    owner = w.production(amount=1000)
    amounts = [1000] if parts == 1 else [1] * parts
    assert code(w.refused(w.split(owner, [(Key().ggo, n) for n in amounts]))) == ("invalid_parts", 0)


def test_split_parts_of_at_least_one_wh(w):
    owner = w.production(amount=1000)
    assert code(w.refused(w.split(owner, [(Key().ggo, 0), (Key().ggo, 1000)]))) == ("invalid_amount", 0)


def test_split_amounts_sum_to_the_ggo(w):
    owner = w.production(amount=1000)
    for amounts in ([1, 1000], [1, 998]):
        parts = [(Key().ggo, n) for n in amounts]
        assert code(w.refused(w.split(owner, parts))) == ("amount_mismatch", 0)


def test_split_addresses_distinct_empty_and_ggo(w):
    owner, a, other = w.production(amount=1000), Key(), w.production()
    assert code(w.refused(w.split(owner, [(a.ggo, 1), (a.ggo, 999)]))) == ("duplicate_address", 0)
    assert code(w.refused(w.split(owner, [(a.ggo, 1), (other.ggo, 999)]))) == ("address_in_use", 0)
    assert code(w.refused(w.split(owner, [(a.ggo, 1), (owner.ggo, 999)]))) == ("address_in_use", 0)
    assert code(w.refused(w.split(owner, [(a.ggo, 1), (a.measurement, 999)]))) == ("wrong_namespace", 0)


# retire_ggo and update_settlement


def test_retire_with_settlement(w):
    ggo, consumer = w.production(amount=400), w.consumption(amount=1000)
    w.run(w.retire(ggo, consumer.settlement), w.settle(consumer, [ggo.ggo]))
    assert w.state[ggo.ggo]["next"] == {"action": "RETIRE", "addresses": [consumer.settlement]}
    assert w.state[consumer.settlement] == {"measurement": consumer.measurement,
                                            "parts": [{"ggo": ggo.ggo, "amount": 400}]}  # fmt: skip
    more = w.production(amount=600)
    w.run(w.retire(more, consumer.settlement), w.settle(consumer, [more.ggo]))
    assert [p["amount"] for p in w.state[consumer.settlement]["parts"]] == [400, 600]


def test_retire_must_be_paired(w):
    ggo, consumer = w.production(), w.consumption()
    assert code(w.refused(w.retire(ggo, consumer.settlement))) == ("unpaired_retire", 0)
    other, second = w.production(), w.consumption()
    # paired with an update of another settlement: still unpaired
    batch = (w.retire(ggo, consumer.settlement), w.retire(other, second.settlement),
             w.settle(second, [other.ggo]))  # fmt: skip
    assert code(w.refused(*batch)) == ("unpaired_retire", 0)


def test_retire_to_the_settlement_namespace(w):
    ggo = w.production()
    assert code(w.refused(w.retire(ggo, Key().measurement))) == ("wrong_namespace", 0)


def test_update_before_retire_is_not_retired(w):
    ggo, consumer = w.production(), w.consumption()
    refused = w.refused(w.settle(consumer, [ggo.ggo]), w.retire(ggo, consumer.settlement))
    assert code(refused) == ("not_retired", 0)


def test_settlement_over_the_consumption(w):
    consumer = w.consumption(amount=1000)
    exact, over = w.production(amount=1000), w.production(amount=1001)
    assert code(w.refused(w.retire(over, consumer.settlement), w.settle(consumer, [over.ggo]))) == ("over_retired", 1)
    w.run(w.retire(exact, consumer.settlement), w.settle(consumer, [exact.ggo]))
    one = w.production(amount=1)
    assert code(w.refused(w.retire(one, consumer.settlement), w.settle(consumer, [one.ggo]))) == ("over_retired", 1)


def test_settlement_needs_a_consumption_measurement_of_the_signer(w):
    ggo, consumer, producer = w.production(), w.consumption(), w.production()
    retire = w.retire(ggo, consumer.settlement)
    assert code(w.refused(retire, w.settle(Key(), [ggo.ggo], settlement=consumer.settlement))) == ("not_found", 1)
    assert code(w.refused(retire, w.settle(consumer, [ggo.ggo], measurement=consumer.ggo))) == ("wrong_namespace", 1)
    assert code(w.refused(w.retire(ggo, producer.settlement), w.settle(producer, [ggo.ggo]))) == ("not_consumption", 1)
    assert code(w.refused(retire, w.settle(consumer, [ggo.ggo], signer=Key()))) == ("not_owner", 1)
    assert code(w.refused(retire, w.settle(consumer, [ggo.ggo], signer=w.issuer))) == ("not_owner", 1)


def test_settlement_at_the_measurement_key_part(w):
    ggo, consumer = w.production(), w.consumption()
    other = Key().settlement
    assert code(w.refused(w.retire(ggo, other), w.settle(consumer, [ggo.ggo], settlement=other))) == ("key_mismatch", 1)
    assert code(w.refused(w.retire(ggo, consumer.settlement),
                          w.settle(consumer, [ggo.ggo], settlement=consumer.measurement))) == ("wrong_namespace", 1)  # fmt: skip


def test_settlement_lists_1_to_256_distinct_ggos():
    w = World()
    consumer = w.consumption(amount=10_000)
    assert code(w.refused(w.settle(consumer, []))) == ("invalid_parts", 0)
    ggo = w.production(amount=1)
    refused = w.refused(w.retire(ggo, consumer.settlement), w.settle(consumer, [ggo.ggo, ggo.ggo]))
    assert code(refused) == ("duplicate_address", 1)
    for count, accepted in ((256, True), (257, False)):
        parent = w.production(amount=count)
        if count == 257:  # a split makes at most 256 parts: make 257 GGOs from two
            children = [Key() for _ in range(256)]
            w.run(w.split(parent, [(c.ggo, 1) for c in children[:255]] + [(children[255].ggo, 2)]))
            last = [Key(), Key()]
            w.run(w.split(children[255], [(k.ggo, 1) for k in last]))
            children = children[:255] + last
        else:
            children = [Key() for _ in range(count)]
            w.run(w.split(parent, [(c.ggo, 1) for c in children]))
        batch = [w.retire(c, consumer.settlement) for c in children]
        batch.append(w.settle(consumer, [c.ggo for c in children]))
        if accepted:
            w.run(*batch, bounded=False)
        else:
            assert code(w.refused(*batch, bounded=False)) == ("invalid_parts", count)


def test_a_ggo_is_settled_once(w):
    ggo, consumer = w.production(amount=10), w.consumption()
    w.run(w.retire(ggo, consumer.settlement), w.settle(consumer, [ggo.ggo]))
    assert code(w.refused(w.settle(consumer, [ggo.ggo]))) == ("duplicate_address", 0)


def test_settlement_of_the_same_period_and_sector(w):
    consumer = w.consumption()
    later = w.production(begin="2026-01-01T11:00:00Z", end="2026-01-01T12:00:00Z")
    quarter = w.production(begin="2026-01-01T10:00:00Z", end="2026-01-01T10:15:00Z")
    elsewhere = w.production(sector="DK2")
    for ggo, expected in ((later, "period_mismatch"), (quarter, "period_mismatch"), (elsewhere, "sector_mismatch")):
        assert code(w.refused(w.retire(ggo, consumer.settlement), w.settle(consumer, [ggo.ggo]))) == (expected, 1)


def test_settlement_ggos_must_exist_in_their_namespace(w):
    consumer = w.consumption()
    assert code(w.refused(w.settle(consumer, [Key().ggo]))) == ("not_found", 0)
    assert code(w.refused(w.settle(consumer, [Key().measurement]))) == ("wrong_namespace", 0)


# batches


def test_a_batch_sees_its_own_earlier_writes(w):
    owner, a, b, consumer = Key(), Key(), Key(), w.consumption(amount=500)
    w.run(
        w.publish(owner, amount=1000), w.issue(owner),
        w.split(owner, [(a.ggo, 500), (b.ggo, 500)]),
        w.retire(a, consumer.settlement), w.settle(consumer, [a.ggo]),
        w.transfer(b, Key().ggo),
    )  # fmt: skip
    assert w.state[consumer.settlement]["parts"] == [{"ggo": a.ggo, "amount": 500}]


def test_the_first_failure_in_batch_order_is_reported_and_nothing_is_written(w):
    owner = Key()
    bad_signature = w.publish(Key())
    bad_signature["signature"] = "00" * 64
    refused = w.refused(w.publish(owner), w.publish(Key(), sector="XX"), bad_signature)
    assert code(refused) == ("unknown_sector", 1)
    assert owner.measurement not in w.state
    refused = w.refused(w.publish(Key()), bad_signature, w.publish(Key(), sector="XX"))
    assert code(refused) == ("bad_signature", 1)


def test_a_signature_over_another_payload_is_bad(w):
    good = w.publish(Key(), amount=1)
    forged = {**good, "payload": {**good["payload"], "amount": 2}}
    assert code(w.refused(forged)) == ("bad_signature", 0)


def test_time_boundaries_are_exact():
    assert format_time(parse_time(BEGIN)) == BEGIN
    assert NOW - parse_time(BEGIN) == 14 * 3600
