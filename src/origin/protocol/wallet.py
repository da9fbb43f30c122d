"""The wallet conventions of PROTOCOL.md section 4, on BIP32 (the `bip32` library).

- meter key of an owner's i-th metering point: m/1'/i'; its xpub goes to the issuing body;
- measurement key: non-hardened child t = begin // 60 of the meter key;
- receive keys for incoming GGOs: m/0'/n, never reused.
"""

import os

from bip32 import BIP32, HARDENED_INDEX

from origin.protocol import addresses


def minute_index(begin_s: int) -> int:
    """Child index of the measurement key that starts at `begin_s`: minutes since the epoch."""
    index = begin_s // 60
    if not 0 <= index < HARDENED_INDEX:
        raise ValueError(f"begin {begin_s} is outside the range of measurement keys")
    return index


def measurement_public_key(meter_xpub: str, begin_s: int) -> bytes:
    """What the issuing body derives from a meter's xpub: the key of one measurement."""
    return bytes(BIP32.from_xpub(meter_xpub).get_pubkey_from_path([minute_index(begin_s)]))


def measurement_address(meter: str | BIP32, begin_s: int) -> str:
    """The address of the meter's measurement that begins at begin_s, from its xpub (or the
    parsed xpub, when deriving many)."""
    view = BIP32.from_xpub(meter) if isinstance(meter, str) else meter
    return addresses.address(addresses.MEASUREMENT, view.get_pubkey_from_path([minute_index(begin_s)]))


def receive_address(receive_xpub: str | BIP32, n: int) -> str:
    """The GGO address of receive key n, from the xpub of m/0' (or the parsed xpub)."""
    view = BIP32.from_xpub(receive_xpub) if isinstance(receive_xpub, str) else receive_xpub
    if not 0 <= n < HARDENED_INDEX:
        raise ValueError(f"receive index {n} is outside 0 to 2^31 - 1")
    return addresses.address(addresses.GGO, view.get_pubkey_from_path([n]))


class Wallet:
    """An owner's BIP32 master key and the keys the conventions derive from it."""

    def __init__(self, master: BIP32):
        self._master = master
        self._parents: dict[tuple[int, ...], BIP32] = {}  # the node above each key derived: one meter, or m/0'

    @classmethod
    def generate(cls) -> "Wallet":
        return cls(BIP32.from_seed(os.urandom(32)))

    @classmethod
    def from_seed(cls, seed: bytes) -> "Wallet":
        return cls(BIP32.from_seed(seed))

    @classmethod
    def from_xprv(cls, xprv: str) -> "Wallet":
        return cls(BIP32.from_xpriv(xprv))

    @property
    def xprv(self) -> str:
        return str(self._master.get_xpriv())

    @property
    def xpub(self) -> str:
        return str(self._master.get_xpub())

    @property
    def public_key(self) -> bytes:
        """The 33-byte public key of m."""
        return bytes(self._master.get_pubkey_from_path([]))

    def private_key(self, path: list[int]) -> bytes:
        """The key at `path`. The node above it is kept, so the next key of the same meter or of
        the receive branch costs one derivation, not the whole path's."""
        if len(path) < 2:
            return bytes(self._master.get_privkey_from_path(path))
        above = tuple(path[:-1])
        node = self._parents.get(above)
        if node is None:
            node = BIP32.from_xpriv(self._master.get_xpriv_from_path(list(above)))
            self._parents[above] = node
        return bytes(node.get_privkey_from_path(path[-1:]))

    def meter_xpub(self, meter: int) -> str:
        return str(self._master.get_xpub_from_path(_meter_path(meter)))

    def measurement_key(self, meter: int, begin_s: int) -> bytes:
        """Private key at m/1'/i'/t: signs the owner's transactions on that measurement."""
        return self.private_key([*_meter_path(meter), minute_index(begin_s)])

    def receive_xpub(self) -> str:
        """The xpub of m/0': whoever holds it derives the receive addresses m/0'/n, and nothing else."""
        return str(self._master.get_xpub_from_path([HARDENED_INDEX + 0]))

    def receive_key(self, n: int) -> bytes:
        """Private key at m/0'/n, the n-th receive key."""
        return self.private_key([HARDENED_INDEX + 0, n])


def _meter_path(meter: int) -> list[int]:
    return [HARDENED_INDEX + 1, HARDENED_INDEX + meter]
