"""The account service as it runs: its folder's configuration, its key-encryption key, the
inventory follower, the operations it drives and the webhooks it sends.

The folder (mode 0700) holds, readable by the service's user only:
`accounts.json`: database, ledger_url, datahub_url (the DataHub service's API), follow_every_s,
  allow_private (may webhooks and receivers' notify URLs be private addresses), kek_file;
`accounts.db` (SQLite; or a PostgreSQL database): accounts with their sealed seeds, tokens as
  digests, meters, the inventory, operations.
The key-encryption key is a file the operator gives (`--kek`), or the environment variable
ORIGIN_ACCOUNTS_KEK; `init` makes one in the folder when given neither, which suits one
laptop: in production keep it apart from the database (another disk, a secret store, a KMS).
"""

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import Connection

from origin.accounts import custody, db, meters
from origin.accounts.automation import Agreements, Automation
from origin.accounts.custody import CustodyError, LocalKek
from origin.accounts.inventory import Event, Inventory
from origin.accounts.ledger import LedgerAlarm, LedgerClient, LedgerUnavailable
from origin.accounts.operations import Operations
from origin.bearer import JwksAuthenticator
from origin.client import http
from origin.folder import (
    DATABASE_SCHEMES,
    ConfigError,
    check_url,
    load_config,
    making,
    open_database,
    rewrite_private,
    write_private,
)
from origin.tokens import Principal
from origin.webhooks import Webhooks, refused_destination

__all__ = ["ConfigError", "Service", "init", "load", "load_kek", "set_kek_file"]

log = logging.getLogger("origin.accounts")
CONFIG, DATABASE, KEK_FILE = "accounts.json", "accounts.db", "kek.hex"
OPERATOR, OWNER = "operator", "owner"
AUDIENCE = "origin-accounts"  # this service's name in the `aud` of the access tokens it takes
EVENTS = (
    "ggo.received",
    "ggo.issued",
    "operation.completed",
    "agreement.proposed",
    "agreement.accepted",
    "automation.failed",
)
WAKE_GAP_S = 0.25
Fetch = Callable[..., tuple[int, bytes]]


@dataclass
class Config:
    database: str
    ledger_url: str
    datahub_url: str
    auth_issuer: str  # the authorization server whose access tokens the API takes
    follow_every_s: float = 2.0
    allow_private: bool = False  # may webhooks and notify URLs be loopback, link-local or private addresses
    kek_file: str | None = None


def principal(claims: dict[str, Any]) -> Principal | None:
    """Whom an access token names here: the issuing body's operator (role and scope both), or
    the account its user has; None for a user with no account at this service."""
    scopes = frozenset(str(claims.get("scope", "")).split())
    if claims.get("role") == OPERATOR and OPERATOR in scopes:
        return Principal(str(claims["sub"]), OPERATOR, scopes)
    account = claims.get("account")
    return Principal(str(account), OWNER, scopes) if isinstance(account, str) and account else None


def hooks() -> Webhooks:
    return Webhooks(db.webhooks, db.deliveries, EVENTS)


def init(data: Path, *, ledger_url: str, datahub_url: str, auth_issuer: str, database: str | None = None,
         kek: Path | None = None) -> dict[str, str]:  # fmt: skip
    """Create the service's folder, all of it or nothing; where its key-encryption key is."""
    data = Path(data)
    if (data / CONFIG).exists():
        raise ConfigError(f"{data} already holds an account service")
    check_url("--ledger-url", ledger_url)
    check_url("--datahub-url", datahub_url)
    auth_issuer = check_url("--auth-issuer", auth_issuer)
    if database is not None:
        check_url("--database", database, DATABASE_SCHEMES)
    with making(data, (CONFIG, DATABASE, KEK_FILE)):
        kek_file = str(kek.resolve()) if kek is not None else None
        if kek is not None:
            LocalKek.load(kek)
        elif custody.KEK_ENV not in os.environ:
            write_private(data / KEK_FILE, LocalKek.generate_hex() + "\n")
            kek_file = str((data / KEK_FILE).resolve())
        config = Config(database=database or f"sqlite:///{data.resolve() / DATABASE}", ledger_url=ledger_url,
                        datahub_url=datahub_url, kek_file=kek_file, auth_issuer=auth_issuer)  # fmt: skip
        open_database(config.database, db.connect).dispose()
        write_private(data / CONFIG, json.dumps(asdict(config), indent=2))
        return {"kek_file": kek_file or f"${custody.KEK_ENV}"}


def load(data: Path) -> Config:
    return load_config(Path(data) / CONFIG, Config, "account service", "origin accounts init")


def set_kek_file(data: Path, kek: Path) -> None:
    """Name a new KEK file in the configuration (after rewrap-keys)."""
    config = load(data)
    config.kek_file = str(Path(kek).resolve())
    path = Path(data) / CONFIG
    rewrite_private(path, json.dumps(asdict(config), indent=2))


