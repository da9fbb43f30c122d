"""The C2SP tlog-tiles read API over the log's stored tree nodes: tile paths, hash tiles and
entry bundles, so that transparency-log tooling can mirror the log.

A hash tile at level L, index N holds the hashes of the tree's nodes at level 8L with indices
256N to 256N + W - 1: W = 256 for a full tile, 1 to 255 for a partial one (`.p/W`). An entry
bundle holds entries 256N to 256N + W - 1, each prefixed by its length as a big-endian uint16.
"""

import re
from collections.abc import Callable

from origin.protocol.limits import ENTRY_BYTES_MAX, TILE_INDEX_GROUPS_MAX, TILE_LEVEL_MAX

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_GROUP = re.compile(r"[0-9]{3}")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,2}")  # ASCII, no leading zeros; a level or width is below 1000


def _shown(text: str) -> str:
    """Input echoed in a refusal, cut short."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


class TileError(ValueError):
    """A tile path that is not one, or a tile the log does not have (yet)."""


def encode_index(n: int) -> str:
    """N as tlog-tiles path elements: groups of 3 digits, all but the last prefixed with x."""
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def tile_path(level: int | str, n: int, width: int = TILE_WIDTH) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(n)}{suffix}"


def parse_tile_path(path: str) -> tuple[str, int, int]:
    """(level, N, W) of `L/N[.p/W]` or `entries/N[.p/W]` (level "entries"); TileError otherwise."""
    head, _, rest = path.partition("/")
    if head == "entries":
        level = "entries"
    elif _NUMBER.fullmatch(head) and int(head) <= TILE_LEVEL_MAX:
        level = head
    else:
        raise TileError(f"no tile level {_shown(head)}")
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, w = rest.partition(".p/")
        if not _NUMBER.fullmatch(w) or not 1 <= int(w) < TILE_WIDTH:
            raise TileError(f"a partial tile's width is 1 to {TILE_WIDTH - 1}, not {_shown(w)}")
        width = int(w)
    groups = rest.split("/", TILE_INDEX_GROUPS_MAX)
    if len(groups) > TILE_INDEX_GROUPS_MAX:
        raise TileError(f"a tile index has at most {TILE_INDEX_GROUPS_MAX} groups of digits")
    if not all(g.startswith("x") and _GROUP.fullmatch(g[1:]) for g in groups[:-1]) or not _GROUP.fullmatch(groups[-1]):
        raise TileError(f"tile index {_shown(rest)} is not in x000/000 form")
    n = int("".join(g.lstrip("x") for g in groups))
    if encode_index(n) != rest:
        raise TileError(f"tile index {_shown(rest)} is not in its shortest form")
    return level, n, width


def hash_tile(read_node: Callable[[int, int], bytes], size: int, level: int, n: int, width: int) -> bytes:
    """The hash tile's bytes, if the tree of `size` leaves has those nodes complete."""
    available = (size >> (TILE_HEIGHT * level)) - n * TILE_WIDTH
    if width > available:
        raise TileError(f"the log has {max(available, 0)} of the {width} hashes of that tile")
    first = n * TILE_WIDTH
    return b"".join(read_node(TILE_HEIGHT * level, first + i) for i in range(width))


def entry_bundle(read_entry: Callable[[int], bytes | None], size: int, n: int, width: int) -> bytes:
    """The entry bundle's bytes; TileError if the log lacks them, or one is too long to frame."""
    first = n * TILE_WIDTH
    if first + width > size:
        raise TileError(f"the log has {max(size - first, 0)} of the {width} entries of that bundle")
    parts = []
    for seq in range(first, first + width):
        entry = read_entry(seq)
        assert entry is not None, f"entry {seq} is below the log's size but not stored"
        if len(entry) > ENTRY_BYTES_MAX:
            raise TileError(
                f"entry {seq} is {len(entry)} bytes, over the {ENTRY_BYTES_MAX} an entry bundle can "
                f"frame: fetch it from /v1/entries/{seq}"
            )
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)
