"""Bearer tokens for a service's API, and the one small interface its endpoints depend on,
`Authenticator`, so that the OAuth2 authorization server can replace the token table without
touching them.

A token table keeps SHA-256 digests only: a token is shown once, when it is made, and a stolen
database gives none away. A presented token is hashed and looked up by its digest, then
compared in constant time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import Engine

SUBJECT_LENGTH_MAX = 200


@dataclass(frozen=True)
class Principal:
    subject: str  # whose token it is: an owner's or an account's id, or the operator's name
    role: str  # what the service lets that role do
    # What an OAuth access token lets its holder do; None for the service's own API token,
    # which may do all its role may.
    scopes: frozenset[str] | None = None


class Authenticator(Protocol):
    def authenticate(self, bearer_token: str) -> Principal | None: ...


def token_table(metadata: MetaData) -> Table:
    return Table(
        "api_tokens", metadata,
        Column("hash", String(64), primary_key=True),  # SHA-256 of the token: the token is never stored
        Column("subject", String(SUBJECT_LENGTH_MAX), nullable=False),
        Column("role", String(10), nullable=False),
        Column("label", String(SUBJECT_LENGTH_MAX), nullable=False),
        Column("created_s", BigInteger, nullable=False),
    )  # fmt: skip


def digest(token: str) -> str:
    """What the table keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenTable:
    """Bearer tokens in a service's database, by their SHA-256 digest."""

    def __init__(self, engine: Engine, table: Table, roles: tuple[str, ...]):
        self.engine, self.table, self.roles = engine, table, roles

    def add(self, subject: str, role: str, label: str, now_s: int) -> str:
        """A new token for `subject` in `role`: returned once, stored as its digest only."""
        if role not in self.roles:
            raise ValueError(f"a token's role is one of {', '.join(self.roles)}, not {role!r}")
        if not 0 < len(subject) <= SUBJECT_LENGTH_MAX:
            raise ValueError(f"a subject is 1 to {SUBJECT_LENGTH_MAX} characters")
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(self.table).values(hash=digest(token), subject=subject, role=role,
                                                   label=label[:SUBJECT_LENGTH_MAX], created_s=now_s))  # fmt: skip
        return token

    def listed(self) -> list[dict[str, str | int]]:
        """Every token's digest prefix (its name), subject, role, label and age; never a token."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.table).order_by(self.table.c.created_s)).mappings().fetchall()
        return [{"id": r["hash"][:12], "subject": r["subject"], "role": r["role"], "label": r["label"],
                 "created_s": r["created_s"]} for r in rows]  # fmt: skip

    def revoke(self, token_id: str) -> int:
        """Revoke the tokens whose digest starts with `token_id` (12 hex characters at least)."""
        if len(token_id) < 12 or any(c not in "0123456789abcdef" for c in token_id):
            raise ValueError("a token id is the 12 hex characters `token list` shows")
        with self.engine.begin() as conn:
            return int(conn.execute(delete(self.table).where(self.table.c.hash.startswith(token_id))).rowcount)

    def authenticate(self, bearer_token: str) -> Principal | None:
        presented = digest(bearer_token)
        with self.engine.connect() as conn:
            row = conn.execute(select(self.table).where(self.table.c.hash == presented)).mappings().first()
        if row is None or not hmac.compare_digest(row["hash"], presented):
            return None
        return Principal(row["subject"], row["role"])
