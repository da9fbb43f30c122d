"""The verifier applies the node's own rule handlers: a log forged behind the rules' back (and
signed with the log key, as a dishonest operator could) gives a bundle the verifier refuses,
naming the broken rule, for every rule a GGO's history can break."""

import base64
import json

import pytest

from origin.protocol import merkle, note
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.errors import CODES
from origin.protocol.log import PROVENANCE_FORMAT, batch_entry, genesis_entry
from origin.protocol.times import parse_time
from origin.verify.bundle import VerifyError, verify_bundle
from world import END, LEDGER, LOG_SIGNER, NOW, Key, World

LATER = "2026-01-01T12:00:00Z"


def bundle_of(world: World, target: str, *batches: list[dict], times: dict[int, int] | None = None) -> dict:
    """A signed log of the genesis and these batches, and the bundle of all its entries."""
    entries = [genesis_entry(world.config.genesis, NOW - 86400)]
    for seq, transactions in enumerate(batches, start=1):
        entries.append(batch_entry(seq, (times or {}).get(seq, NOW), canonical(tx.batch(*transactions))))
    frontier, nodes = merkle.Frontier(), {}
    for entry in entries:
        nodes.update({(level, index): h for level, index, h in frontier.append(entry)})
    size = len(entries)
    checkpoint = LOG_SIGNER.sign(note.Checkpoint(LEDGER, size, frontier.root()).text())
    items = [{"seq": seq, "entry": json.loads(entry),
              "proof": [base64.b64encode(h).decode() for h in merkle.inclusion_proof(lambda lv, i: nodes[(lv, i)], seq, size)]}
             for seq, entry in enumerate(entries)]  # fmt: skip
    return {"format": PROVENANCE_FORMAT, "ggo": target, "checkpoint": checkpoint, "entries": items}


def issued(w: World, owner: Key, **publish) -> list[dict]:
    return [w.publish(owner, **publish), w.issue(owner)]


def case_valid(w):
    p, c, d = Key(), Key(), Key()
    return d.ggo, [issued(w, p), [w.transfer(p, c.ggo)], [w.transfer(c, d.ggo)]]


def case_unauthorized(w):
    p = Key()
    return p.ggo, [[w.publish(p)], [w.issue(p, signer=Key())]]


def case_wrong_namespace(w):
    p, c = Key(), Key()
    return p.ggo, [issued(w, p), [w.publish(c, type="CONSUMPTION")],
                   [w.retire(p, c.ggo), w.settle(c, [p.ggo])]]  # fmt: skip


def case_address_in_use(w):
    a, b = Key(), Key()
    return b.ggo, [issued(w, a), issued(w, b), [w.transfer(a, b.ggo)]]


def case_not_found(w):
    p = Key()
    return p.ggo, [[w.issue(p)], [w.publish(p)]]


def case_not_owner(w):
    p, c = Key(), Key()
    return c.ggo, [issued(w, p), [w.transfer(p, c.ggo, signer=Key())]]


def case_already_used(w):
    p, c, d = Key(), Key(), Key()
    return d.ggo, [issued(w, p), [w.transfer(p, c.ggo)], [w.transfer(p, d.ggo)]]


def case_expired(w):
    p, c = Key(), Key()
    late = parse_time(END) + w.config.ggo_lifetime_s
    return c.ggo, [issued(w, p), [w.transfer(p, c.ggo)]], {2: late}


def case_invalid_period(w):
    p = Key()
    return p.ggo, [issued(w, p, end=LATER)]


def case_unknown_sector(w):
    p = Key()
    return p.ggo, [issued(w, p, sector="XX")]


def case_invalid_amount(w):
    p = Key()
    return p.ggo, [issued(w, p, amount=0)]


def _split(w, parts):
    p, c = Key(), Key()
    return c.ggo, [issued(w, p, amount=1000), [w.split(p, [(c.ggo, parts[0]), *parts[1:]])]]


