"""The DataHub service as it runs: its folder's configuration, its issuing key, the scheduled
importer and the webhook deliverer.

`datahub.json` (owner-only: it holds the DataHub refresh token and the API tokens):
  database, ledger_url, ledger_id, datahub_url, refresh_token, tokens {token: {subject, role}},
  import_every_s, lookback_s.
`issuer.key` (owner-only): the issuing body's private key, hex; its public key is the one
given to `origin ledger init --issuer`.
"""

import json
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from origin.datahub import db, webhooks
from origin.datahub.auth import ISSUER, TokenTable
from origin.datahub.client import DataHubClient
from origin.datahub.importer import Importer
from origin.protocol import keys

log = logging.getLogger("origin.datahub")
CONFIG, ISSUER_KEY = "datahub.json", "issuer.key"
HOUR_S = 3600


class ConfigError(Exception):
    pass


@dataclass
class Config:
    database: str
    ledger_url: str
    ledger_id: str
    datahub_url: str
    refresh_token: str
    tokens: dict = field(default_factory=dict)
    import_every_s: int = HOUR_S
    lookback_s: int = 3 * 24 * HOUR_S  # each run imports this far back: late data is caught


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def init(data: Path, *, ledger_url, ledger_id, datahub_url, refresh_token, database=None, issuer_key=None) -> dict:
    """Create the service's folder; what an operator needs to know next."""
    data = Path(data)
    if (data / CONFIG).exists():
        raise ConfigError(f"{data} already holds a DataHub service")
    data.mkdir(parents=True, exist_ok=True)
    issuer_key = issuer_key or keys.new_private_key()
    token = secrets.token_urlsafe(24)
    config = Config(database=database or f"sqlite:///{data.resolve() / 'datahub.db'}", ledger_url=ledger_url,
                    ledger_id=ledger_id, datahub_url=datahub_url, refresh_token=refresh_token,
                    tokens={token: {"subject": "issuing-body", "role": ISSUER}})  # fmt: skip
    write_private(data / ISSUER_KEY, issuer_key.hex() + "\n")
    write_private(data / CONFIG, json.dumps(asdict(config), indent=2))
    db.connect(config.database).dispose()
    return {"issuer_public_key": keys.public_key(issuer_key).hex(), "issuer_api_token": token}


def load(data: Path) -> tuple[Config, bytes]:
    data = Path(data)
    try:
        config = Config(**json.loads((data / CONFIG).read_text()))
        issuer_key = bytes.fromhex((data / ISSUER_KEY).read_text().strip())
    except FileNotFoundError:
        raise ConfigError(f"{data} holds no DataHub service (run `origin datahub init` first)") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{data / CONFIG} is not a valid configuration: {exc}") from None
    return config, issuer_key


class Service:
    def __init__(self, data: Path):
        self.config, issuer_key = load(data)
        self.engine = db.connect(self.config.database)
        self.authenticator = TokenTable(self.config.tokens)
        datahub = DataHubClient(self.config.datahub_url, self.config.refresh_token)
        self.importer = Importer(self.engine, datahub, self.config.ledger_url, self.config.ledger_id, issuer_key)
        self._stop = threading.Event()

    def import_recent(self, now_s: int) -> None:
        end = now_s - now_s % HOUR_S
        report = self.importer.run(end - self.config.lookback_s, end)
        for line in report.lines():
            log.info(line)

    def start(self) -> "Service":
        """The scheduled importer and the webhook deliverer, in the background."""
        threading.Thread(target=self._every, args=(self.config.import_every_s, self.import_recent), daemon=True).start()
        threading.Thread(
            target=self._every, args=(2, lambda now: webhooks.deliver_due(self.engine, now)), daemon=True
        ).start()
        return self

    def _every(self, period_s: float, work) -> None:
        while not self._stop.is_set():
            try:
                work(int(time.time()))
            except Exception:  # logged, and tried again next period: the work is idempotent
                log.exception("scheduled work failed")
            self._stop.wait(period_s)

    def stop(self) -> None:
        self._stop.set()
        self.engine.dispose()