def load_kek(config: Config, kek: Path | None) -> LocalKek:
    """The KEK from --kek, else ORIGIN_ACCOUNTS_KEK, else the file the configuration names."""
    if kek is None and custody.KEK_ENV not in os.environ and config.kek_file:
        kek = Path(config.kek_file)
    return LocalKek.load(kek)


class Service:
    def __init__(
        self, data: Path, kek: Path | None = None, fetch: Fetch = http, clock: Callable[[], float] = time.time
    ):
        self.data = Path(data)
        self.config = load(self.data)
        try:
            self.kek = load_kek(self.config, kek)
        except CustodyError as exc:
            raise ConfigError(str(exc)) from None
        self.engine = open_database(self.config.database, db.connect)
        self._check_kek()
        self.fetch, self.clock = fetch, clock
        self.verifier = JwksAuthenticator(self.config.auth_issuer, AUDIENCE,
                                          lambda url: json.loads(fetch("GET", url)[1]), principal)  # fmt: skip
        self.hooks = hooks()
        self.ledger = LedgerClient(self.config.ledger_url, fetch)
        self.inventory = Inventory(self.engine, self.ledger, self.record)
        self.operations = Operations(
            self.engine, self.kek, self.ledger, self.inventory, self.notify, self.record, clock
        )
        self.agreements = Agreements(self.engine, self.record, clock)
        self.automation = Automation(self.engine, self.operations, self.record, clock)
        self.meters = meters.Meters(self.engine, self.kek, self.config.datahub_url, fetch, self.inventory)
        self._stop, self._wake, self._woken = threading.Event(), threading.Event(), 0.0

    def wake(self) -> None:
        """Follow the log now, not at the next period (a sender said it sent something). The
        notification is public: however many come, the follower reads the log at most every
        WAKE_GAP_S."""
        now = time.monotonic()
        if now - self._woken >= WAKE_GAP_S:
            self._woken = now
            self._wake.set()

    def _check_kek(self) -> None:
        """Refuse a wrong KEK before anything else: every account must open under it."""
        with self.engine.connect() as conn:
            ids = {r.kek_id for r in conn.execute(select(db.accounts.c.kek_id).distinct())}
        wrong = ids - {self.kek.key_id}
        if wrong:
            raise ConfigError(f"the accounts are sealed under key-encryption key {', '.join(sorted(wrong))}, and the "
                              f"one given is {self.kek.key_id}: give the KEK they were made with (or rewrap-keys)")  # fmt: skip

    def record(self, conn: Connection, events: list[Event]) -> None:
        """Events into the webhooks' outbox, in the caller's transaction."""
        now_s = int(self.clock())
        by_name: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for account, name, payload in events:
            by_name.setdefault(name, []).append((account, payload))
        for name, items in by_name.items():
            self.hooks.enqueue(conn, name, items, now_s)

    def notify(self, url: str, payload: dict[str, Any]) -> None:
        """Tell an external receiver a GGO was sent: best effort, it finds it on the ledger anyway."""
        why = refused_destination(url, self.config.allow_private)
        if why:
            log.warning("not notifying %s: %s", url, why)
            return
        try:
            self.fetch("POST", url, json.dumps(payload).encode(), timeout=10.0, follow_redirects=False)
        except (OSError, ValueError) as exc:
            log.warning("notifying %s failed: %s", url, exc)

    def follow(self, progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        return self.inventory.follow(progress=progress)

    def tick(self, now_s: int) -> None:
        """The background work of one period: follow the log, drive pending operations, route
        what arrived for accounts with automation on (again at once while a backlog lasts)."""
        try:
            self.inventory.follow()
            self.operations.resume()
            if self.automation.run_due():
                self._wake.set()
        except (LedgerUnavailable, LedgerAlarm) as exc:
            log.warning("%s", exc)

    def deliver_webhooks(self, now_s: int) -> None:
        self.hooks.deliver_due(self.engine, now_s, post=self.fetch, allow_private=self.config.allow_private)

    def app(self) -> FastAPI:
        from origin.accounts.api import create_accounts_app

        return create_accounts_app(self)

    def start(self) -> "Service":
        threading.Thread(
            target=self._every, args=(self.config.follow_every_s, self.tick, self._wake), daemon=True
        ).start()
        threading.Thread(target=self._every, args=(2, self.deliver_webhooks), daemon=True).start()
        return self

    def _every(self, period_s: float, work: Callable[[int], None], wake: threading.Event | None = None) -> None:
        while not self._stop.is_set():
            try:
                work(int(self.clock()))
            except Exception:  # logged, and tried again next period: the work is idempotent
                log.exception("scheduled work failed")
            (wake or self._stop).wait(period_s)
            if wake is not None:
                wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.engine.dispose()
