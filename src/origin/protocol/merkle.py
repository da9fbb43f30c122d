"""The RFC 9162 Merkle tree over log entries (PROTOCOL.md section 8).

The tree is kept as its complete subtrees: node (level, index) is the hash of leaves
[index * 2^level, (index + 1) * 2^level). They never change once complete, so a store keeps
them as rows (the same hashes tlog-tiles serves), and every root and proof below is built from
O(log n) of them through a `read(level, index)` function. `Frontier` is the right edge of the
tree that appending needs: one complete subtree per set bit of the size.
"""

import hashlib
from collections.abc import Callable, Sequence

Read = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(read: Read, begin: int, end: int) -> bytes:
    """MTH of leaves [begin, end), where begin is aligned as RFC 9162's recursion makes it."""
    n = end - begin
    if n & (n - 1) == 0 and begin % n == 0:
        level = n.bit_length() - 1
        return read(level, begin >> level)
    k = _split(n)
    return node_hash(subtree_hash(read, begin, begin + k), subtree_hash(read, begin + k, end))


def root(read: Read, size: int) -> bytes:
    if size == 0:
        return hashlib.sha256(b"").digest()
    return subtree_hash(read, 0, size)


def inclusion_proof(read: Read, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            proof.append(subtree_hash(read, begin + k, end))
            end = begin + k
        else:
            proof.append(subtree_hash(read, begin, begin + k))
            begin += k
    proof.reverse()
    return proof


def consistency_proof(read: Read, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 9162 section 2.1.4.1."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    proof: list[bytes] = []
    begin, end, complete = 0, new, True
    m = old
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            proof.append(subtree_hash(read, begin + k, end))
            end = begin + k
        else:
            proof.append(subtree_hash(read, begin, begin + k))
            begin += k
            m -= k
            complete = False
    if not complete:
        proof.append(subtree_hash(read, begin, end))
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class Frontier:
    """The right edge of a tree: the complete subtrees (level, hash) that appending extends."""

    def __init__(self, size: int = 0, edge: Sequence[tuple[int, bytes]] = ()):
        self.size = size
        self.edge = list(edge)

    @classmethod
    def load(cls, read: Read, size: int) -> "Frontier":
        edge, begin = [], 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                edge.append((level, read(level, begin >> level)))
                begin += 1 << level
        return cls(size, edge)

    def copy(self) -> "Frontier":
        return Frontier(self.size, self.edge)

    def append(self, entry: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; return the nodes (level, index, hash) it completes, the leaf first."""
        index = self.size
        h, level = leaf_hash(entry), 0
        completed = [(0, index, h)]
        while self.edge and self.edge[-1][0] == level:
            h = node_hash(self.edge.pop()[1], h)
            level += 1
            completed.append((level, index >> level, h))
        self.edge.append((level, h))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.edge:
            return hashlib.sha256(b"").digest()
        r = self.edge[-1][1]
        for _, h in reversed(self.edge[:-1]):
            r = node_hash(h, r)
        return r
