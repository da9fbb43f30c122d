"""Who is asking. Every endpoint depends on one small interface, `Authenticator`, so that the
OAuth2 authorization server replaces the configured token table without touching them."""

from dataclasses import dataclass
from typing import Protocol

ISSUER, OWNER = "issuer", "owner"


@dataclass(frozen=True)
class Principal:
    subject: str  # the owner's name on their meters, or the issuing body's
    role: str  # ISSUER or OWNER

    def may_see(self, owner: str) -> bool:
        return self.role == ISSUER or self.subject == owner


class Authenticator(Protocol):
    def authenticate(self, bearer_token: str) -> Principal | None: ...


class TokenTable:
    """Bearer tokens from the service's configuration: {token: {"subject", "role"}}."""

    def __init__(self, tokens: dict[str, dict]):
        self._tokens = {t: Principal(p["subject"], p["role"]) for t, p in tokens.items()}
        if any(p.role not in (ISSUER, OWNER) for p in self._tokens.values()):
            raise ValueError(f"a token's role is {ISSUER} or {OWNER}")

    def authenticate(self, bearer_token: str) -> Principal | None:
        return self._tokens.get(bearer_token)
