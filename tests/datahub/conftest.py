import pytest
from datahub_world import ImporterWorld


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
