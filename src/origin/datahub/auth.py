"""Who is asking the DataHub service: the issuing body, or the owner of some meters (by the
customer key, or CVR, of their DataHub authorisation). Tokens live in the service's database as
digests (`origin.tokens`), behind the `Authenticator` interface the OAuth2 server can take over."""

from sqlalchemy.engine import Engine

from origin.datahub.db import api_tokens
from origin.tokens import Authenticator, Principal, TokenTable, digest

ISSUER, OWNER = "issuer", "owner"

__all__ = ["ISSUER", "OWNER", "Authenticator", "Principal", "digest", "may_see", "tokens"]


def tokens(engine: Engine) -> TokenTable:
    return TokenTable(engine, api_tokens, (ISSUER, OWNER))


def may_see(who: Principal, owner: str) -> bool:
    return who.role == ISSUER or who.subject == owner
