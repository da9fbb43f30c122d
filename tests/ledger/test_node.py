"""The node on SQLite: group commit, idempotency, durability across restarts, replay."""

import threading

import pytest

from origin.ledger import replay
from origin.ledger.node import Busy, CommitFailed, Node
from origin.ledger.store import Outcome
from origin.protocol import merkle, note
from origin.protocol.canonical import canonical, parse
from origin.protocol.limits import QUEUE_BATCHES_MAX, REFUSED_KEPT_MAX
from origin.protocol.log import batch_entry
from origin.protocol.times import format_time
from world import LEDGER, LOG_SIGNER, NOW, Clock, Key, World, decode, hold_commits, make_node, wait_for


@pytest.fixture
def world():
    return World()


@pytest.fixture
def node(node_factory, world):
    return node_factory(world=world, start=False)


def latest(node) -> note.Checkpoint:
    return note.Checkpoint.parse(note.open_note(node.store.checkpoint(), LOG_SIGNER.verifier))


def test_a_group_is_one_checkpoint_and_one_entry_per_committed_batch(node, world):
    a, b, bad = Key(), Key(), Key()
    outcomes = node.commit_group([decode(world.publish(a)), decode(world.publish(bad, sector="XX")),
                                  decode(world.publish(b))])  # fmt: skip
    assert [o.status for o in outcomes] == ["COMMITTED", "INVALID", "COMMITTED"]
    assert [o.seq for o in outcomes] == [1, None, 2]
    assert outcomes[1].error == {"code": "unknown_sector", "message": outcomes[1].error["message"], "transaction": 0}
    assert node.store.size() == 3
    cp = latest(node)
    assert cp.size == 3 and cp.root == merkle.root(node.store.node, 3)
    assert node.read_record(a.measurement)["amount"] == 1000


def test_batches_in_a_group_see_each_other(node, world):
    owner = Key()
    outcomes = node.commit_group([decode(world.publish(owner)), decode(world.issue(owner)),
                                  decode(world.issue(owner, tech="T020002"))])  # fmt: skip
    assert [o.status for o in outcomes] == ["COMMITTED", "COMMITTED", "INVALID"]
    assert outcomes[2].error["code"] == "address_in_use"


def test_entries_are_canonical_json(node, world):
    batch = decode(world.publish(Key()))
    node.commit_group([batch])
    entry = node.store.entry(1)
    assert entry == batch_entry(1, NOW, batch.canonical)
    assert entry == canonical({"seq": 1, "time": format_time(NOW), "batch": parse(batch.canonical)})
    assert parse(node.store.entry(0))["genesis"] == node.config.genesis


def test_resubmission_changes_nothing(node, world):
    good, bad = decode(world.publish(Key())), decode(world.publish(Key(), sector="XX"))
    first = node.commit_group([good, bad])
    root = latest(node).root
    again = node.commit_group([good, bad, good])
    assert again == [first[0], first[1], first[0]]
    assert node.store.size() == 2 and latest(node).root == root
    assert node.outcome(good.id).status == "COMMITTED"
    assert node.outcome(bad.id).status == "INVALID"
    assert node.outcome("ab" * 32).status == "UNKNOWN"


def test_restart_loses_nothing_and_keeps_the_root(backend, world):
    node = make_node(backend.new_store(), [world.issuer.public.hex()])
    owner = Key()
    node.commit_group([decode(world.publish(owner)), decode(world.issue(owner))])
    root, size = node.frontier.root(), node.frontier.size
    node.store.close()

    again = Node(backend.reopen(node.store), LOG_SIGNER, clock=Clock())
    assert (again.frontier.root(), again.frontier.size) == (root, size)
    assert again.read_record(owner.ggo)["amount"] == 1000
    outcome = again.commit_group([decode(world.transfer(owner, Key().ggo))])[0]
    assert outcome.seq == size
    assert replay.check(again.store).ok
    again.store.close()


def test_sequencing_time_never_goes_back(node, world):
    node.clock.now = NOW + 100
    node.commit_group([decode(world.publish(Key()))])
    node.clock.now = NOW + 50
    node.commit_group([decode(world.publish(Key()))])
    assert parse(node.store.entry(2))["time"] == format_time(NOW + 100)


def test_expiry_uses_the_sequencing_time(node, world):
    owner = Key()
    node.commit_group([decode(world.publish(owner), world.issue(owner))])
    node.clock.now = NOW + node.config.ggo_lifetime_s
    (outcome,) = node.commit_group([decode(world.transfer(owner, Key().ggo))])
    assert outcome.error["code"] == "expired"
    assert replay.check(node.store).ok


def test_replay_detects_a_changed_record(node, backend, world):
    owner = Key()
    node.commit_group([decode(world.publish(owner))])
    assert replay.check(node.store).ok
    backend.rewrite(node.store, "records", "record", lambda v: v.replace(b"1000", b"1001"))
    report = replay.check(node.store)
    assert not report.state_matches and report.checkpoint_matches
    assert "differs" in report.problems[0]


def test_replay_detects_a_changed_entry(node, backend, world):
    node.commit_group([decode(world.publish(Key()))])
    backend.rewrite(node.store, "entries", "body", lambda v: v.replace(b'"amount":1000', b'"amount":1001'))
    with pytest.raises(replay.ReplayError, match="bad_signature"):
        replay.check(node.store)


