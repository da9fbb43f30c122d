"""Provenance bundles and the offline verifier: a real chain verifies; every kind of tampering
is refused with a message that names what failed."""

import copy
import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from origin.cli import main
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.protocol import note
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import BUNDLE_BYTES_MAX
from origin.verify.bundle import Unreadable, VerifyError, verify_bundle
from world import LOG_SIGNER, Key, World, decode, make_node, replace_somewhere


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    """Issue 1000 Wh, split 600/400, transfer the 600, retire it against a consumption."""
    world = World()
    node = make_node(SQLiteStore(tmp_path_factory.mktemp("v") / "l.db"), [world.issuer.public.hex()])
    producer, a, b, c, consumer = Key(), Key(), Key(), Key(), Key()
    steps = [
        decode(world.publish(producer, amount=1000), world.issue(producer, tech="T020002")),
        decode(world.publish(Key())),  # unrelated entries in between
        decode(world.split(producer, [(a.ggo, 600), (b.ggo, 400)])),
        decode(world.publish(consumer, type="CONSUMPTION", amount=800)),
        decode(world.transfer(a, c.ggo)),
        decode(world.retire(c, consumer.settlement), world.settle(consumer, [c.ggo])),
        decode(world.publish(Key())),
    ]
    for step in steps:
        assert node.commit_group([step])[0].status == "COMMITTED"
    client = TestClient(create_app(node))
    yield node, client, {"producer": producer, "a": a, "b": b, "c": c, "consumer": consumer}
    node.store.close()


def bundle_of(client, key):
    r = client.get(f"/v1/ggos/{key.ggo}/provenance")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_retired_ggo_verifies(ledger):
    _, client, k = ledger
    bundle = bundle_of(client, k["c"])
    assert [e["seq"] for e in bundle["entries"]] == [0, 1, 3, 4, 5, 6]
    summary = verify_bundle(bundle, LOG_SIGNER.verifier)
    assert summary.measurement["amount"] == 1000 and summary.tech_type == "T020002"
    assert [(h.action, h.amount) for h in summary.hops] == [("ISSUE", 1000), ("SPLIT", 600), ("TRANSFER", 600)]
    assert summary.retired_to == k["consumer"].settlement and summary.consumption == k["consumer"].measurement
    assert any("Offshore" in line for line in summary.lines())


def test_an_unspent_and_a_spent_ggo_verify(ledger):
    _, client, k = ledger
    assert verify_bundle(bundle_of(client, k["b"]), LOG_SIGNER.verifier).spent is None
    summary = verify_bundle(bundle_of(client, k["producer"]), LOG_SIGNER.verifier)
    assert summary.spent == "split_ggo" and [h.action for h in summary.hops] == ["ISSUE"]


def test_no_bundle_for_what_is_not_a_ggo(ledger):
    _, client, k = ledger
    assert client.get(f"/v1/ggos/{k['consumer'].measurement}/provenance").status_code == 404
    assert client.get(f"/v1/ggos/{Key().ggo}/provenance").status_code == 404
    assert client.get("/v1/ggos/nope/provenance").status_code == 400


def tampered(ledger, change):
    _, client, k = ledger
    bundle = copy.deepcopy(bundle_of(client, k["c"]))
    change(bundle)
    return bundle


def entry(bundle, seq):
    return next(e for e in bundle["entries"] if e["seq"] == seq)


def set_amount(bundle):
    entry(bundle, 1)["entry"]["batch"]["transactions"][0]["payload"]["amount"] = 2000


def resign_checkpoint(bundle):
    """A forger with their own key signs a checkpoint over a doctored entry."""
    forger = note.Signer.generate(LOG_SIGNER.name)
    bundle["checkpoint"] = forger.sign(note.split(bundle["checkpoint"])[0])


CASES = {
    "changed amount": (set_amount, "entry 1: its inclusion proof does not verify"),
    "dropped issue entry": (lambda b: b["entries"].remove(entry(b, 1)), "no entry in the bundle creates"),
    "dropped genesis": (lambda b: b["entries"].remove(entry(b, 0)), "entry 0, the genesis, is missing"),
    "forged proof": (lambda b: entry(b, 4)["proof"].__setitem__(0, "A" * 43 + "="), "entry 4: its inclusion proof"),
    "short proof": (lambda b: entry(b, 4)["proof"].pop(), "entry 4: its inclusion proof"),
    "moved entry": (lambda b: entry(b, 4).__setitem__("seq", 2), "entry 2"),
    "forged checkpoint": (resign_checkpoint, "checkpoint: the note carries no signature of"),
    "altered checkpoint": (
        lambda b: b.__setitem__("checkpoint", b["checkpoint"].replace("\n8\n", "\n9\n", 1)),
        "checkpoint: the signature of test.origin/dk does not verify",
    ),
    "other ggo claimed": (lambda b: b.__setitem__("ggo", Key().ggo), "no entry in the bundle creates"),
    "dropped consumption": (lambda b: b["entries"].remove(entry(b, 4)), "consumption measurement .* is missing"),
}


