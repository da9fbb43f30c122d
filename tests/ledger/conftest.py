"""Ledger tests run against both storage backends (backends.py)."""

import pytest
from backends import Backend

from world import World, make_node


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.drop()


@pytest.fixture
def node_factory(backend):
    """Make started Nodes on new stores of the backend; stopped and closed after the test."""
    made = []

    def make(issuers=None, world: World | None = None, start=True, **settings):
        if issuers is None:
            issuers = [k.public.hex() for k in (world or World()).issuers]
        node = make_node(backend.new_store(), issuers, **settings)
        made.append(node)
        return node.start() if start else node

    yield make
    for node in made:
        node.stop()
        node.store.close()
