import os
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from harness import LEDGER, Key, make_node
from test_client import Transport

from origin.datahub import db, meters, synthetic
from origin.datahub.client import DataHubClient
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.datahub.importer import Importer
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.protocol.canonical import parse
from origin.protocol.times import parse_time
from origin.protocol.wallet import Wallet

POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """The DataHub service's database: a SQLite file, or a PostgreSQL database made and dropped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'datahub.db'}"
        return
    name = f"origin_test_{uuid.uuid4().hex}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BEGIN, END = parse_time("2025-10-25T22:00:00Z"), parse_time("2025-10-26T23:00:00Z")  # a 25-hour day
FLEET = synthetic.fleet(8)


class Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


class Ledger:
    """A real ledger node, reached as the importer reaches it: POST over HTTP."""

    def __init__(self, path, issuer: Key):
        self.node = make_node(SQLiteStore(path), [issuer.public.hex()])
        self.node.start()
        self.client = TestClient(create_app(self.node))
        self.kill_before, self.kill_after, self.posts = None, None, 0

    def post(self, method, url, body=None, timeout=None, headers=None):
        self.posts += 1
        if self.posts == self.kill_before:
            raise Kill()
        r = self.client.post(url.removeprefix("http://ledger"), content=body)
        if self.posts == self.kill_after:
            raise Kill()
        return r.status_code, r.content

    def publications(self) -> list[str]:
        """Every address a publish_measurement in the log wrote."""
        found = []
        for seq in range(1, self.node.store.size()):
            found += [t["payload"]["address"] for t in parse(self.node.store.entry(seq))["batch"]["transactions"]
                      if t["type"] == "publish_measurement"]  # fmt: skip
        return found


@pytest.fixture
def setup(tmp_path, database_url):
    issuer = Key()
    ledger = Ledger(tmp_path / "ledger.db", issuer)
    engine = db.connect(database_url)
    owners = {}
    for i, m in enumerate(FLEET):
        wallet = owners.setdefault(m.owner, Wallet.generate())
        tech, fuel = (synthetic.KINDS[m.kind][1], synthetic.KINDS[m.kind][2])
        meters.register(engine, gsrn=m.gsrn, type="PRODUCTION" if m.type_of_mp == "E18" else "CONSUMPTION",
                        sector=m.sector, owner=m.owner, tech_type=tech, fuel_type=fuel,
                        meter_xpub=wallet.meter_xpub(i))  # fmt: skip
    fake = Transport(create_fake_app(meters=FLEET, clock=lambda: 1e9))
    datahub = DataHubClient("http://fake", REFRESH_TOKEN, request=fake, sleep=lambda s: None)

    def importer(**kw):
        return Importer(engine, datahub, "http://ledger", LEDGER, issuer.secret, post=ledger.post,
                        sleep=lambda s: None, transactions_per_batch=40, **kw)  # fmt: skip

    yield importer, ledger, engine, owners, fake
    ledger.node.stop()
    ledger.node.store.close()
    engine.dispose()
