"""Who is asking the DataHub service: the issuing body, or the owner of some meters (by the
customer key, or CVR, of their DataHub authorisation): by an access token of the authorization
server, or by one of the service's own tokens, kept in its database as digests (`origin.tokens`)."""

from typing import Any

from sqlalchemy.engine import Engine

from origin.datahub.db import api_tokens
from origin.tokens import Authenticator, Principal, TokenTable, digest

ISSUER, OWNER = "issuer", "owner"
AUDIENCE = "origin-datahub"  # this service's name in the `aud` of the access tokens it takes

__all__ = ["ISSUER", "OWNER", "Authenticator", "Principal", "digest", "may_see", "tokens"]


def tokens(engine: Engine) -> TokenTable:
    return TokenTable(engine, api_tokens, (ISSUER, OWNER))


def may_see(who: Principal, owner: str) -> bool:
    return who.role == ISSUER or who.subject == owner


def principal(claims: dict[str, Any]) -> Principal | None:
    """Whom an access token of the authorization server names here: the issuing body (its
    operator, with the operator scope), or the DataHub owner identity its user has; None for a
    user with none."""
    scopes = frozenset(str(claims.get("scope", "")).split())
    if claims.get("role") == "operator" and "operator" in scopes:
        return Principal(str(claims["sub"]), ISSUER, scopes)
    owner = claims.get("datahub_owner")
    return Principal(str(owner), OWNER, scopes) if isinstance(owner, str) and owner else None
