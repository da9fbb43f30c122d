"""Every named limit of origin.protocol.limits, at N and at N + 1. The others are tested where
their part is: the batch's bytes and count and the bodies (tests/protocol/test_transactions.py,
tests/ledger/test_api.py), parts (tests/ledger/test_rules.py), refusals kept
(tests/ledger/test_node.py), bundle bytes (tests/verify/test_bundle.py), reading timeouts
(tests/test_server.py)."""

import pytest
from fastapi.testclient import TestClient

from origin.ledger import provenance, tiles
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.ledger.sqlite import SQLiteStore
from origin.protocol import limits
from origin.protocol.canonical import parse
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import make_genesis
from world import LEDGER, LOG_SIGNER, Clock, Key, World, decode, hold_commits, make_node, wait_for


def test_integers_have_at_most_16_digits_and_2_to_the_53_less_1():
    assert parse(str(limits.INT_MAX).encode()) == limits.INT_MAX
    for refused in (str(limits.INT_MAX + 1), "1" + "0" * limits.INT_DIGITS_MAX):
        with pytest.raises(ProtocolError, match="outside"):
            parse(refused.encode())


def test_sector_names_have_1_to_64_characters():
    w = World()
    make_genesis(LEDGER, [w.issuer.public.hex()], str(LOG_SIGNER.verifier), sectors=["D" * limits.SECTOR_LENGTH_MAX])
    with pytest.raises(ProtocolError, match="genesis: sectors"):
        make_genesis(LEDGER, [w.issuer.public.hex()], str(LOG_SIGNER.verifier), sectors=["D" * 65])
    (ok,) = decode(w.publish(Key(), sector="D" * limits.SECTOR_LENGTH_MAX)).transactions
    (refused,) = decode(w.publish(Key(), sector="D" * (limits.SECTOR_LENGTH_MAX + 1))).transactions
    assert not isinstance(ok, ProtocolError) and refused.code == "malformed"


def test_ledger_ids_have_at_most_128_characters():
    issuer = World().issuer.public.hex()
    for length, ok in ((limits.LEDGER_ID_LENGTH_MAX, True), (limits.LEDGER_ID_LENGTH_MAX + 1, False)):
        ledger = "L" * length
        key = LOG_SIGNER.__class__.generate(ledger) if ok else LOG_SIGNER
        if ok:
            assert make_genesis(ledger, [issuer], str(key.verifier))["ledger"] == ledger
        else:
            with pytest.raises(ProtocolError, match="ledger id"):
                make_genesis(ledger, [issuer], str(key.verifier))


def test_a_tile_index_has_at_most_7_groups():
    seven = "/".join(["x001"] * (limits.TILE_INDEX_GROUPS_MAX - 1) + ["000"])
    assert tiles.parse_tile_path(f"0/{seven}")[1] == int("001" * 6 + "000")
    with pytest.raises(tiles.TileError, match="at most 7 groups"):
        tiles.parse_tile_path(f"0/x001/{seven}")


def test_tile_levels_go_to_63():
    assert tiles.parse_tile_path(f"{limits.TILE_LEVEL_MAX}/000")[0] == "63"
    with pytest.raises(tiles.TileError):
        tiles.parse_tile_path(f"{limits.TILE_LEVEL_MAX + 1}/000")


def test_records_are_read_500_addresses_to_a_statement(tmp_path):
    world = World()
    node = make_node(SQLiteStore(tmp_path / "l.db"), [world.issuer.public.hex()])
    owners = [Key() for _ in range(limits.SQL_PARAMETERS_MAX + 1)]
    node.commit_group([decode(*(world.publish(k) for k in owners[i : i + 100])) for i in range(0, len(owners), 100)])
    for n in (limits.SQL_PARAMETERS_MAX, limits.SQL_PARAMETERS_MAX + 1):
        assert len(node.store.records_at([k.measurement for k in owners[:n]])) == n
    node.store.close()


def test_a_commit_group_holds_at_most_256_batches(tmp_path):
    """With 257 batches waiting, the sequencer takes 256 in one group and the last in the next."""
    world = World()
    store = make_node(SQLiteStore(tmp_path / "l.db"), [world.issuer.public.hex()]).store
    node = Node(store, LOG_SIGNER, clock=Clock()).start()
    groups: list[int] = []
    real_commit = node.store.commit
    node.store.commit = lambda group: (groups.append(len(group.entries)), real_commit(group))[1]
    release = hold_commits(node)
    first = node.submit(decode(world.publish(Key())))
    wait_for(node._queue.empty)  # the sequencer holds the first in its commit
    futures = [node.submit(decode(world.publish(Key()))) for _ in range(limits.GROUP_BATCHES_MAX + 1)]
    release.set()
    assert all(f.result(timeout=30).status == "COMMITTED" for f in [first, *futures])
    assert groups == [1, limits.GROUP_BATCHES_MAX, 1]
    node.stop()
    store.close()


def test_a_provenance_bundle_holds_at_most_512_entries(tmp_path):
    """A GGO transferred until its history is 512 entries has a bundle; one hop more, 422."""
    world = World()
    node = make_node(SQLiteStore(tmp_path / "l.db"), [world.issuer.public.hex()])
    holder = world.production()
    node.commit_group([decode(world.publish(holder), world.issue(holder))])
    hops = limits.PROVENANCE_ENTRIES_MAX - 2  # entry 0 and the issue's entry are the other two
    batches = []
    for _ in range(hops + 1):
        to = Key()
        batches.append(decode(world.transfer(holder, to.ggo)))
        holder = to
    outcomes = node.commit_group(batches[:hops])
    assert {o.status for o in outcomes} == {"COMMITTED"}
    client = TestClient(create_app(node))
    address = batches[hops - 1].transactions[0].payload["to"]
    bundle = client.get(f"/v1/ggos/{address}/provenance")
    assert bundle.status_code == 200 and len(bundle.json()["entries"]) == limits.PROVENANCE_ENTRIES_MAX
    assert node.commit_group([batches[hops]])[0].status == "COMMITTED"
    r = client.get(f"/v1/ggos/{holder.ggo}/provenance")
    assert r.status_code == 422 and "more than 512" in r.json()["error"]["message"]
    with pytest.raises(provenance.TooLong):
        provenance.build(node.store, holder.ggo)
    node.store.close()
