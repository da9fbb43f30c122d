import pytest
from accounts_world import AccountsWorld


@pytest.fixture
def world(tmp_path, databases):
    """A ledger, a DataHub service and an account service on the backend of `databases`."""
    made = AccountsWorld(tmp_path, databases(), databases())
    yield made
    made.close()