def test_sequencer_answers_futures_and_coalesces_duplicates(node_factory, world):
    node = node_factory(world=world)
    batch = decode(world.publish(Key()))
    first, second = node.submit(batch), node.submit(batch)
    assert first.result(timeout=10).status == "COMMITTED"
    assert second.result(timeout=10) == first.result()
    assert node.submit(batch).result(timeout=10) == first.result()  # known outcome


def test_a_full_queue_refuses(backend, world):
    """QUEUE_BATCHES_MAX batches wait behind a commit; one more is Busy."""
    store = make_node(backend.new_store(), [world.issuer.public.hex()]).store
    node = Node(store, LOG_SIGNER, clock=Clock()).start()
    wait_for(lambda: node.role == "active")
    release = hold_commits(node)
    first = node.submit(decode(world.publish(Key())))
    wait_for(node._queue.empty)  # the sequencer holds the first in its commit
    batch = decode(world.publish(Key()))
    futures = [node.submit(batch)]
    futures += [node.submit(decode(world.publish(Key()))) for _ in range(QUEUE_BATCHES_MAX - 1)]
    assert node.submit(batch) is futures[0]  # the same batch again takes no place
    with pytest.raises(Busy):
        node.submit(decode(world.publish(Key())))
    release.set()
    assert {f.result(timeout=60).status for f in [first, *futures]} == {"COMMITTED"}
    node.stop()
    store.close()


def test_a_failed_commit_writes_nothing_and_the_node_goes_on(node_factory, world):
    node = node_factory(world=world)
    real_commit, calls = node.store.commit, []

    def failing(group):
        calls.append(group)
        if len(calls) == 1:
            raise OSError("disk full")
        real_commit(group)

    node.store.commit = failing
    with pytest.raises(CommitFailed, match="disk full"):
        node.submit(decode(world.publish(Key()))).result(timeout=10)
    assert node.store.size() == 1 and node.frontier.size == 1
    wait_for(lambda: node.role == "active")  # it gave the role up, and took it again
    outcome = node.submit(decode(world.publish(Key()))).result(timeout=10)
    assert outcome.seq == 1
    assert replay.check(node.store).ok


def test_concurrent_submitters(node_factory, world):
    node = node_factory(world=world)
    batches = [decode(world.publish(Key())) for _ in range(40)]
    results = []

    def submit(chunk):
        results.extend(node.submit(b).result(timeout=30) for b in chunk)

    threads = [threading.Thread(target=submit, args=(batches[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.seq for o in results) == list(range(1, 41))
    assert latest(node).size == 41 and replay.check(node.store).ok


def test_the_log_key_must_match_the_genesis(node, world):
    with pytest.raises(ValueError):
        Node(node.store, note.Signer.generate(LEDGER))


def test_records_remember_the_entry_that_created_them(node, world):
    owner, receiver = Key(), Key()
    node.commit_group([decode(world.publish(owner), world.issue(owner))])
    node.commit_group([decode(world.transfer(owner, receiver.ggo))])
    assert (node.store.created(owner.ggo), node.store.record(owner.ggo)[1]) == (1, 2)
    assert node.store.created(receiver.ggo) == 2 and node.store.created(Key().ggo) is None
    assert replay.check(node.store).ok


def test_created_is_the_first_write_even_within_one_group(node, world):
    owner, receiver, onward = Key(), Key(), Key()
    node.commit_group([decode(world.publish(owner), world.issue(owner)),
                       decode(world.transfer(owner, receiver.ggo)),
                       decode(world.transfer(receiver, onward.ggo))])  # fmt: skip
    assert [node.store.created(k.ggo) for k in (owner, receiver, onward)] == [1, 2, 3]
    assert replay.check(node.store).ok


def test_refusing_junk_writes_nothing(node_factory, world):
    """Junk costs no database write: 300 refused batches, no commit, no stored outcome; each
    still answers its refusal while it is kept."""
    node = node_factory(world=world)
    commits = []
    real_commit = node.store.commit
    node.store.commit = lambda group: (commits.append(group), real_commit(group))[1]
    junk = [decode(world.publish(Key(), signer=Key())) for _ in range(300)]
    futures = [node.submit(batch) for batch in junk]
    outcomes = [f.result(timeout=30) for f in futures]
    assert {o.status for o in outcomes} == {"INVALID"} and commits == []
    assert node.store.outcomes([b.id for b in junk]) == {}
    assert node.outcome(junk[0].id) == outcomes[0]
    assert node.submit(junk[0]).result(timeout=10) == outcomes[0]  # the same answer again
    good = decode(world.publish(Key()))
    assert node.submit(good).result(timeout=10).status == "COMMITTED" and len(commits) == 1


def test_refusals_kept_are_the_newest_refused_kept_max(node_factory, world):
    node = node_factory(world=world, start=False)
    refusals = [Outcome(f"{i:064x}", "INVALID", error={"code": "malformed"}) for i in range(REFUSED_KEPT_MAX + 1)]
    node._keep_refusals(refusals[:REFUSED_KEPT_MAX])
    assert node.outcome(refusals[0].id) == refusals[0] and len(node._refused) == REFUSED_KEPT_MAX
    node._keep_refusals(refusals[REFUSED_KEPT_MAX:])
    assert len(node._refused) == REFUSED_KEPT_MAX
    assert node.outcome(refusals[0].id).status == "UNKNOWN"  # the oldest made room
    assert node.outcome(refusals[-1].id) == refusals[-1]
