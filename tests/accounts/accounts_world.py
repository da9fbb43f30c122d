"""What the account service's tests share: a real ledger node, a real DataHub service (its API,
its importer, the fake DataHub behind it) and the account service, each reached only over HTTP
through a router, as they reach one another in production."""

import contextlib
import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator

from datahub_world import BEGIN, END, FLEET, SECTORS, ImporterWorld
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from harness.issuer import Issuer
from harness.soak import serving
from origin.accounts import service as accounts_service
from origin.accounts.custody import LocalKek
from origin.bearer import JwksAuthenticator
from origin.datahub import auth, meters
from origin.datahub.api import create_datahub_app
from origin.ledger.api import create_app
from origin.protocol.times import parse_time

__all__ = ["BEGIN", "END", "FLEET", "AccountsWorld", "Kill", "Router", "collector", "served"]


class Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


class Router:
    """Routes http://HOST/... to the app mounted as HOST, one request at a time per app. Hosts
    in `down` do not answer; after a POST to a host in `kill_after_post`, the caller dies."""

    def __init__(self):
        self.apps: dict[str, tuple[TestClient, threading.Lock]] = {}
        self.down: set[str] = set()
        self.kill_after_post: set[str] = set()
        self.tamper = None  # (path, body) -> body: what a lying server would answer

    def mount(self, host: str, app) -> None:
        self.apps[host] = (TestClient(app), threading.Lock())

    def __call__(self, method, url, body=None, timeout=None, headers=None, follow_redirects=True):
        parts = urllib.parse.urlsplit(url)
        if parts.netloc in self.down or parts.netloc not in self.apps:
            raise ConnectionRefusedError(f"{parts.netloc} is down")
        client, lock = self.apps[parts.netloc]
        path = parts.path + ("?" + parts.query if parts.query else "")
        with lock:
            r = client.request(method, path, content=body, headers=headers or {"Content-Type": "application/json"})
        if method == "POST" and parts.netloc in self.kill_after_post:
            raise Kill()
        if self.tamper is not None:
            return r.status_code, self.tamper(path, r.content)
        return r.status_code, r.content


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """The app on a real port, for clients that speak HTTP themselves (the CLI); its URL."""
    with serving(app) as url:
        yield url


def collector(received: list) -> FastAPI:
    """A webhook subscriber that keeps every POST's JSON body."""
    app = FastAPI()

    @app.post("/in")
    async def take(request: Request) -> dict:
        received.append(json.loads(await request.body()))
        return {}

    return app


class AccountsWorld:
    def __init__(self, tmp_path, hub_database: str, accounts_database: str):
        self.tmp_path = tmp_path
        self.hub = ImporterWorld(tmp_path / "ledger.db", hub_database, xpubs=False)
        self.clock = self.hub.clock
        self.router = Router()
        self.issuer = Issuer("http://auth")  # the authorization server's keys: its JWKS at http://auth
        self.router.mount("auth", self.issuer.app())
        self.router.mount("ledger", create_app(self.hub.ledger.node))
        hub_verifier = JwksAuthenticator(self.issuer.url, auth.AUDIENCE, lambda url: json.loads(self.router("GET", url)[1]),
                                         auth.principal)  # fmt: skip
        self.router.mount("datahub", create_datahub_app(self.hub.engine, hub_verifier, lambda: SECTORS,
                                                        meters.SyncReport, self.hub.importer().entry_of))  # fmt: skip
        self.kek = tmp_path / "kek.hex"
        self.kek.write_text(LocalKek.generate_hex())
        self.folder = tmp_path / "accounts"
        accounts_service.init(self.folder, ledger_url="http://ledger", datahub_url="http://datahub",
                              database=accounts_database, kek=self.kek, auth_issuer=self.issuer.url)  # fmt: skip
        self.operator = self.issuer.operator()
        self.others: list[accounts_service.Service] = []
        self.service = self.start()

    def another_service(self, database: str, host: str = "accounts2") -> accounts_service.Service:
        """A second account service on the same ledger and DataHub service, mounted as `host`."""
        folder = self.tmp_path / host
        accounts_service.init(folder, ledger_url="http://ledger", datahub_url="http://datahub", database=database,
                              kek=self.kek, auth_issuer=self.issuer.url)  # fmt: skip
        other = accounts_service.Service(folder, kek=self.kek, fetch=self.router, clock=self.clock)
        self.router.mount(host, other.app())
        self.others.append(other)
        return other

    def start(self) -> accounts_service.Service:
        """The account service (again, after a stop: as after a restart)."""
        self.service = accounts_service.Service(self.folder, kek=self.kek, fetch=self.router, clock=self.clock)
        self.router.mount("accounts", self.service.app())
        self.api = TestClient(self.service.app())
        return self.service

    def open_account(self, name: str, customer: str | None = None, api: TestClient | None = None, **xpubs: str) -> dict:
        """An account its user opened, and an access token of theirs (acting for the DataHub
        owner `customer` too, when given)."""
        token = self.issuer.owner("acc_" + secrets.token_hex(8), customer)
        r = (api or self.api).post("/v1/account", json={"name": name, **xpubs}, headers=self.as_(token))
        assert r.status_code == 201, r.text
        return {**r.json(), "token": token}

    @staticmethod
    def as_(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    def add_meters(self, account: dict, customer: str) -> list[dict]:
        added = []
        for m in FLEET:
            if m.owner == customer:
                r = self.api.post("/v1/meters", json={"gsrn": m.gsrn}, headers=self.as_(account["token"]))
                assert r.status_code == 201, r.text
                added.append(r.json())
        return added

    def import_and_follow(self, begin: str | int = BEGIN, end: str | int = END) -> None:
        """The DataHub service imports and certifies; the account service follows the log."""
        b = parse_time(begin) if isinstance(begin, str) else begin
        e = parse_time(end) if isinstance(end, str) else end
        self.hub.importer().run(b, e)
        self.service.follow()

    def get(self, account: dict, path: str, **params):
        r = self.api.get(path, params=params, headers=self.as_(account["token"]))
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, account: dict, path: str, body: dict, key: str | None = None):
        headers = self.as_(account["token"])
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.api.post(path, json=body, headers=headers)

    def producer_and_consumer(self) -> tuple[dict, dict]:
        """Solar Ltd (customer-0's solar panels) and Household Co (customer-2's two homes), their
        meters added and a day imported, certified and followed."""
        producer = self.open_account("Solar Ltd", "customer-0")
        consumer = self.open_account("Household Co", "customer-2")
        self.add_meters(producer, "customer-0")
        self.add_meters(consumer, "customer-2")
        self.import_and_follow()
        return producer, consumer

    def close(self) -> None:
        for other in self.others:
            other.stop()
        self.service.stop()
        self.hub.close()
