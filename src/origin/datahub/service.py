"""The DataHub service as it runs: its folder's configuration, its issuing key, the scheduled
importer and the webhook deliverer.

The folder (mode 0700) holds, readable by the service's user only:
`datahub.json`: database, ledger_url, ledger_id, datahub_url (ending in /thirdpartyapi),
  refresh_token (the DataHub's), import_every_s, import_window_s;
`issuer.key`: the issuing body's private key, hex; its public key is the one given to
  `origin ledger init --issuer`;
`datahub.db` (SQLite; or a PostgreSQL database): meters, measurements, import issues, webhooks;
`datahub-access-token`: the DataHub's data access token while it is valid (24 hours), shared by
  the service's processes so that they keep within the API's two token calls a minute.

The API takes the access tokens of the authorization server named by `auth_issuer`, checked
offline against its JWKS (`origin.bearer`); the service keeps no tokens of its own.

The import window: each run imports the last `import_window_s` seconds (3 days by default), so
readings the DataHub delivers late are still caught; readings of hours not yet ended are never
imported, and today's arrive tomorrow (the API answers up to yesterday).
"""

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from origin.bearer import JwksAuthenticator
from origin.client import http
from origin.datahub import db, webhooks
from origin.datahub import meters as meters_
from origin.datahub.api import create_datahub_app
from origin.datahub.auth import AUDIENCE, principal
from origin.datahub.client import DataHubClient
from origin.datahub.importer import Importer, LedgerRefusesIssuer, LedgerUnavailable
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
from origin.protocol import keys

__all__ = ["ConfigError", "Service", "init", "load", "write_private"]

log = logging.getLogger("origin.datahub")
CONFIG, ISSUER_KEY, DATABASE = "datahub.json", "issuer.key", "datahub.db"
ACCESS_TOKEN_FILE = "datahub-access-token"  # noqa: S105  # a file name
HOUR_S = 3600
IMPORT_WINDOW_S = 3 * 24 * HOUR_S


@dataclass
class Config:
    database: str
    ledger_url: str
    ledger_id: str
    datahub_url: str
    refresh_token: str
    auth_issuer: str  # the authorization server whose access tokens the API takes
    import_every_s: int = HOUR_S
    import_window_s: int = IMPORT_WINDOW_S  # each run imports this far back: late data is caught
    webhooks_allow_private: bool = False  # may subscribers be at loopback, link-local or private addresses


def init(data: Path, *, ledger_url: str, ledger_id: str, datahub_url: str, refresh_token: str, auth_issuer: str,
         database: str | None = None, issuer_key: bytes | None = None) -> dict[str, str]:  # fmt: skip
    """Create the service's folder, all of it or nothing; what an operator needs to know next."""
    data = Path(data)
    if (data / CONFIG).exists():
        raise ConfigError(f"{data} already holds a DataHub service")
    check_url("--ledger-url", ledger_url)
    check_url("--datahub-url", datahub_url)
    auth_issuer = check_url("--auth-issuer", auth_issuer)
    if database is not None:
        check_url("--database", database, DATABASE_SCHEMES)
    with making(data, (CONFIG, ISSUER_KEY, DATABASE)):
        return _fill(data, ledger_url, ledger_id, datahub_url, refresh_token, database, issuer_key, auth_issuer)


def _fill(data: Path, ledger_url: str, ledger_id: str, datahub_url: str, refresh_token: str, database: str | None,
          issuer_key: bytes | None, auth_issuer: str) -> dict[str, str]:  # fmt: skip
    issuer_key = issuer_key or keys.new_private_key()
    config = Config(database=database or f"sqlite:///{data.resolve() / DATABASE}", ledger_url=ledger_url,
                    ledger_id=ledger_id, datahub_url=datahub_url, refresh_token=refresh_token,
                    auth_issuer=auth_issuer)  # fmt: skip
    open_database(config.database, db.connect).dispose()
    write_private(data / ISSUER_KEY, issuer_key.hex() + "\n")
    write_private(data / CONFIG, json.dumps(asdict(config), indent=2))
    return {"issuer_public_key": keys.public_key(issuer_key).hex()}


def _adapt(raw: dict[str, Any]) -> dict[str, Any]:
    """An older folder's configuration, brought up to date."""
    raw.pop("tokens", None)  # its own API tokens: the service takes access tokens only
    if "lookback_s" in raw:
        raw["import_window_s"] = raw.pop("lookback_s")
    return raw


def load(data: Path) -> tuple[Config, bytes]:
    data = Path(data)
    config = load_config(data / CONFIG, Config, "DataHub service", "origin datahub init", _adapt)
    try:
        issuer_key = bytes.fromhex((data / ISSUER_KEY).read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{data / ISSUER_KEY} holds no issuing key: {exc}") from None
    return config, issuer_key


class Service:
    def __init__(self, data: Path):
        self.data = Path(data)
        self.config, issuer_key = load(self.data)
        self.engine = open_database(self.config.database, db.connect)
        self.verifier = JwksAuthenticator(self.config.auth_issuer, AUDIENCE,
                                          lambda url: json.loads(http("GET", url)[1]), principal)  # fmt: skip
        self.datahub = DataHubClient(
            self.config.datahub_url, self.config.refresh_token, token_file=self.data / ACCESS_TOKEN_FILE
        )
        self.importer = Importer(self.engine, self.datahub, self.config.ledger_url, self.config.ledger_id, issuer_key)
        self._sectors: frozenset[str] = frozenset()
        self._stop = threading.Event()

    def sectors(self) -> frozenset[str]:
        """The ledger's sectors (asked once it answers, then kept: a genesis never changes)."""
        if not self._sectors:
            try:
                self._sectors = self.importer.ledger_config().sectors
            except (LedgerUnavailable, LedgerRefusesIssuer) as exc:
                log.warning("the ledger's sectors are not known yet: %s", exc)
        return self._sectors

    def sync(self) -> meters_.SyncReport:
        return meters_.sync(self.engine, self.datahub)

    def import_recent(self, now_s: int) -> None:
        end = now_s - now_s % HOUR_S
        report = self.importer.run(end - self.config.import_window_s, end)
        for line in report.lines():
            log.info(line)

    def deliver_webhooks(self, now_s: int) -> None:
        webhooks.deliver_due(self.engine, now_s, allow_private=self.config.webhooks_allow_private)

    def app(self) -> FastAPI:
        """The service's API."""
        return create_datahub_app(self.engine, self.verifier, self.sectors, self.sync, self.importer.entry_of,
                                  self.config.webhooks_allow_private)  # fmt: skip

    def start(self) -> "Service":
        """The scheduled importer and the webhook deliverer, in the background."""
        for period_s, work in ((self.config.import_every_s, self.import_recent), (2, self.deliver_webhooks)):
            threading.Thread(target=every, args=(self._stop, period_s, lambda w=work: w(int(time.time()))),
                             daemon=True).start()  # fmt: skip
        return self

    def stop(self) -> None:
        self._stop.set()
        self.engine.dispose()
