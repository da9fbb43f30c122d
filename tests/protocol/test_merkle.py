"""RFC 9162 Merkle tree: the RFC 6962 test vectors (as in transparency-dev/merkle's testonly),
and properties over random trees."""

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from origin.protocol import merkle

LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
          bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CONSISTENCY = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}  # fmt: skip
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}  # fmt: skip


def build(leaves):
    frontier, nodes, roots = merkle.Frontier(), {}, []
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            nodes[(level, index)] = h
        roots.append(frontier.root())
    return frontier, (lambda level, index: nodes[(level, index)]), roots


def reference_root(leaves):
    """MTH of RFC 9162 section 2.1.1, recursively, straight from its definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_roots_of_the_vectors():
    _, read, roots = build(LEAVES)
    assert [r.hex() for r in roots] == ROOTS
    assert [merkle.root(read, n).hex() for n in range(1, 9)] == ROOTS
    assert merkle.root(read, 0).hex() == hashlib.sha256(b"").hexdigest()


def test_consistency_vectors():
    _, read, roots = build(LEAVES)
    for (old, new), expected in CONSISTENCY.items():
        proof = merkle.consistency_proof(read, old, new)
        assert [h.hex() for h in proof] == expected
        assert merkle.verify_consistency(old, new, roots[old - 1], roots[new - 1], proof)
    assert merkle.consistency_proof(read, 1, 1) == []


def test_inclusion_vectors():
    _, read, roots = build(LEAVES)
    for (index, size), expected in INCLUSION.items():
        proof = merkle.inclusion_proof(read, index, size)
        assert [h.hex() for h in proof] == expected
        assert merkle.verify_inclusion(merkle.leaf_hash(LEAVES[index]), index, size, proof, roots[size - 1])
    assert merkle.inclusion_proof(read, 0, 1) == []


leaves_strategy = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


@given(leaves_strategy)
def test_frontier_root_is_the_rfc_root(leaves):
    frontier, read, roots = build(leaves)
    assert roots[-1] == reference_root(leaves)
    assert merkle.Frontier.load(read, len(leaves)).root() == frontier.root()


@given(leaves_strategy, st.data())
def test_every_inclusion_proof_verifies_and_tampering_fails(leaves, data):
    _, read, roots = build(leaves)
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(read, index, size)
    leaf = merkle.leaf_hash(leaves[index])
    assert merkle.verify_inclusion(leaf, index, size, proof, roots[size - 1])
    assert not merkle.verify_inclusion(merkle.leaf_hash(leaves[index] + b"x"), index, size, proof, roots[size - 1])
    if size > 1:
        assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, proof, roots[size - 1])
    if proof:
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = bytes(32)
        assert not merkle.verify_inclusion(leaf, index, size, bad, roots[size - 1])
        assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], roots[size - 1])


@given(leaves_strategy, st.data())
def test_every_consistency_proof_verifies_and_tampering_fails(leaves, data):
    _, read, roots = build(leaves)
    new = data.draw(st.integers(1, len(leaves)))
    old = data.draw(st.integers(1, new))
    proof = merkle.consistency_proof(read, old, new)
    assert merkle.verify_consistency(old, new, roots[old - 1], roots[new - 1], proof)
    assert not merkle.verify_consistency(old, new, bytes(32), roots[new - 1], proof)
    if old < new:
        assert not merkle.verify_consistency(old, new, roots[old - 1], bytes(32), proof)
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = bytes(32)
        assert not merkle.verify_consistency(old, new, roots[old - 1], roots[new - 1], bad)


def test_out_of_range_proofs_are_refused():
    _, read, roots = build(LEAVES)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b""), 8, 8, [], roots[7])
    assert not merkle.verify_consistency(0, 8, roots[0], roots[7], [])
    assert not merkle.verify_consistency(5, 4, roots[4], roots[3], [])
