import pytest
from harness import World, make_node


@pytest.fixture
def node_factory(tmp_path):
    """Make started Nodes on SQLite files in tmp_path; stopped and closed after the test."""
    made = []

    def make(issuers=None, world: World | None = None, start=True, **settings):
        if issuers is None:
            issuers = [k.public.hex() for k in (world or World()).issuers]
        node = make_node(tmp_path / f"ledger-{len(made)}.db", issuers, **settings)
        made.append(node)
        return node.start() if start else node

    yield make
    for node in made:
        node.stop()
        node.store.close()
