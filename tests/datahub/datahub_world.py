"""What the DataHub tests share: a period, a fleet of fake meters, a real ledger node reached
over HTTP, and a stand-in for SIGKILL."""

import threading

from fastapi.testclient import TestClient
from test_client import BASE, Clock, Transport

from harness.issuer import Issuer
from origin.bearer import JwksAuthenticator
from origin.datahub import auth, db, meters, synthetic
from origin.datahub.api import create_datahub_app
from origin.datahub.client import DataHubClient
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.datahub.importer import Importer
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.protocol.canonical import parse
from origin.protocol.times import parse_time
from origin.protocol.wallet import Wallet
from world import LEDGER, Key, make_node

BEGIN, END = parse_time("2025-10-25T22:00:00Z"), parse_time("2025-10-26T23:00:00Z")  # a 25-hour day
FLEET = synthetic.fleet(8)
SECTORS = frozenset({"DK1", "DK2"})


def hub_api(engine, issuer: Issuer, importer: Importer, **options) -> TestClient:
    """The service's API, taking the access tokens `issuer` signs, finding published measurements
    on the ledger of `importer`."""
    verifier = JwksAuthenticator(issuer.url, auth.AUDIENCE, lambda url: issuer.jwks(), auth.principal)
    return TestClient(create_datahub_app(engine, verifier, lambda: SECTORS, meters.SyncReport, importer.entry_of,
                                         **options))  # fmt: skip


class Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


class Ledger:
    """A real ledger node, reached as the importer reaches it: POST over HTTP."""

    def __init__(self, path, issuer: Key, **settings):
        self.node = make_node(SQLiteStore(path), [issuer.public.hex()], **settings)
        self.node.start()
        self.client = TestClient(create_app(self.node))
        self.kill_before, self.kill_after, self.posts = None, None, 0
        self.lock = threading.Lock()  # importers submit from several threads

    def post(self, method, url, body=None, timeout=None, headers=None):
        if method == "GET":
            r = self.client.get(url.removeprefix("http://ledger"))
            return r.status_code, r.content
        with self.lock:
            self.posts += 1
            n = self.posts
        if n == self.kill_before:
            raise Kill()
        r = self.client.post(url.removeprefix("http://ledger"), content=body)
        if n == self.kill_after:
            raise Kill()
        return r.status_code, r.content

    def publications(self) -> list[str]:
        """Every address a publish_measurement in the log wrote."""
        found = []
        for seq in range(1, self.node.store.size()):
            found += [t["payload"]["address"] for t in parse(self.node.store.entry(seq))["batch"]["transactions"]
                      if t["type"] == "publish_measurement"]  # fmt: skip
        return found


def onboard(engine, datahub, fleet, owners=None, xpubs: bool = True) -> dict:
    """What the people do: the service lists the authorisations' meters, the issuing body sets
    each production meter's technology, each owner gives their meter's xpub (unless an account
    service will)."""
    owners = {} if owners is None else owners
    meters.sync(engine, datahub)
    for i, m in enumerate(fleet):
        wallet = owners.setdefault(m.owner, Wallet.generate())
        _, tech, fuel, _ = synthetic.KINDS[m.kind]
        if tech:
            meters.set_technology(engine, m.gsrn, tech, fuel)
        if xpubs:
            meters.set_xpub(engine, m.gsrn, wallet.meter_xpub(i), m.owner)
    return owners


class ImporterWorld:
    """A real ledger node (of the settings given), the fake DataHub on an injected clock, the
    onboarded fleet, and importers of the service's database."""

    def __init__(self, ledger_path, database_url: str, xpubs: bool = True, **settings):
        self.issuer = Key()
        self.ledger = Ledger(ledger_path, self.issuer, **settings)
        self.engine = db.connect(database_url)
        self.clock = Clock()
        self.fake = Transport(create_fake_app(meters=FLEET, clock=self.clock, rate_limits=False))
        self.datahub = DataHubClient(BASE, REFRESH_TOKEN, request=self.fake, sleep=self.clock.sleep, clock=self.clock)
        self.owners = onboard(self.engine, self.datahub, FLEET, xpubs=xpubs)

    def importer(self, issuer_key: bytes | None = None, ledger_id: str = LEDGER, **kw) -> Importer:
        return Importer(self.engine, self.datahub, "http://ledger", ledger_id, issuer_key or self.issuer.secret,
                        post=self.ledger.post, sleep=lambda s: None, clock=self.clock, transactions_per_batch=40,
                        **kw)  # fmt: skip

    def close(self) -> None:
        self.ledger.node.stop()
        self.ledger.node.store.close()
        self.engine.dispose()
