import os

import pytest
from datahub_world import ImporterWorld

from harness.scratch import scratch_database

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
def make_world(tmp_path, database_url):
    """Worlds of a ledger (of the settings given), the fake DataHub and the onboarded fleet."""
    made = []

    def make(**settings) -> ImporterWorld:
        world = ImporterWorld(tmp_path / f"ledger-{len(made)}.db", database_url, **settings)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


@pytest.fixture
def setup(make_world):
    world = make_world()
    return world.importer, world.ledger, world.engine, world.owners, world.fake
