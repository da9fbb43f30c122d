import os

import pytest
from datahub_world import FLEET, Ledger
from test_client import BASE, Clock, Transport

from harness.scratch import scratch_database
from origin.datahub import db, meters, synthetic
from origin.datahub.client import DataHubClient
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.datahub.importer import Importer
from origin.protocol.wallet import Wallet
from world import LEDGER, Key

POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """The DataHub service's database: a SQLite file, or a PostgreSQL database made and dropped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'datahub.db'}"
        return
    with scratch_database(POSTGRES, "origin_test") as url:
        yield url


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
    clock = Clock()
    fake = Transport(create_fake_app(meters=FLEET, clock=clock, rate_limits=False))
    datahub = DataHubClient(BASE, REFRESH_TOKEN, request=fake, sleep=clock.sleep, clock=clock)

    def importer(**kw):
        return Importer(engine, datahub, "http://ledger", LEDGER, issuer.secret, post=ledger.post,
                        sleep=lambda s: None, transactions_per_batch=40, **kw)  # fmt: skip

    yield importer, ledger, engine, owners, fake
    ledger.node.stop()
    ledger.node.store.close()
    engine.dispose()
