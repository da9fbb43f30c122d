import pytest
from accounts_world import AccountsWorld


@pytest.fixture
def world(tmp_path, databases):
    """A ledger, a DataHub service and an account service on the backend of `databases`."""
    made = AccountsWorld(tmp_path, databases(), databases())
    yield made
    made.close()


@pytest.fixture
def world_once(tmp_path, databases):
    """One world for every example of a property: a producer, a consumer, a trader, a day of
    GGOs issued; and the Wh issued."""
    made = AccountsWorld(tmp_path, databases(), databases())
    producer, consumer = made.producer_and_consumer()
    trader = made.open_account("Trader")
    issued = sum(g["amount_wh"] for g in made.get(producer, "/v1/ggos")["ggos"])
    yield made, [producer, consumer, trader], issued
    made.close()