def case_invalid_parts(w):
    return _split(w, [1000])


def case_amount_mismatch(w):
    return _split(w, [600, (Key().ggo, 300)])


def case_duplicate_address(w):
    c = Key()
    p = Key()
    return c.ggo, [issued(w, p, amount=1000), [w.split(p, [(c.ggo, 500), (c.ggo, 500)])]]


def case_not_production(w):
    p = Key()
    return p.ggo, [issued(w, p, type="CONSUMPTION")]


def case_key_mismatch(w):
    p, other = Key(), Key()
    return other.ggo, [[w.publish(p), w.issue(p, address=other.ggo)]]


def _retirement(w, consumption=None, extra=(), listed=None):
    p, c = Key(), Key()
    consumption = consumption or {"type": "CONSUMPTION", "amount": 2000}
    batches = [issued(w, p, amount=1000), [w.publish(c, **consumption)], *extra]
    batches.append([w.retire(p, c.settlement), w.settle(c, listed(p) if listed else [p.ggo])])
    return p.ggo, batches


def case_not_consumption(w):
    return _retirement(w, {"type": "PRODUCTION", "amount": 2000})


def case_period_mismatch(w):
    return _retirement(w, {"type": "CONSUMPTION", "amount": 2000, "begin": END, "end": LATER})


def case_sector_mismatch(w):
    return _retirement(w, {"type": "CONSUMPTION", "amount": 2000, "sector": "DK2"})


def case_over_retired(w):
    return _retirement(w, {"type": "CONSUMPTION", "amount": 999})


def case_not_retired(w):
    other = Key()
    return _retirement(w, extra=[issued(w, other)], listed=lambda p: [p.ggo, other.ggo])


def case_over_retired_with_an_earlier_part(w):
    """The settlement rule counts what earlier retirements put in the settlement."""
    p, q, c = Key(), Key(), Key()
    return q.ggo, [issued(w, p, amount=600), issued(w, q, amount=600),
                   [w.publish(c, type="CONSUMPTION", amount=1000)],
                   [w.retire(p, c.settlement), w.settle(c, [p.ggo])],
                   [w.retire(q, c.settlement), w.settle(c, [q.ggo])]]  # fmt: skip


def case_unpaired_retire(w):
    p, c = Key(), Key()
    return p.ggo, [issued(w, p), [w.publish(c, type="CONSUMPTION")], [w.retire(p, c.settlement)]]


CASES = {name.removeprefix("case_"): f for name, f in globals().items() if name.startswith("case_")}
EXPECTED = {"valid": None, "over_retired_with_an_earlier_part": "over_retired"}


@pytest.mark.parametrize("name", CASES)
def test_a_history_that_breaks_a_rule_is_refused(name):
    world = World()
    made = CASES[name](world)
    target, batches, times = made if len(made) == 3 else (*made, None)
    bundle = bundle_of(world, target, *batches, times=times)
    code = EXPECTED.get(name, name)
    if code is None:
        assert verify_bundle(bundle, LOG_SIGNER.verifier).ggo == target
        return
    with pytest.raises(VerifyError, match=f"the rule {code}"):
        verify_bundle(bundle, LOG_SIGNER.verifier)


def test_every_rule_of_a_history_is_covered():
    """Every code a spend, issue or settlement can give has its case above."""
    not_of_a_history = {"malformed", "invalid_batch", "bad_signature"}
    assert CODES - not_of_a_history <= set(CASES) | set(EXPECTED.values())


def test_a_bad_signature_in_an_entry_is_refused():
    world, p = World(), Key()
    publish = world.publish(p)
    publish["signature"] = world.publish(Key())["signature"]
    bundle = bundle_of(world, p.ggo, [publish, world.issue(p)])
    with pytest.raises(VerifyError, match="transaction 0: its signature does not verify"):
        verify_bundle(bundle, LOG_SIGNER.verifier)
