"""Who is asking the DataHub service: the issuing body's operator, or the owner of some meters (by
the customer key, or CVR, of their DataHub authorisation), as an access token of the
authorization server names them."""

from typing import Any

from origin.tokens import Authenticator, Principal

ISSUER, OWNER = "issuer", "owner"
AUDIENCE = "origin-datahub"  # this service's name in the `aud` of the access tokens it takes

__all__ = ["AUDIENCE", "ISSUER", "OWNER", "Authenticator", "Principal", "may_see", "principal"]


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
