import contextlib
import os

import pytest
from datahub_world import ImporterWorld

from harness.scratch import scratch_database

POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request, tmp_path):
    """Makes the DataHub service's databases: SQLite files, or PostgreSQL databases made and
    dropped after the test."""
    with contextlib.ExitStack() as stack:
        made = []

        def make() -> str:
            made.append(None)
            if request.param == "sqlite":
                return f"sqlite:///{tmp_path / f'datahub-{len(made)}.db'}"
            return stack.enter_context(scratch_database(POSTGRES, "origin_test"))

        yield make


@pytest.fixture
def database_url(databases):
    return databases()


@pytest.fixture
def make_world(tmp_path, databases):
    """Worlds of a ledger (of the settings given), the fake DataHub and the onboarded fleet,
    each on a database of its own."""
    made = []

    def make(**settings) -> ImporterWorld:
        world = ImporterWorld(tmp_path / f"ledger-{len(made)}.db", databases(), **settings)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


@pytest.fixture
def setup(make_world):
    world = make_world()
    return world.importer, world.ledger, world.engine, world.owners, world.fake