@pytest.mark.parametrize("case", CASES)
def test_tampering_is_refused(ledger, case):
    change, message = CASES[case]
    with pytest.raises(VerifyError, match=message):
        verify_bundle(tampered(ledger, change), LOG_SIGNER.verifier)


UNREADABLE = {
    "no format": lambda b: b.pop("format"),
    "extra field": lambda b: b.__setitem__("x", 1),
    "entries not a list": lambda b: b.__setitem__("entries", {}),
    "entry item without proof": lambda b: b["entries"][0].pop("proof"),
    "proof of numbers": lambda b: b["entries"][0].__setitem__("proof", [1]),
    "checkpoint not text": lambda b: b.__setitem__("checkpoint", 5),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_what_is_not_a_bundle_is_unreadable(ledger, case):
    with pytest.raises(Unreadable):
        verify_bundle(tampered(ledger, UNREADABLE[case]), LOG_SIGNER.verifier)


def test_a_wrong_log_key_is_refused(ledger):
    _, client, k = ledger
    with pytest.raises(VerifyError, match="no signature of"):
        verify_bundle(bundle_of(client, k["c"]), note.Signer.generate("other").verifier)
    with pytest.raises(VerifyError, match="no signature of"):
        verify_bundle(bundle_of(client, k["c"]), note.Signer.generate(LOG_SIGNER.name).verifier)


def test_witness_cosignatures_are_required_when_asked(ledger):
    _, client, k = ledger
    bundle = bundle_of(client, k["c"])
    witness = note.Signer.generate("witness.example", note.COSIGNATURE_V1)
    with pytest.raises(VerifyError, match=r"no signature of witness\.example"):
        verify_bundle(bundle, LOG_SIGNER.verifier, [witness.verifier])
    bundle["checkpoint"] = witness.cosign(bundle["checkpoint"], 1_700_000_000)
    assert verify_bundle(bundle, LOG_SIGNER.verifier, [witness.verifier]).witnesses == ["witness.example"]


def test_the_command(ledger, tmp_path):
    _, client, k = ledger
    path = tmp_path / "bundle.json"
    path.write_bytes(canonical(bundle_of(client, k["c"])))
    r = CliRunner().invoke(main, ["verify", str(path), "--log-key", str(LOG_SIGNER.verifier)])
    assert r.exit_code == 0 and "RETIRED to settlement" in r.output and "verified:" in r.output
    bad = tampered(ledger, set_amount)
    path.write_text(json.dumps(bad))
    r = CliRunner().invoke(main, ["verify", str(path), "--log-key", str(LOG_SIGNER.verifier)])
    assert r.exit_code == 1 and "verification FAILED: entry 1" in r.output
    r = CliRunner().invoke(main, ["verify", str(path), "--log-key", "junk"])
    assert r.exit_code == 2 and "bad key" in r.output


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b"[1, 2]", b'{"format": "origin-provenance/1"}',
                                     b"1" * 5000, b"[" * 100_000])  # fmt: skip
def test_the_command_cannot_read_what_is_not_a_bundle(tmp_path, content):
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    r = CliRunner().invoke(main, ["verify", str(path), "--log-key", str(LOG_SIGNER.verifier)])
    assert r.exit_code == 2 and r.output.startswith("origin: cannot read") and "Traceback" not in r.output


def test_the_command_cannot_read_a_missing_or_huge_file(tmp_path):
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "none.json"), "--log-key", str(LOG_SIGNER.verifier)])
    assert r.exit_code == 2 and "cannot read" in r.output
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(BUNDLE_BYTES_MAX + 1)
    r = CliRunner().invoke(main, ["verify", str(huge), "--log-key", str(LOG_SIGNER.verifier)])
    assert r.exit_code == 2 and f"at most {BUNDLE_BYTES_MAX} bytes" in r.output


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(0, 2**53 - 1) | st.text(max_size=80),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


def verdict(data: bytes) -> str:
    """What the verifier makes of any bytes: only its documented refusals may come out."""
    try:
        verify_bundle(parse(data), LOG_SIGNER.verifier)
    except ProtocolError:
        return "not JSON"
    except Unreadable:
        return "unreadable"
    except VerifyError:
        return "failed"
    return "verified"


@given(st.binary(max_size=500))
@settings(max_examples=300)
def test_fuzz_random_bytes(data):
    assert verdict(data) in ("not JSON", "unreadable")


@given(st.data())
@settings(max_examples=400)
def test_fuzz_mutated_bundles(ledger, data):
    """A real bundle with one value anywhere in it replaced by random JSON."""
    _, client, k = ledger
    bundle = copy.deepcopy(bundle_of(client, k["c"]))
    replace_somewhere(bundle, data.draw, JSON)
    assert verdict(canonical(bundle)) in ("unreadable", "failed", "verified")
