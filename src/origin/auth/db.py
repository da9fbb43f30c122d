"""The authorization server's own database (SQLAlchemy Core): SQLite by default, PostgreSQL in
production. Passwords only as Argon2id hashes; sessions, reset links, client secrets,
authorization codes and refresh tokens only as SHA-256 digests (each is 32 random bytes, so a
digest gives nothing away), compared in constant time after the lookup."""

from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, String, Table, Text, false
from sqlalchemy.engine import Engine

from origin import database

metadata = MetaData()
ID = 40
DIGEST = 64
EMAIL = 254

users = Table(
    "users", metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(EMAIL), nullable=False, unique=True),  # lower-cased
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),  # Argon2id, in its PHC string form
    Column("role", String(10), nullable=False),  # user | operator
    Column("account", String(ID)),  # the user's account at the account service
    Column("datahub_owner", String(200)),  # the user's owner identity at the DataHub service
    Column("created_s", BigInteger, nullable=False),
    Column("password_s", BigInteger, nullable=False),  # when the password was last set
)  # fmt: skip

sessions = Table(
    "sessions", metadata,
    Column("hash", String(DIGEST), primary_key=True),
    Column("user", String(ID), nullable=False, index=True),
    Column("csrf", String(DIGEST), nullable=False),
    Column("auth_time", BigInteger, nullable=False),
    Column("expires_s", BigInteger, nullable=False),
)  # fmt: skip

failures = Table(  # failed sign-ins, by e-mail address and by client address
    "failures", metadata,
    Column("key", String(300), primary_key=True),
    Column("failed", Integer, nullable=False),
    Column("first_s", BigInteger, nullable=False),
)  # fmt: skip

resets = Table(
    "resets", metadata,
    Column("hash", String(DIGEST), primary_key=True),
    Column("user", String(ID), nullable=False),
    Column("expires_s", BigInteger, nullable=False),
    Column("used", Boolean, nullable=False, server_default=false()),
)  # fmt: skip

outbox = Table(  # the mails the server would send: the operator reads them (`origin auth outbox`)
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("to", String(EMAIL), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_s", BigInteger, nullable=False),
)  # fmt: skip

clients = Table(
    "clients", metadata,
    Column("id", String(ID), primary_key=True),
    Column("secret_hash", String(DIGEST)),  # None: a public client (a browser or native app)
    Column("owner", String(ID), nullable=False, index=True),  # the user who registered it
    Column("name", String(200), nullable=False),
    Column("redirect_uris", Text, nullable=False),  # JSON list, matched exactly
    Column("grant_types", Text, nullable=False),  # JSON list
    Column("scope", Text, nullable=False),  # the scopes it may ask for, space-separated
    Column("created_s", BigInteger, nullable=False),
)  # fmt: skip

codes = Table(
    "codes", metadata,
    Column("hash", String(DIGEST), primary_key=True),
    Column("client", String(ID), nullable=False),
    Column("user", String(ID), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", String(255)),
    Column("challenge", String(128), nullable=False),  # PKCE S256, required of every client
    Column("auth_time", BigInteger, nullable=False),
    Column("expires_s", BigInteger, nullable=False),
    Column("used_s", BigInteger),  # a code is used once; used again, what it gave is revoked
    Column("family", String(ID)),  # the refresh token family it started
    Column("jti", String(DIGEST)),  # the access token it gave
)  # fmt: skip

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("hash", String(DIGEST), primary_key=True),
    Column("family", String(ID), nullable=False, index=True),  # every rotation of one grant
    Column("client", String(ID), nullable=False),
    Column("user", String(ID), nullable=False, index=True),
    Column("scope", Text, nullable=False),
    Column("issued_s", BigInteger, nullable=False),
    Column("expires_s", BigInteger, nullable=False),
    Column("used_s", BigInteger),  # rotated: presented again, the whole family is revoked
    Column("revoked", Boolean, nullable=False, server_default=false()),
)  # fmt: skip

revoked_access = Table(  # access tokens revoked before they expire (introspection says inactive)
    "revoked_access", metadata,
    Column("jti", String(DIGEST), primary_key=True),
    Column("expires_s", BigInteger, nullable=False),
)  # fmt: skip

consents = Table(
    "consents", metadata,
    Column("user", String(ID), primary_key=True),
    Column("client", String(ID), primary_key=True),
    Column("scope", Text, nullable=False),
    Column("granted_s", BigInteger, nullable=False),
)  # fmt: skip

signing_keys = Table(
    "signing_keys", metadata,
    Column("kid", String(DIGEST), primary_key=True),
    Column("private_jwk", Text, nullable=False),
    Column("created_s", BigInteger, nullable=False),  # published since; signs from PUBLISH_AHEAD_S later
)  # fmt: skip

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(url: str) -> Engine:
    """An engine for sqlite:///PATH or postgresql://..., with the schema in place."""
    return database.connect(url, MIGRATIONS)
