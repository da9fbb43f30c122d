"""The witness against honest and deliberately dishonest nodes."""

import json
import random
import shutil
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from harness.soak import Client, NodeProcess, free_port
from origin.client import http
from origin.ledger import data as ledger_data
from origin.ledger import replay
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.ledger.store import Group
from origin.protocol import note
from origin.protocol.canonical import canonical
from origin.protocol.log import batch_entry
from origin.protocol.transactions import batch
from origin.verify.witness import Alarm, Witness
from origin.verify.witness_api import create_witness_app
from world import LEDGER, LOG_SIGNER, NOW, Clock, Key, World, decode, make_node


class Operator:
    """Serves whichever ledger it likes to the witness: an honest one, or another."""

    def __init__(self, node):
        self.serve(node)

    def serve(self, node):
        self.client = TestClient(create_app(node))

    def fetch(self, path):
        r = self.client.get(path)
        return r.status_code, r.content


@pytest.fixture
def world():
    return World()


@pytest.fixture
def ledgers(tmp_path, world):
    """Two ledgers with the same genesis (same issuers, log key and time)."""
    made = [make_node(SQLiteStore(tmp_path / f"{name}.db"), [world.issuer.public.hex()]) for name in "ab"]
    yield made
    for node in made:
        node.store.close()


def commit(node, world, count=1, **kw):
    for _ in range(count):
        assert node.commit_group([decode(world.publish(Key(), **kw))])[0].status == "COMMITTED"


@pytest.fixture
def witness(tmp_path, ledgers):
    operator = Operator(ledgers[0])
    w = Witness(tmp_path / "witness", operator.fetch, name="witness.test", clock=Clock(NOW + 10))
    w.operator = operator
    yield w
    w.close()


def test_an_honest_node_is_cosigned(witness, ledgers, world):
    a = ledgers[0]
    commit(a, world, 3)
    cosigned = witness.sync()
    text = note.open_note(cosigned, LOG_SIGNER.verifier, witness.signer.verifier)
    assert note.Checkpoint.parse(text).size == 4
    assert note.cosigned_at(cosigned, witness.signer.verifier) == NOW + 10
    assert witness.sync() == cosigned  # nothing new: the same
    owner = Key()
    a.commit_group([decode(world.publish(owner), world.issue(owner))])
    a.commit_group([decode(world.transfer(owner, Key().ggo))])
    assert note.Checkpoint.parse(note.split(witness.sync())[0]).size == 6
    assert replay.check(witness.store).ok  # its replica is the node's log, replayed


def test_the_witness_api(witness, ledgers, world):
    commit(ledgers[0], world)
    client = TestClient(create_witness_app(witness))
    assert client.get("/checkpoint").status_code == 404
    witness.sync()
    assert client.get("/checkpoint").text == witness.latest()
    assert client.get("/alerts").json() == {"status": "ok", "alarm": None}
    assert client.get("/healthz").json()["key"] == witness.verifier_key


def alarmed(witness, match):
    with pytest.raises(Alarm, match=match):
        witness.sync()
    assert (witness.data / "ALARM").exists()
    with pytest.raises(Alarm):  # and stays alarmed
        witness.sync()
    again = Witness(witness.data, witness.operator.fetch)
    with pytest.raises(Alarm, match=match):  # even after a restart
        again.sync()
    again.close()
    r = TestClient(create_witness_app(witness)).get("/alerts")
    assert r.status_code == 503 and r.json()["status"] == "alarm"


@pytest.mark.parametrize("honest,other,match", [
    (2, 2, "two different trees of size 3"),  # the same size, another tree: a fork
    (2, 4, "not consistent with checkpoint 3: history was rewritten"),
    (2, 0, "the log shrank from 3 to 1"),
])  # fmt: skip
def test_an_operator_who_swaps_its_log(witness, ledgers, world, honest, other, match):
    a, b = ledgers
    commit(a, world, honest)
    commit(b, world, other, sector="DK2")
    witness.sync()
    witness.operator.serve(b)
    alarmed(witness, match)


def test_a_batch_that_breaks_a_rule(witness, ledgers, world):
    a = ledgers[0]
    owner = Key()
    a.commit_group([decode(world.publish(owner), world.issue(owner))])
    a.commit_group([decode(world.transfer(owner, Key().ggo))])
    witness.sync()
    # The operator appends a double spend behind the rules' back, and signs its checkpoint.
    double_spend = canonical(batch(world.transfer(owner, Key().ggo)))
    seq = a.frontier.size
    nodes = a.frontier.append(batch_entry(seq, NOW, double_spend))
    signed = LOG_SIGNER.sign(note.Checkpoint(LEDGER, a.frontier.size, a.frontier.root()).text())
    a.store.commit(Group(entries=[(seq, batch_entry(seq, NOW, double_spend))], nodes=nodes,
                         checkpoint=(a.frontier.size, signed)))  # fmt: skip
    alarmed(witness, f"the node committed entry {seq}: the batch breaks the rules: already_used")


def test_another_log_key_than_the_pinned_one(tmp_path, ledgers, world):
    operator = Operator(ledgers[0])
    other = str(note.Signer.generate(LEDGER).verifier)
    w = Witness(tmp_path / "w", operator.fetch, log_key=other)
    with pytest.raises(Alarm, match="another log key"):
        w.sync()
    w.close()


def test_the_command_cosigns_and_exits_3_on_a_fork(tmp_path, world):
    honest, forked = tmp_path / "honest", tmp_path / "forked"
    ledger_data.init(honest, LEDGER, [world.issuer.public.hex()])
    shutil.copytree(honest, forked)  # the same genesis and log key
    port = free_port()

    def run_node(data, port, seed=None):
        """A node on `data`; with a seed, it first commits a batch of its own."""
        node = NodeProcess(data, None, port=port)
        node.wait_role("active")
        if seed is not None:
            body = canonical(Client(LEDGER, world.issuer.secret, random.Random(seed)).batch()[0])
            assert json.loads(http("POST", f"{node.url}/v1/batches?wait=true", body)[1])["status"] == "COMMITTED"
        return node

    run_node(forked, free_port(), seed=2).stop()  # the operator's other log, of the same size
    node = run_node(honest, port, seed=1)
    witness_port = free_port()
    command = [
        sys.executable,
        "-c",
        "from origin.cli import main; main()",
        "witness",
        "--node",
        node.url,
        "--data",
        str(tmp_path / "w"),
        "--port",
        str(witness_port),
        "--poll-s",
        "0.1",
        "--exit-on-alarm",
    ]
    witness = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, cosigned = http("GET", f"http://127.0.0.1:{witness_port}/checkpoint", timeout=2)
            except OSError:
                status = None
            if status == 200:
                break
            assert time.monotonic() < deadline and witness.poll() is None, witness.stdout.read()
            time.sleep(0.1)
        assert note.Checkpoint.parse(note.split(cosigned.decode())[0]).size == 2
        node.stop()
        node = run_node(forked, port)  # behind the same address: same size, another tree
        assert witness.wait(timeout=30) == 3
        assert b"two different trees of size 2" in witness.stdout.read()
    finally:
        node.stop()
        if witness.poll() is None:
            witness.kill()
            witness.wait()
        witness.stdout.close()
