"""Who is asking. Every endpoint depends on one small interface, `Authenticator`, so that the
OAuth2 authorization server can replace the token table without touching them.

The token table keeps SHA-256 digests only: a token is shown once, when it is made
(`origin datahub token add`), and a stolen database gives none away. A presented token is
hashed and looked up by its digest, then compared in constant time.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from origin.datahub.db import api_tokens

ISSUER, OWNER = "issuer", "owner"
SUBJECT_LENGTH_MAX = 200


@dataclass(frozen=True)
class Principal:
    subject: str  # the owner's customer key (or CVR) on their meters, or the issuing body's name
    role: str  # ISSUER or OWNER

    def may_see(self, owner: str) -> bool:
        return self.role == ISSUER or self.subject == owner


class Authenticator(Protocol):
    def authenticate(self, bearer_token: str) -> Principal | None: ...


def digest(token: str) -> str:
    """What the table keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenTable:
    """Bearer tokens in the service's database, by their SHA-256 digest."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, subject: str, role: str, label: str, now_s: int) -> str:
        """A new token for `subject` in `role`: returned once, stored as its digest only."""
        if role not in (ISSUER, OWNER):
            raise ValueError(f"a token's role is {ISSUER} or {OWNER}, not {role!r}")
        if not 0 < len(subject) <= SUBJECT_LENGTH_MAX:
            raise ValueError(f"a subject is 1 to {SUBJECT_LENGTH_MAX} characters")
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(api_tokens).values(hash=digest(token), subject=subject, role=role,
                                                   label=label[:SUBJECT_LENGTH_MAX], created_s=now_s))  # fmt: skip
        return token

    def listed(self) -> list[dict[str, str | int]]:
        """Every token's digest prefix (its name), subject, role, label and age; never a token."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_s)).mappings().fetchall()
        return [{"id": r["hash"][:12], "subject": r["subject"], "role": r["role"], "label": r["label"],
                 "created_s": r["created_s"]} for r in rows]  # fmt: skip

    def revoke(self, token_id: str) -> int:
        """Revoke the tokens whose digest starts with `token_id` (12 hex characters at least)."""
        if len(token_id) < 12 or any(c not in "0123456789abcdef" for c in token_id):
            raise ValueError("a token id is the 12 hex characters `token list` shows")
        with self.engine.begin() as conn:
            return int(conn.execute(delete(api_tokens).where(api_tokens.c.hash.startswith(token_id))).rowcount)

    def authenticate(self, bearer_token: str) -> Principal | None:
        presented = digest(bearer_token)
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.hash == presented)).mappings().first()
        if row is None or not hmac.compare_digest(row["hash"], presented):
            return None
        return Principal(row["subject"], row["role"])
