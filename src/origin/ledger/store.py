"""The ledger's storage interface, on SQLite (embedded) and PostgreSQL.

All writes of a commit group go through `commit` in one database transaction: the log
entries, the records they wrote, the new tree nodes, the checkpoint and the committed batches'
outcomes. Either all of a group is durable or none of it is. A store whose database cannot be
reached raises `Unavailable`.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class Unavailable(Exception):
    """The database cannot be reached now (down, restarting, or the session was ended)."""


@dataclass(frozen=True)
class Outcome:
    id: str
    status: str  # PENDING, COMMITTED, INVALID or UNKNOWN
    seq: int | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.seq is not None:
            body["seq"] = self.seq
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class Group:
    """Everything one commit group writes."""

    entries: list[tuple[int, bytes]] = field(default_factory=list)  # (seq, canonical entry)
    # address -> (record, seq of the group's last write, seq of its first: `created` if new)
    records: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)  # (level, index, hash)
    checkpoint: tuple[int, str] | None = None  # (size, signed note)
    outcomes: list[Outcome] = field(default_factory=list)  # COMMITTED ones only


def group_statements(group: Group, mark: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The SQL a group writes, each statement with its rows, for a driver whose parameter mark
    is `mark`; the same on every backend."""

    def marks(n: int) -> str:
        return ", ".join([mark] * n)

    return [
        (f"INSERT INTO entries (seq, body) VALUES ({marks(2)})", group.entries),
        (
            f"INSERT INTO records (address, record, seq, created) VALUES ({marks(4)}) "
            "ON CONFLICT (address) DO UPDATE SET record = EXCLUDED.record, seq = EXCLUDED.seq",
            [(bytes.fromhex(a), r, s, c) for a, (r, s, c) in group.records.items()],
        ),
        (f"INSERT INTO nodes (level, idx, hash) VALUES ({marks(3)})", group.nodes),
        (f"INSERT INTO checkpoints (size, note) VALUES ({marks(2)})", [group.checkpoint] if group.checkpoint else []),
        (
            f"INSERT INTO batches (id, status, seq, error) VALUES ({marks(4)})",
            [(bytes.fromhex(o.id), o.status, o.seq, None) for o in group.outcomes],
        ),
    ]


class Store(ABC):
    @abstractmethod
    def acquire_writer(self, ledger: str) -> bool:
        """Try to become the ledger's one writer, from the calling thread; True if it is now.
        The role lasts until `release_writer` or until this process or its connection dies."""

    @abstractmethod
    def holds_writer(self) -> bool:
        """Whether the writer role still holds: its database session is alive."""

    @abstractmethod
    def release_writer(self) -> None:
        """Give the writer role up (after a failed commit, or when stopping)."""

    @abstractmethod
    def commit(self, group: Group) -> None:
        """Write a whole group durably in one transaction, from the writer's thread."""

    @abstractmethod
    def size(self) -> int:
        """Number of log entries."""

    @abstractmethod
    def entry(self, seq: int) -> bytes | None: ...

    @abstractmethod
    def entries(self, start: int = 0) -> Iterator[bytes]:
        """Log entries from `start` on, in order."""

    @abstractmethod
    def record(self, address: str) -> tuple[bytes, int] | None:
        """The canonical record at an address and the seq of the entry that last wrote it."""

    @abstractmethod
    def created(self, address: str) -> int | None:
        """The seq of the entry that first wrote the record at an address."""

    @abstractmethod
    def records_at(self, addresses: list[str]) -> dict[str, bytes]:
        """The canonical records at those of `addresses` that hold one, in one read."""

    @abstractmethod
    def records(self) -> Iterator[tuple[str, bytes, int, int]]:
        """Every (address, record, seq, created), in address order."""

    @abstractmethod
    def node(self, level: int, index: int) -> bytes:
        """A complete subtree hash of the log's Merkle tree."""

    @abstractmethod
    def checkpoint(self) -> str | None:
        """The latest signed checkpoint."""

    @abstractmethod
    def outcome(self, batch_id: str) -> Outcome | None: ...

    @abstractmethod
    def outcomes(self, batch_ids: list[str]) -> dict[str, Outcome]:
        """The stored outcomes of those of `batch_ids` that have one, in one read."""

    @abstractmethod
    def close(self) -> None: ...
