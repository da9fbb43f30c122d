"""Who a request's bearer token names at a service, and the one small interface its endpoints
depend on, `Authenticator`: the authorization server's access tokens, checked offline
(`origin.bearer`), make a `Principal`. Also the digest under which the authorization server keeps
its secrets (refresh tokens, client secrets, reset links): a stolen database gives none away."""

import hashlib
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Principal:
    subject: str  # whose token it is: an owner's or an account's id, or the operator's user id
    role: str  # what the service lets that role do
    scopes: frozenset[str]  # what the access token lets its holder do
    # The access token itself, which a service forwards to another it calls for its holder.
    token: str = field(default="", repr=False, compare=False)


class Authenticator(Protocol):
    def authenticate(self, bearer_token: str) -> Principal | None: ...


def digest(token: str) -> str:
    """What is kept of a secret: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()
