"""The authorization server as it runs: its folder's configuration, its database, users,
signing keys and the OAuth server.

The folder (mode 0700) holds, readable by the service's user only:
`auth.json`: database, issuer (the URL people and apps reach it at: it is the `iss` of every
  token, so it must not change);
`auth.db` (SQLite; or a PostgreSQL database): users, sessions, clients, codes, refresh tokens,
  consents, the outbox, and the signing keys.
"""

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from origin import database
from origin.auth import db
from origin.auth.keys import SigningKeys
from origin.auth.oauth import ACCESS_TOKEN_S, GRANT_TYPES, OPERATOR_SCOPES, REFRESH_TOKEN_S, SCOPES, Server, client_row
from origin.auth.users import FAILURE_WINDOW_S, OPERATOR, User, UserError, Users
from origin.folder import (
    DATABASE_SCHEMES,
    ConfigError,
    check_url,
    every,
    load_config,
    making,
    open_database,
    write_private,
)
from origin.tokens import digest

__all__ = ["ConfigError", "Service", "init", "load"]

CONFIG, DATABASE = "auth.json", "auth.db"
LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]")
PRUNE_EVERY_S = 3600


@dataclass
class Config:
    database: str
    issuer: str


def init(data: Path, *, issuer: str, database_url: str | None = None) -> dict[str, str]:
    """Create the server's folder and its first signing key, all of it or nothing."""
    data = Path(data)
    if (data / CONFIG).exists():
        raise ConfigError(f"{data} already holds an authorization server")
    issuer = check_url("--issuer", issuer)
    if not issuer.startswith(("https://", *LOOPBACK)):
        raise ConfigError("--issuer must be an https URL (or a loopback http one, on one machine)")
    if database_url is not None:
        check_url("--database", database_url, DATABASE_SCHEMES)
    with making(data, (CONFIG, DATABASE)):
        config = Config(database=database_url or f"sqlite:///{data.resolve() / DATABASE}", issuer=issuer)
        engine = open_database(config.database, db.connect)
        kid = SigningKeys(engine, time.time, ACCESS_TOKEN_S).rotate()
        engine.dispose()
        write_private(data / CONFIG, json.dumps(asdict(config), indent=2))
    return {"issuer": issuer, "signing_key": kid}


def load(data: Path) -> Config:
    return load_config(Path(data) / CONFIG, Config, "authorization server", "origin auth init")


def check_redirect_uri(uri: str) -> str:
    """A redirect URI a client may register: https, or http on the loopback (a native app); no
    fragment, no wildcard. It is matched exactly."""
    uri = uri.strip()
    if len(uri) > 2000 or "#" in uri or "*" in uri or any(c.isspace() for c in uri):
        raise UserError(f"{uri[:80]!r} is not a redirect URI (no fragment, no wildcard, no spaces)")
    if not (uri.startswith("https://") and len(uri) > 8) and not uri.startswith(tuple(p + ":" for p in LOOPBACK)) \
            and not uri.startswith(tuple(p + "/" for p in LOOPBACK)):  # fmt: skip
        raise UserError(f"{uri[:80]!r}: a redirect URI is https, or http on the loopback address (127.0.0.1)")
    return uri


