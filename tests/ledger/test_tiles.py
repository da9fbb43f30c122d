"""C2SP tlog-tiles: paths, hash tiles, entry bundles, and an inclusion proof built from tiles
alone, checked against the signed checkpoint."""

import functools

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from origin.ledger import tiles
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.protocol import merkle, note
from origin.protocol import transactions as tx
from origin.protocol.limits import BATCH_BYTES_MAX
from origin.protocol.log import replay
from world import LEDGER, LOG_SIGNER, Key, World, decode, exact_batch, make_node


@pytest.mark.parametrize("n,path", [(0, "000"), (67, "067"), (1000, "x001/000"), (1234067, "x001/x234/067")])
def test_index_encoding(n, path):
    assert tiles.encode_index(n) == path
    assert tiles.parse_tile_path(f"0/{path}") == ("0", n, 256)
    assert tiles.parse_tile_path(f"entries/{path}.p/7") == ("entries", n, 7)


@pytest.mark.parametrize("path", ["0/67", "0/x000/067", "0/001/234", "0/x1/234", "00/000", "64/000", "x/000",
                                  "0/000.p/0", "0/000.p/256", "0/000.p/07", "0/000.p/", "0/"])  # fmt: skip
def test_bad_tile_paths(path):
    with pytest.raises(tiles.TileError):
        tiles.parse_tile_path(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A ledger of 301 entries (two level-0 tiles, one of them partial; one level-1 hash)."""
    world = World()
    node = make_node(SQLiteStore(tmp_path_factory.mktemp("tiles") / "l.db"), [world.issuer.public.hex()])
    node.commit_group([decode(world.publish(Key())) for _ in range(300)])
    yield node, TestClient(create_app(node))
    node.store.close()


def test_hash_tiles(served):
    node, client = served
    full = client.get("/tile/0/000")
    assert full.status_code == 200 and full.headers["cache-control"].endswith("immutable")
    assert full.content == b"".join(node.store.node(0, i) for i in range(256))
    partial = client.get("/tile/0/001.p/45")
    assert partial.content == b"".join(node.store.node(0, 256 + i) for i in range(45))
    assert client.get("/tile/0/001.p/20").content == partial.content[: 20 * 32]
    assert client.get("/tile/1/000.p/1").content == node.store.node(8, 0)
    for missing in ("/tile/0/001.p/46", "/tile/0/001", "/tile/0/002.p/1", "/tile/1/000.p/2", "/tile/0/0x1"):
        r = client.get(missing)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", missing


def test_entry_bundles(served):
    node, client = served
    bundle = client.get("/tile/entries/001.p/45").content
    entries, at = [], 0
    while at < len(bundle):
        length = int.from_bytes(bundle[at : at + 2], "big")
        entries.append(bundle[at + 2 : at + 2 + length])
        at += 2 + length
    assert entries == [node.store.entry(256 + i) for i in range(45)]
    assert len(client.get("/tile/entries/000").content) == sum(2 + len(node.store.entry(i)) for i in range(256))


def test_entries_too_long_for_a_bundle_are_refused_with_a_pointer():
    entries = {0: b"x" * 10, 1: b"y" * (tiles.ENTRY_BYTES_MAX + 1)}
    with pytest.raises(tiles.TileError, match="/v1/entries/1"):
        tiles.entry_bundle(entries.__getitem__, 2, 0, 2)
    assert tiles.entry_bundle(entries.__getitem__, 2, 0, 1) == b"\x00\x0a" + b"x" * 10


def test_inclusion_proof_from_tiles_alone(served):
    node, client = served
    checkpoint = note.Checkpoint.parse(note.open_note(client.get("/checkpoint").text, LOG_SIGNER.verifier))
    size = checkpoint.size

    @functools.cache
    def tile(level: int, n: int) -> bytes:
        width = min(256, (size >> (8 * level)) - 256 * n)
        return client.get("/" + tiles.tile_path(level, n, width)).content

    def read(level: int, index: int) -> bytes:
        """Any complete node, from the tile that holds it or from its descendants there."""
        base = level - level % 8
        span = 1 << (level - base)
        first = index * span
        row = tile(base // 8, first // 256)
        hashes = [row[32 * (i % 256) : 32 * (i % 256) + 32] for i in range(first, first + span)]
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    assert merkle.root(read, size) == checkpoint.root
    for seq in (0, 100, 255, 256, 300):
        proof = merkle.inclusion_proof(read, seq, size)
        entry = client.get(f"/v1/entries/{seq}").content
        assert merkle.verify_inclusion(merkle.leaf_hash(entry), seq, size, proof, checkpoint.root)


@pytest.mark.parametrize("path", ["０/000", "0/０６７", "0/000.p/７"])
def test_tile_paths_take_ascii_digits_only(path):
    with pytest.raises(tiles.TileError):
        tiles.parse_tile_path(path)


def test_a_whole_log_mirrors_through_entry_bundles_alone(tmp_path):
    """Protocol 1.1: every entry fits a bundle, so standard tooling can mirror any log from
    /checkpoint and /tile/entries/ alone -- here, one with two batches of the largest size."""
    world = World()
    node = make_node(SQLiteStore(tmp_path / "l.db"), [world.issuer.public.hex()])
    largest = [tx.decode_batch(exact_batch(world, BATCH_BYTES_MAX), LEDGER) for _ in range(2)]
    node.commit_group(largest + [decode(world.publish(Key())) for _ in range(300)])
    client = TestClient(create_app(node))
    checkpoint = note.Checkpoint.parse(note.open_note(client.get("/checkpoint").text, LOG_SIGNER.verifier))
    mirrored = []
    for n in range(-(-checkpoint.size // 256)):
        width = min(256, checkpoint.size - 256 * n)
        bundle = client.get("/" + tiles.tile_path("entries", n, width))
        assert bundle.status_code == 200
        data, at = bundle.content, 0
        while at < len(data):
            length = int.from_bytes(data[at : at + 2], "big")
            mirrored.append(data[at + 2 : at + 2 + length])
            at += 2 + length
    assert len(mirrored) == checkpoint.size and max(map(len, mirrored)) > BATCH_BYTES_MAX
    replayed = replay(mirrored)
    assert replayed.frontier.root() == checkpoint.root
    node.store.close()


@given(st.text(alphabet="0123456789x/.pentris", max_size=200) | st.text(max_size=60))
@settings(max_examples=1000)
def test_tile_path_fuzz(path):
    """Any path is a tile or a TileError, never another exception."""
    try:
        level, n, width = tiles.parse_tile_path(path)
    except tiles.TileError:
        return
    assert tiles.tile_path(level, n, width) == f"tile/{path}"
