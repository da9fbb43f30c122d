import pytest
from auth_world import auth_world


@pytest.fixture
def world(tmp_path, database_url):
    """The authorization server on a real port, on the backend of `database_url`."""
    with auth_world(tmp_path, database_url) as made:
        yield made