class Service:
    def __init__(self, data: Path, clock: Callable[[], float] = time.time):
        self.data = Path(data)
        self.config = load(data)
        self.clock = clock
        self.engine = open_database(self.config.database, db.connect)
        self.users = Users(self.engine, clock)
        self.keys = SigningKeys(self.engine, clock, ACCESS_TOKEN_S)
        self.server = Server(self.engine, self.users, self.keys, self.config.issuer, clock)

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def app(self) -> Any:
        from origin.auth.app import make_app

        return make_app(self)

    def start(self) -> None:
        self._thread = threading.Thread(target=every, args=(self._stop, PRUNE_EVERY_S, self.prune), daemon=True,
                                        name="auth-prune")  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.engine.dispose()

    def prune(self) -> None:
        """Forget what has expired: sessions, codes, reset links, refresh tokens, revoked access
        tokens' ids, old sign-in failures."""
        now = int(self.clock())
        with database.writes(self.engine) as conn:
            conn.execute(delete(db.sessions).where(db.sessions.c.expires_s <= now))
            conn.execute(delete(db.codes).where(db.codes.c.expires_s <= now - REFRESH_TOKEN_S))
            conn.execute(delete(db.resets).where(db.resets.c.expires_s <= now))
            conn.execute(delete(db.refresh_tokens).where(db.refresh_tokens.c.expires_s <= now))
            conn.execute(delete(db.revoked_access).where(db.revoked_access.c.expires_s <= now))
            conn.execute(delete(db.failures).where(db.failures.c.first_s <= now - FAILURE_WINDOW_S))

    # -- clients ------------------------------------------------------------------------------

    def register_client(self, owner: User, name: str, redirect_uris: list[str], public: bool,
                        scope: list[str], grant_types: list[str]) -> dict[str, Any]:  # fmt: skip
        """A client of the owner's; its secret (a confidential client's) is shown this once."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise UserError("a client's name has 1 to 200 characters")
        unknown = [s for s in scope if s not in SCOPES]
        if unknown or not scope:
            raise UserError(f"scopes are some of {', '.join(SCOPES)}; not {', '.join(unknown) or 'none'}")
        if OPERATOR_SCOPES & set(scope) and owner.role != OPERATOR:
            raise UserError("only an operator registers a client with the operator scope", 403, "forbidden")
        if not grant_types or any(g not in GRANT_TYPES for g in grant_types):
            raise UserError(f"grant types are some of {', '.join(GRANT_TYPES)}")
        if public and "client_credentials" in grant_types:
            raise UserError("a public client has no secret, so no client credentials grant")
        uris = [check_redirect_uri(u) for u in redirect_uris if u.strip()]
        if "authorization_code" in grant_types and not uris:
            raise UserError("the authorization code grant needs at least one redirect URI")
        client_id = "cli_" + secrets.token_hex(8)
        secret = None if public else secrets.token_urlsafe(32)
        with database.writes(self.engine) as conn:
            conn.execute(insert(db.clients).values(
                id=client_id, secret_hash=digest(secret) if secret else None, owner=owner.id, name=name,
                redirect_uris=json.dumps(uris), grant_types=json.dumps(sorted(set(grant_types))),
                scope=" ".join(dict.fromkeys(scope)), created_s=int(self.clock())))  # fmt: skip
        return {"client_id": client_id, "client_secret": secret, "name": name, "redirect_uris": uris,
                "scope": " ".join(scope), "grant_types": sorted(set(grant_types)), "public": public}  # fmt: skip

    def clients_of(self, owner: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.clients).where(db.clients.c.owner == owner)
                                .order_by(db.clients.c.created_s)).fetchall()  # fmt: skip
        return [{"client_id": c.id, "name": c.name, "redirect_uris": c.redirect_uris, "scope": c.scope,
                 "grant_types": c.grant_types, "public": c.public}
                for c in map(client_row, rows)]  # fmt: skip

    def delete_client(self, owner: str, client_id: str) -> bool:
        with database.writes(self.engine) as conn:
            gone = conn.execute(delete(db.clients).where(db.clients.c.id == client_id, db.clients.c.owner == owner))
            if gone.rowcount:
                conn.execute(delete(db.consents).where(db.consents.c.client == client_id))
                conn.execute(db.refresh_tokens.update().where(db.refresh_tokens.c.client == client_id)
                             .values(revoked=True))  # fmt: skip
        return bool(gone.rowcount)

    # -- consents -----------------------------------------------------------------------------

    def consented(self, user: str, client: str, scope: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.consents.c.scope).where(db.consents.c.user == user,
                                                                 db.consents.c.client == client)).first()  # fmt: skip
        return row is not None and set(scope.split()) <= set(row.scope.split())

    def consent(self, user: str, client: str, scope: str) -> None:
        with database.writes(self.engine) as conn:
            row = conn.execute(select(db.consents.c.scope).where(db.consents.c.user == user,
                                                                 db.consents.c.client == client)).first()  # fmt: skip
            granted = " ".join(dict.fromkeys([*(row.scope.split() if row else []), *scope.split()]))
            conn.execute(delete(db.consents).where(db.consents.c.user == user, db.consents.c.client == client))
            conn.execute(insert(db.consents).values(user=user, client=client, scope=granted,
                                                    granted_s=int(self.clock())))  # fmt: skip

    def connected_apps(self, user: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.consents.c.client, db.consents.c.scope, db.consents.c.granted_s,
                                       db.clients.c.name).join(db.clients, db.clients.c.id == db.consents.c.client)
                                .where(db.consents.c.user == user).order_by(db.consents.c.granted_s)).fetchall()  # fmt: skip
        return [{"client_id": r.client, "name": r.name, "scope": r.scope, "granted_s": r.granted_s} for r in rows]

    def disconnect(self, user: str, client: str) -> None:
        """Forget the consent and revoke the refresh tokens the app holds for the user."""
        with database.writes(self.engine) as conn:
            conn.execute(delete(db.consents).where(db.consents.c.user == user, db.consents.c.client == client))
            conn.execute(db.refresh_tokens.update().where(db.refresh_tokens.c.user == user,
                                                          db.refresh_tokens.c.client == client).values(revoked=True))  # fmt: skip
